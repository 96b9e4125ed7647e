#!/usr/bin/python3
"""Reference data for the bool dtype and type promotion, from PyTorch 1.13.

    /usr/bin/python3 tests/data/make_bool.py > tests/data/bool.json
"""
import json
import math
import torch


def num(v):
    """A number as JSON has it: NaN and the infinities as strings."""
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def vals(t):
    return [num(v) for v in t.flatten().double().tolist()]

DT = {"bool": torch.bool, "int64": torch.int64, "float32": torch.float32, "float64": torch.float64}
NAME = {v: k for k, v in DT.items()}


def sample(dtype, zero_d):
    vals = {"bool": [True, False, True], "int64": [3, -2, 0], "float32": [1.5, -0.5, 2.0],
            "float64": [0.25, 3.0, -1.0]}[dtype]
    return torch.tensor(vals[0] if zero_d else vals, dtype=DT[dtype])


out = {"generator": "tests/data/make_bool.py", "torch": torch.__version__}

# result dtypes of tensor (op) tensor, for every dtype pair and 0-d / 1-d operands
promo = []
for a in DT:
    for b in DT:
        for za in (False, True):
            for zb in (False, True):
                x, y = sample(a, za), sample(b, zb)
                row = {"a": a, "b": b, "a0": za, "b0": zb}
                for op, f in (("add", torch.add), ("mul", torch.mul), ("div", torch.div), ("eq", torch.eq),
                              ("maximum", torch.maximum), ("where", lambda p, q: torch.where(torch.tensor(True), p, q))):
                    try:
                        r = f(x, y)
                        row[op] = {"dtype": NAME[r.dtype], "values": vals(r)}
                    except RuntimeError as e:
                        row[op] = {"error": str(e).split("\n")[0]}
                promo.append(row)
out["promotion"] = promo

# tensor (op) Python scalar
scal = []
for a in DT:
    for s in (True, 2, 2.5):
        x = sample(a, False)
        row = {"a": a, "scalar": s, "kind": type(s).__name__}
        for op, f in (("add", lambda p, q: p + q), ("mul", lambda p, q: p * q), ("gt", lambda p, q: p > q)):
            try:
                r = f(x, s)
                row[op] = {"dtype": NAME[r.dtype], "values": vals(r)}
            except RuntimeError as e:
                row[op] = {"error": str(e).split("\n")[0]}
        scal.append(row)
out["scalar_promotion"] = scal

# printing
prints = {}
for name, t in {"pair": torch.tensor([True, False]), "all_true": torch.tensor([True, True]),
                "column": torch.tensor([[True], [False]]), "scalar": torch.tensor(True),
                "cmp": torch.tensor([1.0, 2.0, 3.0]) > 1.5, "matrix": torch.tensor([[1, 2], [3, 4]]) == 2}.items():
    prints[name] = {"values": t.flatten().tolist(), "shape": list(t.shape), "str": str(t)}
out["prints"] = prints

# logic, predicates, reductions
x = torch.tensor([[0.0, 1.5, -2.0], [math.nan, math.inf, -math.inf]])


def nan_to(t, v):
    return torch.where(torch.isnan(t), torch.tensor(v), t)


m = torch.tensor([[True, False, True], [False, False, True]])
k = torch.tensor([[0, 3, 0], [-1, 0, 0]])
res = {
    "isnan": torch.isnan(x), "isinf": torch.isinf(x), "isfinite": torch.isfinite(x),
    "logical_not_x": torch.logical_not(x), "logical_and_mk": torch.logical_and(m, k),
    "logical_or_mk": torch.logical_or(m, k), "logical_xor_mk": torch.logical_xor(m, k),
    "and_mm": m & m.flip(1), "or_mm": m | m.flip(1), "xor_mm": m ^ m.flip(1), "not_m": ~m,
    "any_m": m.any(), "all_m": m.all(), "any_m1": m.any(1), "all_m0": m.all(0), "any_k0_keep": k.any(0, keepdim=True),
    "nonzero_m": m.nonzero(), "nonzero_k": k.nonzero(), "count_nonzero_k": torch.count_nonzero(k),
    "count_nonzero_k1": torch.count_nonzero(k, 1), "sum_m": m.sum(), "sum_m0": m.sum(0),
    "masked_select": nan_to(x, 0.0).masked_select(m), "masked_fill": x.masked_fill(m, 7.0),
    "where": torch.where(m, nan_to(x, 9.0), torch.tensor(-1.0)),
    "bool_from_float": nan_to(x, 0.0).bool(), "float_from_bool": m.float(), "int_from_bool": m.long(),
    "bool_plus_bool": m + m.flip(1), "bool_times_bool": m * m.flip(1), "bool_max": torch.maximum(m, m.flip(1)),
    "all_empty": torch.zeros(0, dtype=torch.bool).all(), "any_empty": torch.zeros(0, dtype=torch.bool).any(),
}
out["results"] = {n: {"dtype": NAME[t.dtype], "shape": list(t.shape), "values": vals(t)}
                  for n, t in res.items()}
out["inputs"] = {"x": [[0.0, 1.5, -2.0], ["nan", "inf", "-inf"]], "m": m.tolist(), "k": k.tolist()}

errors = {}
for name, f in {"neg_bool": lambda: -m, "sub_bool": lambda: m - m, "rsub_bool": lambda: 1 - m}.items():
    try:
        f()
        errors[name] = None
    except RuntimeError as e:
        errors[name] = str(e).split("\n")[0]
out["errors"] = errors
print(json.dumps(out, allow_nan=False))
