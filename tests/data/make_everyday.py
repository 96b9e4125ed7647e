"""Reference values for tests/test_everyday_api.cpp, from PyTorch 1.13 (Debian's python3-torch).

    /usr/bin/python3 tests/data/make_everyday.py > tests/data/everyday.json
"""
import json

import torch

torch.set_printoptions(profile="default")
out = {}

# How a state dict prints.
lin = torch.nn.Linear(2, 2)
with torch.no_grad():
    lin.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    lin.bias.copy_(torch.tensor([0.5, -0.5]))
out["state_dict_repr"] = repr(lin.state_dict())
out["empty_state_dict_repr"] = repr(torch.nn.ReLU().state_dict())
out["loss_reprs"] = [repr(m) for m in (torch.nn.CrossEntropyLoss(), torch.nn.NLLLoss(), torch.nn.MSELoss(),
                                       torch.nn.L1Loss(), torch.nn.BCEWithLogitsLoss())]

logits = [[1.0, -0.5, 2.0], [0.3, 0.2, -1.0], [-0.7, 1.5, 0.1], [0.0, 0.4, 0.9]]
target = [2, 0, 1, 1]


def run(make_loss, inputs):
    x = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    loss = make_loss(x)
    loss.sum().backward()
    return {"value": loss.detach().flatten().tolist(), "grad": x.grad.flatten().tolist()}


t = torch.tensor(target)
losses = {}
losses["cross_entropy"] = run(
    lambda x: torch.nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64),
                                        label_smoothing=0.1)(x, t), None)
losses["nll"] = run(lambda x: torch.nn.NLLLoss(ignore_index=1, reduction="sum")(torch.log_softmax(x, 1), t), None)
y = torch.tensor([0.5, 0.5, -1.0, 2.0], dtype=torch.float64)
losses["mse_sum"] = run(lambda x: torch.nn.MSELoss(reduction="sum")(x[:, 0], y), None)
losses["l1_none"] = run(lambda x: torch.nn.L1Loss(reduction="none")(x[:, 0], y), None)
b = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
losses["bce_pos_weight"] = run(
    lambda x: torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([3.0], dtype=torch.float64))(x[:, 1], b), None)
out["losses"] = losses
out["logits"] = logits
out["target"] = target

# The optimizer's learning rate after set_lr: one SGD step with lr 0.5 instead of 0.1.
w = torch.tensor([1.0, -2.0], requires_grad=True)
opt = torch.optim.SGD([w], lr=0.1)
for g in opt.param_groups:
    g["lr"] = 0.5
(w * w).sum().backward()
opt.step()
out["sgd_after_set_lr"] = w.detach().tolist()

print(json.dumps(out, indent=1))
