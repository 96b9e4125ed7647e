"""Provenance of rng_extra.json, data_golden.json and seed_article.json (not run by the tests).

Run once with Debian's PyTorch 1.13: /usr/bin/python3 make_rng.py   (in tests/data)

- rng_extra.json: more call sequences in rng.json's format ({"name", "seed", "calls": [{"call",
  "args", "out"}]}), each run right after torch.manual_seed(seed): the fused multiply-adds of the
  uniform and normal kernels (ranges other than [0, 1), means and stds other than 0 and 1), the
  float32 and float64 16-value normal blocks and their redone tails, the one-at-a-time normal path
  and its cache, randint ranges of 2^32 and more, randperm sizes, int64 random_(), bernoulli_ on
  every dtype, dropout with scales other than 2, more initialisers (fan_out, relu, conv shapes,
  padding_idx), generators of their own, and seeds beyond 32 bits.
- data_golden.json: torch.utils.data's orders: DataLoader passes (shuffled or not, with the
  default generator or one of its own, with dropout drawn between batches and randn after the
  epochs), RandomSampler with replacement and num_samples, random_split (lengths and fractions),
  DistributedSampler per rank and epoch, and pad_sequence.
- seed_article.json: what PyTorch prints for the README tour's snippets and the cells of
  examples/embedding_vs_linear, with the values it holds (compared by tests/test_seed_article.cpp).
"""
import itertools
import json
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, TensorDataset, random_split

DT = {torch.float32: "float32", torch.float64: "float64", torch.int64: "int64"}
TORCH_DT = {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64}


def T(t):
    t = t.detach().contiguous()
    return {"dtype": DT[t.dtype], "shape": list(t.shape), "data": t.flatten().tolist()}


def dtype(args, default="float32"):
    return TORCH_DT[args.get("dtype", default)]


def run(call, a):
    if call == "rand":
        return torch.rand(a["shape"], dtype=dtype(a))
    if call == "randn":
        return torch.randn(a["shape"], dtype=dtype(a))
    if call == "randint":
        return torch.randint(a["low"], a["high"], a["shape"], dtype=dtype(a, "int64"))
    if call == "randperm":
        return torch.randperm(a["n"])
    if call == "normal_":
        return torch.empty(a["shape"], dtype=dtype(a)).normal_(a["mean"], a["std"])
    if call == "uniform_":
        return torch.empty(a["shape"], dtype=dtype(a)).uniform_(a["from"], a["to"])
    if call == "bernoulli_":
        return torch.empty(a["shape"], dtype=dtype(a)).bernoulli_(a["p"])
    if call == "random_":
        return torch.empty(a["shape"], dtype=dtype(a, "int64")).random_()
    if call == "dropout":
        return F.dropout(torch.ones(a["shape"], dtype=dtype(a)), a["p"], training=True)
    if call == "rand_with_generator":
        return torch.rand(a["shape"], generator=torch.Generator().manual_seed(a["generator_seed"]))
    if call == "Linear":
        lin = nn.Linear(a["in"], a["out"], bias=a.get("bias", True))
        parts = [lin.weight.flatten()] + ([lin.bias] if lin.bias is not None else [])
        return torch.cat(parts)
    if call == "Embedding":
        return nn.Embedding(a["num"], a["dim"], padding_idx=a.get("padding_idx")).weight
    if call in ("kaiming_uniform_", "kaiming_normal_"):
        f = getattr(nn.init, call)
        return f(torch.empty(a["shape"]), a=a.get("a", 0), mode=a.get("mode", "fan_in"),
                 nonlinearity=a.get("nonlinearity", "leaky_relu"))
    if call in ("xavier_uniform_", "xavier_normal_"):
        return getattr(nn.init, call)(torch.empty(a["shape"]), gain=a.get("gain", 1.0))
    raise ValueError(call)


def sequence(name, seed, calls):
    torch.manual_seed(seed)
    out = []
    with torch.no_grad():
        for call, args in calls:
            out.append({"call": call, "args": args, "out": T(run(call, args))})
    return {"name": name, "seed": seed, "calls": out}


def rng_extra():
    c = []
    c.append(sequence("uniform_fma", 7, [
        ("uniform_", {"shape": [1000], "from": -1.7, "to": 3.3}),
        ("uniform_", {"shape": [500], "from": -1.7, "to": 3.3, "dtype": "float64"}),
        ("uniform_", {"shape": [5], "from": 2.0, "to": 2.0}),
        ("rand", {"shape": [3], "dtype": "float64"})]))
    c.append(sequence("normal_fma_block", 7, [
        ("normal_", {"shape": [1000], "mean": 2.0, "std": 0.5}),
        ("normal_", {"shape": [37], "mean": -1.0, "std": 0.3, "dtype": "float64"}),
        ("normal_", {"shape": [16], "mean": 0.0, "std": 1.0, "dtype": "float64"}),
        ("randn", {"shape": [33], "dtype": "float64"}),
        ("randn", {"shape": [1024]})]))
    c.append(sequence("normal_sizes", 12, [
        ("normal_", {"shape": [n], "mean": 0.5, "std": 2.0}) for n in (1, 15, 16, 17, 31, 32, 47, 48, 49)]))
    c.append(sequence("normal_sizes_float64", 12, [
        ("normal_", {"shape": [n], "mean": 0.5, "std": 2.0, "dtype": "float64"}) for n in (1, 15, 16, 17, 31, 49)]))
    c.append(sequence("normal_cache", 13, [
        ("randn", {"shape": [1]}),            # caches the second value of its pair
        ("rand", {"shape": [3]}),             # uniforms leave the cache alone
        ("randn", {"shape": [16]}),           # the block path neither reads nor fills it
        ("randn", {"shape": [1]}),            # the cached value
        ("randn", {"shape": [1], "dtype": "float64"}),
        ("normal_", {"shape": [3], "mean": 10.0, "std": 0.1}),
        ("randn", {"shape": [2, 3]})]))
    c.append(sequence("randint_wide", 14, [
        ("randint", {"low": 0, "high": 2**40, "shape": [10]}),
        ("randint", {"low": -2**62, "high": 2**62, "shape": [5]}),
        ("randint", {"low": -5, "high": 2**32 - 5, "shape": [4]}),
        ("randint", {"low": 0, "high": 2**32 - 1, "shape": [4]}),
        ("randint", {"low": 3, "high": 4, "shape": [3]}),
        ("randint", {"low": 0, "high": 10, "shape": [5], "dtype": "float64"}),
        ("randint", {"low": -7, "high": 7, "shape": [5], "dtype": "float32"})]))
    c.append(sequence("randperm_sizes", 15, [("randperm", {"n": n}) for n in (0, 2, 3, 100, 1000, 2000)]))
    c.append(sequence("random_full_range", 16, [
        ("random_", {"shape": []}),
        ("random_", {"shape": [5]}),
        ("random_", {"shape": [4], "dtype": "float32"}),
        ("random_", {"shape": [3], "dtype": "float64"})]))
    c.append(sequence("bernoulli_dropout_more", 17, [
        ("bernoulli_", {"shape": [30], "p": 0.5, "dtype": "float64"}),
        ("bernoulli_", {"shape": [10], "p": 0.9, "dtype": "int64"}),
        ("bernoulli_", {"shape": [5], "p": 0.0}),
        ("bernoulli_", {"shape": [5], "p": 1.0}),
        ("dropout", {"shape": [3, 7], "p": 0.3}),
        ("dropout", {"shape": [10], "p": 0.2, "dtype": "float64"}),
        ("dropout", {"shape": [1000], "p": 0.1}),
        ("dropout", {"shape": [4], "p": 1.0}),
        ("dropout", {"shape": [4], "p": 0.0}),
        ("rand", {"shape": [2]})]))
    c.append(sequence("init_more", 18, [
        ("Linear", {"in": 5, "out": 3, "bias": False}),
        ("Linear", {"in": 1, "out": 2}),
        ("Embedding", {"num": 6, "dim": 4, "padding_idx": 2}),
        ("Embedding", {"num": 5, "dim": 3, "padding_idx": -1}),
        ("kaiming_uniform_", {"shape": [4, 3, 2, 2], "a": 0.0, "mode": "fan_out", "nonlinearity": "relu"}),
        ("kaiming_normal_", {"shape": [8, 3, 3], "a": 0.2, "mode": "fan_in", "nonlinearity": "leaky_relu"}),
        ("kaiming_normal_", {"shape": [64, 32], "a": 0.0, "mode": "fan_out", "nonlinearity": "relu"}),
        ("xavier_uniform_", {"shape": [3, 5, 2], "gain": 1.4}),
        ("xavier_normal_", {"shape": [20, 30], "gain": 0.5}),
        ("xavier_normal_", {"shape": [2, 3]})]))
    c.append(sequence("generators_of_their_own", 19, [
        ("rand", {"shape": [2]}),
        ("rand_with_generator", {"shape": [3], "generator_seed": 5}),
        ("rand", {"shape": [2]}),                                       # the default stream went on untouched
        ("rand_with_generator", {"shape": [3], "generator_seed": 2**32 + 5})]))  # only the low 32 bits seed
    c.append(sequence("seed_beyond_32_bits", 2**32 + 5, [("rand", {"shape": [3]}), ("randn", {"shape": [2]})]))
    c.append(sequence("seed_all_ones", 2**64 - 1, [("rand", {"shape": [3]})]))   # torch.manual_seed(-1) too
    c.append(sequence("seed_zero", 0, [("randn", {"shape": [17]}), ("randperm", {"n": 20})]))
    return c


def loader_case(name, seed, n, batch_size, shuffle=True, drop_last=False, generator_seed=None, epochs=1,
                dropout=None):
    """Epochs of DataLoader(TensorDataset(arange(n))); `dropout` = (shape, p) drawn after each batch."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(generator_seed) if generator_seed is not None else None
    loader = DataLoader(TensorDataset(torch.arange(n)), batch_size=batch_size, shuffle=shuffle,
                        drop_last=drop_last, generator=g)
    passes, masks = [], []
    for _ in range(epochs):
        batches = []
        for (x,) in loader:
            batches.append(x.tolist())
            if dropout:
                masks.append(F.dropout(torch.ones(dropout[0]), dropout[1], training=True).flatten().tolist())
        passes.append(batches)
    after = torch.randn(3).tolist()
    return {"name": name, "kind": "loader", "seed": seed,
            "params": {"n": n, "batch_size": batch_size, "shuffle": shuffle, "drop_last": drop_last,
                       "generator_seed": generator_seed, "epochs": epochs,
                       "dropout": {"shape": dropout[0], "p": dropout[1]} if dropout else None},
            "passes": passes, "dropout_masks": masks, "randn_after": after, "len": len(loader)}


def sampler_case(name, seed, n, replacement, num_samples, generator_seed, passes):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(generator_seed) if generator_seed is not None else None
    s = RandomSampler(range(n), replacement=replacement, num_samples=num_samples, generator=g)
    out = [list(s) for _ in range(passes)]
    return {"name": name, "kind": "random_sampler", "seed": seed,
            "params": {"n": n, "replacement": replacement, "num_samples": num_samples,
                       "generator_seed": generator_seed, "passes": passes},
            "passes": out, "randn_after": torch.randn(3).tolist()}


def split_case(name, seed, n, lengths, generator_seed):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(generator_seed) if generator_seed is not None else torch.default_generator
    parts = random_split(range(n), lengths, generator=g)
    return {"name": name, "kind": "random_split", "seed": seed,
            "params": {"n": n, "lengths": lengths, "generator_seed": generator_seed},
            "parts": [list(p.indices) for p in parts], "randn_after": torch.randn(3).tolist()}


def distributed_case(n, replicas, shuffle, seed, drop_last, epoch):
    parts = []
    for rank in range(replicas):
        s = DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=shuffle, seed=seed,
                               drop_last=drop_last)
        s.set_epoch(epoch)
        parts.append(list(s))
    return {"name": f"distributed_n{n}_r{replicas}_s{seed}_e{epoch}_{'shuffle' if shuffle else 'seq'}"
                    f"{'_drop' if drop_last else ''}",
            "kind": "distributed_sampler",
            "params": {"n": n, "num_replicas": replicas, "shuffle": shuffle, "seed": seed, "drop_last": drop_last,
                       "epoch": epoch},
            "parts": parts}


def pad_case(name, seqs, batch_first, padding_value):
    out = pad_sequence(seqs, batch_first=batch_first, padding_value=padding_value)
    return {"name": name, "kind": "pad_sequence", "params": {"batch_first": batch_first,
                                                             "padding_value": padding_value},
            "inputs": [T(s) for s in seqs], "out": T(out)}


def data_golden():
    c = []
    c.append(loader_case("shuffle_default_generator_3_epochs", 21, 10, 3, epochs=3))
    c.append(loader_case("shuffle_drop_last", 22, 10, 3, drop_last=True, epochs=2))
    c.append(loader_case("shuffle_exact_batches", 23, 12, 4, epochs=2))
    c.append(loader_case("shuffle_own_generator_3_epochs", 24, 10, 3, generator_seed=99, epochs=3))
    c.append(loader_case("shuffle_own_generator_exact_batches", 24, 8, 4, generator_seed=7, epochs=3))
    c.append(loader_case("sequential_draws_a_base_seed", 25, 7, 2, shuffle=False, epochs=2))
    c.append(loader_case("shuffle_with_dropout_between_batches", 26, 10, 4, epochs=2, dropout=([6], 0.5)))
    c.append(loader_case("own_generator_with_dropout", 27, 9, 4, generator_seed=3, epochs=2, dropout=([5], 0.3)))
    c.append(loader_case("batch_larger_than_dataset", 28, 5, 8, epochs=2))
    c.append(loader_case("batch_larger_than_dataset_drop_last", 28, 5, 8, drop_last=True, epochs=1))
    c.append(loader_case("one_example", 29, 1, 1, epochs=2))
    c.append(sampler_case("sampler_num_samples_above_n", 31, 5, False, 12, None, 2))
    c.append(sampler_case("sampler_num_samples_below_n", 31, 9, False, 4, 8, 2))
    c.append(sampler_case("sampler_replacement", 32, 6, True, 70, None, 2))
    c.append(sampler_case("sampler_replacement_own_generator", 32, 6, True, 40, 5, 2))
    c.append(split_case("split_lengths_own_generator", 41, 10, [3, 7], 42))
    c.append(split_case("split_fractions_own_generator", 41, 30, [0.3, 0.3, 0.4], 42))
    c.append(split_case("split_fractions_remainder", 42, 11, [0.5, 0.25, 0.25], None))
    c.append(split_case("split_default_generator", 43, 8, [2, 2, 4], None))
    for args in [(10, 2, True, 0, False, 0), (10, 2, True, 0, False, 1), (11, 3, True, 5, False, 2),
                 (11, 3, True, 5, True, 0), (7, 2, False, 0, False, 0), (2, 5, True, 1, False, 0)]:
        c.append(distributed_case(*args))
    torch.manual_seed(51)
    c.append(pad_case("pad_batch_first", [torch.tensor([1, 2, 3]), torch.tensor([4]), torch.tensor([5, 6])],
                      True, 0))
    c.append(pad_case("pad_time_first_value", [torch.randn(2, 3), torch.randn(4, 3), torch.randn(1, 3)],
                      False, -1.5))
    c.append(pad_case("pad_float64_equal", [torch.randn(3, dtype=torch.float64),
                                            torch.randn(3, dtype=torch.float64)], True, 7.0))
    return c


def fmt(t):
    return str(t)


def word_vectors(seed):
    """Cell 5 of examples/embedding_vs_linear: the cosine similarities of the vectors of 优/良, 优/差
    and 良/差 before and after training the sentiment model (Embedding(4, 5, padding_idx=0) -> mean
    over the words -> Linear(5, 2)) with Adam(lr=0.05), 200 full-batch steps on every review of 1-4
    words labelled by 优 +2, 良 +1, 差 -2 > 0. Returns (before, after, last loss)."""
    torch.manual_seed(seed)
    emb = nn.Embedding(4, 5, padding_idx=0)
    fc = nn.Linear(5, 2)
    score = {1: 2, 2: 1, 3: -2}
    rows, labels = [], []
    for n in range(1, 5):
        for ids in itertools.product([1, 2, 3], repeat=n):
            rows.append(list(ids) + [0] * (4 - n))
            labels.append(1 if sum(score[i] for i in ids) > 0 else 0)
    tokens, labels = torch.tensor(rows), torch.tensor(labels)
    mask = (tokens != 0).float().unsqueeze(-1)

    def cos():
        w = emb.weight.detach()
        return [F.cosine_similarity(w[a], w[b], dim=0).item() for a, b in [(1, 2), (1, 3), (2, 3)]]

    before = cos()
    opt = torch.optim.Adam(list(emb.parameters()) + list(fc.parameters()), lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        loss = F.cross_entropy(fc((emb(tokens) * mask).sum(1) / mask.sum(1)), labels)
        loss.backward()
        opt.step()
    return before, cos(), loss.item()


def seed_article():
    """The README tour's snippets and examples/embedding_vs_linear's cells, as PyTorch runs them."""
    cells = []

    def cell(name, printed, tensors):
        cells.append({"name": name, "printed": printed, "values": {k: T(v) for k, v in tensors.items()}})

    # README: Embedding
    torch.manual_seed(1)
    emb = nn.Embedding(3, 5)
    y = emb(torch.tensor([0]))
    cell("readme_embedding", f"{y}\n{emb.weight}", {"lookup": y, "weight": emb.weight})
    # README: from_pretrained
    torch.manual_seed(1)
    emb_weight = torch.rand(3, 5, requires_grad=True)
    emb2 = nn.Embedding.from_pretrained(emb_weight)
    y = emb2(torch.tensor([0]))
    cell("readme_from_pretrained", f"{y}\n{emb2.weight.requires_grad}", {"lookup": y})
    # README: Linear
    torch.manual_seed(1)
    lin = nn.Linear(3, 5)
    x = torch.rand(3)
    y = lin(x)
    cell("readme_linear", f"{lin}\n{y}", {"weight": lin.weight, "bias": lin.bias, "x": x, "y": y})

    # README: random numbers and data loading
    torch.manual_seed(0)
    a, b = torch.randn(3), torch.randperm(5)
    cell("readme_randn_randperm", f"{a} {b}", {"randn": a, "randperm": b})
    torch.manual_seed(0)
    x = torch.arange(10, dtype=torch.float32).unsqueeze(1)
    y = torch.arange(10)
    batches = [yb for _, yb in DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True)]
    cell("readme_dataloader", "\n".join(str(b) for b in batches), {f"batch{i}": b for i, b in enumerate(batches)})

    # examples/embedding_vs_linear, cell by cell (re-seeded where the README's snippets are)
    torch.manual_seed(1)
    emb = nn.Embedding(3, 5)
    looks = [emb(torch.tensor([i])) for i in range(3)]
    cell("example_cell3_lookups", "\n".join(f"emb([{i}]) = {v}" for i, v in enumerate(looks)),
         {f"emb{i}": v for i, v in enumerate(looks)})
    pairs = ["优, 良", "优, 差", "良, 差"]
    before, after, loss = word_vectors(1)
    lines = [f"manual_seed(1); trained on the 120 reviews of 1-4 words (200 full-batch Adam steps): loss {loss:.4f}",
             "cosine similarity  before   after"]
    lines += [f"{p}             {b:7.4f}  {a:7.4f}" for p, b, a in zip(pairs, before, after)]
    lines.append("the same after manual_seed(0) .. manual_seed(7), lowest and highest after training:")
    runs = [word_vectors(seed) for seed in range(8)]
    for i, p in enumerate(pairs):
        ends = [r[1][i] for r in runs]
        rose = sum(r[1][i] > r[0][i] for r in runs)
        lines.append(f"{p}             {min(ends):7.4f}  {max(ends):7.4f}  (higher than before: {rose} of 8)")
    cell("example_cell5_cosine", "\n".join(lines),
         {"before": torch.tensor(before, dtype=torch.float64), "after": torch.tensor(after, dtype=torch.float64)})
    cell("example_cell7_weight", f"{emb.weight}", {"weight": emb.weight})
    torch.manual_seed(1)
    emb_weight = torch.rand(3, 5, requires_grad=True)
    emb2 = nn.Embedding.from_pretrained(emb_weight)
    y = emb2(torch.tensor([0]))
    cell("example_cell8_from_pretrained", f"emb2([0]) = {y}\nemb_weight[0] = {emb_weight[0].detach()}",
         {"lookup": y})
    torch.manual_seed(1)
    lin = nn.Linear(3, 5)
    x = torch.rand(3)
    y = lin(x)
    cell("example_cell9_linear", f"y = {y}", {"y": y})
    by_hand = x.matmul(lin.weight.T) + lin.bias
    cell("example_cell10_by_hand", f"x.matmul(w.t()) + b = {by_hand}", {"by_hand": by_hand})
    with torch.no_grad():
        torch.rand(3, 5)  # the example first tries a [3, 5] weight, which ag refuses
        new_weight = torch.rand(5, 3)
    lin.weight = nn.Parameter(new_weight)
    y2 = lin(x)
    cell("example_cell11_new_weight", f"lin(x) = {y2}", {"y": y2})
    torch.manual_seed(1)
    e = nn.Embedding(4, 3)
    l = nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        l.weight.copy_(e.weight.T)
    idx = torch.tensor([2, 0, 2])
    by_lookup = e(idx)
    by_product = l(F.one_hot(idx, 4).float())
    cell("example_cell12_lookup", f"lookup:          {by_lookup}\none-hot @ W^T:   {by_product}",
         {"lookup": by_lookup, "product": by_product})
    return cells


def write(path, header, cases):
    with open(path, "w") as f:
        f.write("{" + ", ".join(f'"{k}": {json.dumps(v)}' for k, v in header.items()) + ', "cases": [\n')
        f.write(",\n".join(json.dumps(c) for c in cases))
        f.write("\n]}\n")


if __name__ == "__main__":
    gen = {"generator": "PyTorch " + torch.__version__}
    write("rng_extra.json", gen, rng_extra())
    write("data_golden.json", gen, data_golden())
    write("seed_article.json", gen, seed_article())
