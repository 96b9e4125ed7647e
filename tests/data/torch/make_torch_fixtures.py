"""Fixtures of tests/test_torch_format.cpp: files written by PyTorch 1.13's torch.save (not run by the tests).

Write them (from the repository's root, with Debian's python3-torch):

    /usr/bin/python3 tests/data/torch/make_torch_fixtures.py

Check the files ag wrote (test_torch_format writes them into build/tests/torch_export) load into
PyTorch (module state dicts with weights_only=True, which PyTorch 1.13 cannot use for optimizer
state dicts, not even its own: its restricted reader lacks the BINFLOAT opcode) and give ag's outputs:

    /usr/bin/python3 tests/data/torch/make_torch_fixtures.py --check build/tests/torch_export

Files (all in tests/data/torch/):
- model.pt: the state dict of Net (Embedding, Linear, LayerNorm, and a Linear tied to the embedding);
  half.pt / bfloat16.pt: the same in float16 / bfloat16; ints.pt: int32, int16, int8, uint8, bool,
  int64 and float64 tensors; views.pt: transposed, narrowed, stepped and expanded views of one storage.
  expected.json holds every tensor of these files (integers and bools as they are, floats as the bit
  patterns of their float32 or float64 values; float16 and bfloat16 as their exact float32 values), with its storage offset, strides and which storage it uses.
- sgd.pt, adam.pt, adamw_amsgrad.pt: optimizer state dicts after 3 steps on Linear(3, 2) (lin3_<opt>.pt,
  its weights then; lin4_<opt>.pt the weights after a 4th step; lin_data.pt the batch x, y).
- sent_batches.pt, sent_model_10.pt, sent_adam_10.pt, sent_model_20.pt: the sentiment model of
  examples/torch_sentiment.py trained 10 steps with Adam (model, optimizer), then 10 more (model).
- sentiment_model.pt, sentiment_opt.pt: what `python3 examples/torch_sentiment.py` writes, for
  tests/test_examples.cpp (sentiment predict / train --resume with PyTorch's files).
- pickled_model.pt (torch.save(model)) and legacy.pt (_use_new_zipfile_serialization=False): refused.
"""
import collections
import json
import os
import sys

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "examples"))
from torch_sentiment import SentimentModel, make_batch, train_and_save  # noqa: E402


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(5, 4, padding_idx=0)
        self.fc = nn.Linear(4, 3)
        self.norm = nn.LayerNorm(3)
        self.dec = nn.Linear(4, 5, bias=False)
        self.dec.weight = self.emb.weight  # tied


def describe(sd):
    out, storages = {}, {}
    for name, t in sd.items():
        key = storages.setdefault(t.storage().data_ptr(), len(storages))
        values = t.float() if t.dtype in (torch.float16, torch.bfloat16) else t
        if values.dtype in (torch.float32, torch.float64):  # as bit patterns: inf, nan and -0.0 exactly
            values = values.contiguous().view(torch.int32 if values.dtype == torch.float32 else torch.int64)
        out[name] = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
                     "stride": list(t.stride()), "offset": t.storage_offset(), "storage": key,
                     "values": values.flatten().tolist()}
    return out


def path(name):
    return os.path.join(HERE, name)


def make():
    torch.manual_seed(0)
    expected = {}
    net = Net()
    sd = net.state_dict()
    torch.save(sd, path("model.pt"))
    expected["model.pt"] = describe(sd)
    for dtype, name in ((torch.float16, "half.pt"), (torch.bfloat16, "bfloat16.pt")):
        low = collections.OrderedDict((k, v.to(dtype)) for k, v in sd.items())
        low["tiny"] = torch.tensor([6e-8, -3e-5, 65504.0, float("inf"), 0.0, -0.0]).to(dtype)
        torch.save(low, path(name))
        expected[name] = describe(low)
    ints = collections.OrderedDict(
        i32=torch.tensor([-2**31, 2**31 - 1, 7], dtype=torch.int32),
        i16=torch.tensor([[-32768, 32767], [1, -1]], dtype=torch.int16),
        i8=torch.tensor([-128, 127, 0], dtype=torch.int8),
        u8=torch.tensor([0, 255, 9], dtype=torch.uint8),
        mask=torch.tensor([[True, False, True]]),
        i64=torch.tensor([-2**63, 2**63 - 1], dtype=torch.int64),
        f64=torch.tensor([0.1, -1e300, 5e-324], dtype=torch.float64),
        scalar=torch.tensor(3.5))
    torch.save(ints, path("ints.pt"))
    expected["ints.pt"] = describe(ints)
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    views = collections.OrderedDict(base=base, t=base.t(), rows=base[1:3], cols=base[:, 1::2],
                                    row=base[2], expanded=base[0, :1].expand(3, 2))
    torch.save(views, path("views.pt"))
    expected["views.pt"] = describe(views)

    # Optimizers: 3 steps on Linear(3, 2), then a 4th.
    torch.manual_seed(1)
    x, y = torch.randn(4, 3), torch.randn(4, 2)
    torch.save(collections.OrderedDict(x=x, y=y), path("lin_data.pt"))
    init = nn.Linear(3, 2).state_dict()
    makers = {
        "sgd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01, nesterov=False),
        "adam": lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1),
        "adamw_amsgrad": lambda p: torch.optim.AdamW(p, lr=0.02, betas=(0.85, 0.99), weight_decay=0.05, amsgrad=True),
    }
    for name, make_opt in makers.items():
        lin = nn.Linear(3, 2)
        lin.load_state_dict(init)
        opt = make_opt(lin.parameters())
        for step in range(4):
            if step == 3:
                torch.save(lin.state_dict(), path("lin3_" + name + ".pt"))
                torch.save(opt.state_dict(), path(name + ".pt"))
            opt.zero_grad()
            ((lin(x) - y) ** 2).mean().backward()
            opt.step()
        torch.save(lin.state_dict(), path("lin4_" + name + ".pt"))

    # The sentiment model: 10 steps, save, 10 more.
    torch.manual_seed(2)
    batches = [make_batch() for _ in range(20)]
    data = collections.OrderedDict()
    for k, (tokens, labels) in enumerate(batches):
        data["tokens.%d" % k], data["labels.%d" % k] = tokens, labels
    torch.save(data, path("sent_batches.pt"))
    model = SentimentModel(dim=8)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for k, (tokens, labels) in enumerate(batches):
        if k == 10:
            torch.save(model.state_dict(), path("sent_model_10.pt"))
            torch.save(opt.state_dict(), path("sent_adam_10.pt"))
        opt.zero_grad()
        nn.functional.cross_entropy(model(tokens), labels).backward()
        opt.step()
    torch.save(model.state_dict(), path("sent_model_20.pt"))

    train_and_save(path("sentiment_model.pt"), path("sentiment_opt.pt"))  # what the example's users run

    torch.save(net, path("pickled_model.pt"))
    torch.save(sd, path("legacy.pt"), _use_new_zipfile_serialization=False)
    with open(path("expected.json"), "w") as f:
        json.dump(expected, f, indent=None, separators=(",", ":"))
        f.write("\n")


def check(folder):
    """Loads what ag's save_torch wrote and compares PyTorch's forward with ag's."""
    data = torch.load(os.path.join(folder, "io.pt"), weights_only=True)
    sd = torch.load(os.path.join(folder, "net.pt"), weights_only=True)
    emb, fc, norm = nn.Embedding(5, 4, padding_idx=0), nn.Linear(4, 3), nn.LayerNorm(3)
    net = nn.ModuleDict(dict(emb=emb, fc=fc, norm=norm, dec=nn.Linear(4, 5, bias=False)))
    net.load_state_dict(sd, strict=True)
    out = norm(fc(emb(data["tokens"])))
    err = ((out - data["output"]).abs() / data["output"].abs().clamp_min(1e-6)).max().item()
    print("net.pt: forward matches ag's, max relative difference %.3g" % err)
    assert err <= 1e-6, err
    for name, make_opt in (("sgd", lambda p: torch.optim.SGD(p, lr=1.0, momentum=0.5)),
                           ("adam", lambda p: torch.optim.Adam(p)), ("adamw", lambda p: torch.optim.AdamW(p))):
        lin = nn.Linear(3, 2)
        lin.load_state_dict(torch.load(os.path.join(folder, "lin_" + name + ".pt"), weights_only=True))
        opt = make_opt(lin.parameters())
        # PyTorch 1.13's weights_only reader has no BINFLOAT opcode, so it refuses every optimizer
        # state dict (its own too); later versions read them.
        opt.load_state_dict(torch.load(os.path.join(folder, name + ".pt")))
        opt.zero_grad()
        ((lin(data["x"]) - data["y"]) ** 2).mean().backward()
        opt.step()
        want = data["after_" + name]
        err = ((lin.weight.detach() - want).abs().max() / want.abs().max()).item()
        print("%s.pt: PyTorch's next step matches ag's, max relative difference %.3g" % (name, err))
        assert err <= 1e-6, err
    print("all files written by ag load into PyTorch 1.13 (the state dicts with weights_only=True)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
    else:
        make()
