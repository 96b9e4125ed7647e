#!/usr/bin/python3
"""Reference data for sparse embedding gradients and the optimizers that take them.

Each case trains an Embedding(sparse=True) of V rows for 6 steps with PyTorch 1.13: every step
looks up a batch with repeated and padding indices, backpropagates L = sum(emb(idx) * upstream),
records the weight's gradient coalesced (indices and values), steps the optimizer and records
the weight. Dense cases run Adagrad on an ordinary parameter. tests/test_sparse.cpp replays them.

    /usr/bin/python3 tests/data/make_sparse.py > tests/data/sparse.json
"""
import json
import torch

torch.manual_seed(0)


def t(x):
    x = x.detach()
    dt = {torch.float32: "float32", torch.float64: "float64", torch.int64: "int64"}[x.dtype]
    data = x.reshape(-1).tolist()
    if x.dtype != torch.int64:
        data = [repr(float(v)) for v in data]
    return {"dtype": dt, "shape": list(x.shape), "data": data}


BATCHES = [[[0, 3, 3], [1, 5, 3]], [[2, 2, 2], [1, 1, 4]], [[7, 0, 1], [7, 6, 5]],
           [[1, 1, 1], [1, 1, 1]], [[4, 9, 8], [8, 9, 4]], [[3, 0, 3], [0, 3, 1]]]


def sparse_case(name, optimizer, options, dtype=torch.float64, padding_idx=1, accumulate=False):
    V, D = 10, 3
    emb = torch.nn.Embedding(V, D, padding_idx=padding_idx, sparse=True).to(dtype)
    with torch.no_grad():
        emb.weight.copy_(torch.randn(V, D, dtype=dtype))
        if padding_idx is not None:
            emb.weight[padding_idx].zero_()
    opt = optimizer([emb.weight], **options)
    case = {"name": name, "kind": "sparse", "params": {"optimizer": optimizer.__name__, "options": options,
            "V": V, "D": D, "padding_idx": padding_idx, "accumulate": accumulate},
            "inputs": {"weight": t(emb.weight)}, "steps": []}
    for batch in BATCHES:
        idx = torch.tensor(batch)
        up = torch.randn(2, 3, D, dtype=dtype)
        opt.zero_grad()  # 1.13's default: set_to_none=False, the sparse gradient is zeroed in place
        (emb(idx) * up).sum().backward()
        step = {"indices": t(idx), "upstream": t(up)}
        if accumulate:  # a second backward before the step: sparse + sparse
            up2 = torch.randn(2, 3, D, dtype=dtype)
            (emb(idx) * up2).sum().backward()
            step["upstream2"] = t(up2)
        g = emb.weight.grad.coalesce()
        step["grad_indices"] = t(g.indices()[0])
        step["grad_values"] = t(g.values())
        opt.step()
        step["weight"] = t(emb.weight)
        case["steps"].append(step)
    return case


def dense_case(name, optimizer, options, dtype=torch.float64):
    p = torch.randn(4, 3, dtype=dtype, requires_grad=True)
    opt = optimizer([p], **options)
    case = {"name": name, "kind": "dense", "params": {"optimizer": optimizer.__name__, "options": options},
            "inputs": {"weight": t(p)}, "steps": []}
    for _ in range(6):
        g = torch.randn(4, 3, dtype=dtype)
        opt.zero_grad()
        p.grad = g.clone()
        opt.step()
        case["steps"].append({"grad": t(g), "weight": t(p)})
    return case


cases = [
    sparse_case("sparse_adam", torch.optim.SparseAdam, {"lr": 0.1, "betas": [0.8, 0.99], "eps": 1e-8}),
    sparse_case("sparse_adam_float32", torch.optim.SparseAdam, {"lr": 0.05}, dtype=torch.float32),
    sparse_case("sparse_adam_maximize_no_padding", torch.optim.SparseAdam, {"lr": 0.1, "maximize": True},
                padding_idx=None),
    sparse_case("sparse_adam_accumulated", torch.optim.SparseAdam, {"lr": 0.1}, accumulate=True),
    sparse_case("sgd", torch.optim.SGD, {"lr": 0.1}),
    sparse_case("sgd_momentum", torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.1}),
    sparse_case("sgd_nesterov", torch.optim.SGD, {"lr": 0.1, "momentum": 0.8, "nesterov": True}),
    sparse_case("sgd_momentum_float32_accumulated", torch.optim.SGD, {"lr": 0.05, "momentum": 0.9},
                dtype=torch.float32, accumulate=True),
    sparse_case("adagrad", torch.optim.Adagrad, {"lr": 0.5, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    sparse_case("adagrad_maximize_float32", torch.optim.Adagrad, {"lr": 0.3, "maximize": True}, dtype=torch.float32),
    dense_case("adagrad_dense", torch.optim.Adagrad, {"lr": 0.5, "lr_decay": 0.01, "initial_accumulator_value": 0.1,
                                                      "weight_decay": 0.1}),
    dense_case("adagrad_dense_float32", torch.optim.Adagrad, {"lr": 0.2, "eps": 1e-6}, dtype=torch.float32),
]

print(json.dumps({"generator": "tests/data/make_sparse.py", "torch": torch.__version__, "seed": 0,
                  "cases": cases}))
