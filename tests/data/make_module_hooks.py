#!/usr/bin/python3
"""Reference data for module hooks: what PyTorch 1.13's full backward hooks (and pre-hooks) see on
a Linear and a Sequential, and the gradients they leave.

    /usr/bin/python3 tests/data/make_module_hooks.py > tests/data/module_hooks.json
"""
import json
import torch

torch.manual_seed(0)


def flat(t):
    return None if t is None else t.detach().flatten().tolist()


def run(case):
    torch.manual_seed(case["seed"])
    lin1, lin2 = torch.nn.Linear(3, 4).double(), torch.nn.Linear(4, 2).double()
    seq = torch.nn.Sequential(lin1, torch.nn.Tanh(), lin2)
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=case["x_requires_grad"])
    up = torch.randn(5, 2, dtype=torch.float64)
    seen = {}

    def hook(name):
        def f(module, grad_input, grad_output):
            seen[name] = {"grad_input": [flat(g) for g in grad_input], "grad_output": [flat(g) for g in grad_output]}
        return f

    seq.register_full_backward_hook(hook("seq"))
    lin1.register_full_backward_hook(hook("lin1"))
    lin2.register_full_backward_hook(hook("lin2"))
    if case["replace_grad_input"]:
        lin2.register_full_backward_hook(lambda m, gi, go: (gi[0] * -1,))
    y = seq(x)
    # PyTorch 1.13 has no full backward pre-hooks: a pre-hook on lin2 (the last layer) that doubles
    # its grad_output is the same as doubling the upstream gradient below the Sequential's output.
    (y * (up * 2 if case["scale_grad_output"] else up)).sum().backward()
    if case["scale_grad_output"]:
        seen["seq"]["grad_output"] = [flat(up)]
    return {"name": case["name"], "seed": case["seed"], "x_requires_grad": case["x_requires_grad"],
            "scale_grad_output": case["scale_grad_output"], "replace_grad_input": case["replace_grad_input"],
            "lin1_weight": flat(lin1.weight), "lin1_bias": flat(lin1.bias),
            "lin2_weight": flat(lin2.weight), "lin2_bias": flat(lin2.bias),
            "x": flat(x), "upstream": flat(up), "seen": seen,
            "grads": {"x": flat(x.grad) if x.requires_grad else None, "lin1_weight": flat(lin1.weight.grad),
                      "lin2_weight": flat(lin2.weight.grad), "lin2_bias": flat(lin2.bias.grad)}}


CASES = [
    {"name": "plain", "seed": 1, "x_requires_grad": True, "scale_grad_output": False, "replace_grad_input": False},
    {"name": "input_without_grad", "seed": 2, "x_requires_grad": False, "scale_grad_output": False,
     "replace_grad_input": False},
    {"name": "pre_hook_scales_grad_output", "seed": 3, "x_requires_grad": True, "scale_grad_output": True,
     "replace_grad_input": False},
    {"name": "hook_replaces_grad_input", "seed": 4, "x_requires_grad": True, "scale_grad_output": False,
     "replace_grad_input": True},
]

print(json.dumps({"generator": "tests/data/make_module_hooks.py", "torch": torch.__version__,
                  "cases": [run(c) for c in CASES]}))
