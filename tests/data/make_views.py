#!/usr/bin/python3
"""Reference data for strided views, writes through views, in-place ops on views and indexing.

Each program is a list of statements over named tensors, run here by PyTorch 1.13 and by
tests/test_views.cpp through the same small interpreter. What PyTorch computed -- every named
tensor's values, shape, strides, storage offset and which tensors share storage, and the
gradients of the leaves -- goes into views.json.

    /usr/bin/python3 tests/data/make_views.py > tests/data/views.json
"""
import json
import torch

torch.manual_seed(0)


def leaf(name, shape, requires_grad=True, dtype="float64", kind="randn", values=None):
    s = {"op": "leaf", "out": name, "shape": shape, "requires_grad": requires_grad, "dtype": dtype, "kind": kind}
    if values is not None:
        s["values"] = values
    return s


def st(op, out, *args, **kw):
    return {"op": op, "out": out, "args": list(args), "kw": kw}


# An index list entry: ("i", 1) integer, ("s", start, stop, step) slice (None = open), ("n",) None,
# ("e",) Ellipsis, ("b", True) bool, ("t", "name") tensor.
def idx(*entries):
    return [list(e) for e in entries]


PROGRAMS = {
    # ---- views: values, strides, offsets, sharing (no grad) ----
    "view_ops_geometry": [
        leaf("x", [3, 4, 5], requires_grad=False, kind="arange"),
        st("transpose", "t01", "x", 0, 1),
        st("permute", "p", "x", [2, 0, 1]),
        st("select", "s", "x", 1, 2),
        st("narrow", "n", "x", 2, 1, 3),
        st("slice", "sl", "x", 2, 0, 5, 2),
        st("slice", "sl2", "x", 0, -2, None, 1),
        st("unsqueeze", "u", "x", 1),
        st("squeeze", "sq", "u"),
        st("squeeze_dim", "sqd", "u", 1),
        st("flatten", "f", "x", 1, 2),
        st("unflatten", "uf", "f", 1, [5, 4]),
        st("view", "v", "x", [12, 5]),
        st("reshape", "r", "t01", [4, 15]),
        st("diagonal", "d", "x", 1, 1, 2),
        st("diagonal", "dneg", "x", -1, 0, 2),
        st("unfold", "uo", "x", 2, 2, 2),
        st("as_strided", "as", "x", [2, 3], [7, 2], 3),
        st("expand", "ex", "s", [2, 3, 5]),
        st("t", "tt", "v"),
        st("split_at", "sp1", "x", 2, 1, 1),
        st("chunk_at", "ch2", "x", 3, 2, 2),
        st("unbind_at", "ub", "x", 1, 3),
        st("contiguous", "c", "t01"),
        st("reshape", "rv", "x", [60]),
    ],
    "views_of_views_geometry": [
        leaf("x", [4, 6], requires_grad=False, kind="arange"),
        st("t", "a", "x"),
        st("slice", "b", "a", 0, 1, 6, 2),
        st("select", "c", "b", 1, 3),
        st("unsqueeze", "d", "c", 0),
        st("expand", "e", "d", [2, 3]),
        st("diagonal", "g", "x", 2),
        st("unfold", "h", "b", 1, 2, 1),
        st("as_strided", "k", "c", [2], [6], 1),
    ],
    # ---- writes through views (no grad) ----
    "writes_through_views": [
        leaf("x", [3, 4], requires_grad=False, kind="zeros"),
        st("select", "row", "x", 0, 1),
        st("fill_", None, "row", 7.0),
        st("select", "col", "x", 1, 2),
        st("fill_", None, "col", 3.0),
        st("t", "xt", "x"),
        st("narrow", "tn", "xt", 0, 3, 1),
        st("add_", None, "tn", 1.5),
        st("slice", "even", "x", 1, 0, None, 2),
        st("mul_", None, "even", -2.0),
        st("diagonal", "dg", "x", 0),
        st("copy_", None, "dg", "dg_src"),
        st("unsqueeze", "xu", "x", 0),
        st("squeeze_dim", "xs", "xu", 0),
        st("view", "xv", "xs", [12]),
        st("narrow", "last", "xv", 0, 10, 2),
        st("zero_", None, "last"),
    ],
    "writes_through_assignment_and_index_put": [
        leaf("x", [2, 3, 4], requires_grad=False, kind="zeros"),
        leaf("v", [4], requires_grad=False, kind="arange"),
        st("index_put_", None, "x", idx(("i", 0), ("i", 1)), "v"),
        st("index_put_scalar", None, "x", idx(("e",), ("i", 2)), 9.0),
        st("index_put_scalar", None, "x", idx(("s", None, None, None), ("s", 0, 2, None), ("s", None, None, 3)), -1.0),
        leaf("idx0", [2], requires_grad=False, dtype="int64", kind="const", values=[1, 0]),
        leaf("idx2", [2], requires_grad=False, dtype="int64", kind="const", values=[3, 3]),
        leaf("idx1", [2], requires_grad=False, dtype="int64", kind="const", values=[2, 2]),
        leaf("w", [2], requires_grad=False, kind="const", values=[5.0, 6.0]),
        st("index_put_acc", None, "x", ["idx0", "idx1", "idx2"], "w"),
        st("index_put_", None, "x", idx(("i", 1), ("t", "idx0")), "v"),
    ],
    "clamp_and_masked_fill_through_views": [
        leaf("x", [4, 5], requires_grad=False),
        st("t", "xt", "x"),
        st("narrow", "part", "xt", 0, 1, 3),
        st("clamp_", None, "part", -0.5, 0.5),
        st("gt", "mask", "x", 0.8),
        st("slice", "odd", "x", 0, 1, None, 2),
        st("slice", "modd", "mask", 0, 1, None, 2),
        st("masked_fill_", None, "odd", "modd", 100.0),
    ],
}

# ---- gradients through chains of views and in-place ops on views of non-leaves ----
GRAD_PROGRAMS = {
    "chain_transpose_select_narrow": [
        leaf("a", [3, 4]),
        st("mul", "b", "a", 2.0),
        st("t", "c", "b"),
        st("select", "d", "c", 0, 1),
        st("narrow", "e", "c", 1, 1, 2),
        st("exp", "f", "e"),
        st("sumall2", "L", "d", "f"),
    ],
    "chain_permute_reshape_expand": [
        leaf("a", [2, 3, 4]),
        st("permute", "b", "a", [2, 0, 1]),
        st("reshape", "c", "b", [4, 6]),
        st("tanh", "d", "c"),
        st("unsqueeze", "e", "d", 0),
        st("expand", "f", "e", [3, 4, 6]),
        st("mul_t", "g", "f", "f"),
        st("sumall", "L", "g"),
    ],
    "chain_slice_steps_and_diagonal": [
        leaf("a", [5, 6]),
        st("slice", "b", "a", 1, 1, None, 2),
        st("slice", "c", "b", 0, None, None, 3),
        st("diagonal", "d", "a", 1),
        st("mul_t", "e", "c", "c"),
        st("sumall2", "L", "e", "d"),
    ],
    "chain_unfold_overlapping": [
        leaf("a", [7]),
        st("unfold", "b", "a", 0, 3, 2),
        st("mul_t", "c", "b", "b"),
        st("sumall", "L", "c"),
    ],
    "chain_unfold_2d": [
        leaf("a", [3, 5]),
        st("unfold", "b", "a", 1, 2, 1),
        st("tanh", "c", "b"),
        st("sumall", "L", "c"),
    ],
    "chain_as_strided_overlapping": [
        leaf("a", [6]),
        st("as_strided", "b", "a", [3, 3], [1, 1], 0),
        st("mul_t", "c", "b", "b"),
        st("sumall", "L", "c"),
    ],
    "chain_as_strided_of_transpose": [
        leaf("a", [3, 4]),
        st("mul", "a2", "a", 1.0),
        st("t", "b", "a2"),
        st("as_strided", "c", "b", [2, 2], [4, 1], 1),
        st("exp", "d", "c"),
        st("sumall", "L", "d"),
    ],
    "chain_split_chunk_unbind": [
        leaf("a", [4, 6]),
        st("split_at", "s0", "a", 4, 1, 0),
        st("split_at", "s1", "a", 4, 1, 1),
        st("chunk_at", "c1", "a", 2, 0, 1),
        st("unbind_at", "u2", "a", 0, 2),
        st("mul_t", "p", "s0", "s0"),
        st("sumall2", "L0", "p", "s1"),
        st("sumall2", "L1", "c1", "u2"),
        st("add_t", "L", "L0", "L1"),
    ],
    "chain_view_unflatten_flatten": [
        leaf("a", [2, 12]),
        st("view", "b", "a", [2, 3, 4]),
        st("unflatten", "c", "a", 1, [4, 3]),
        st("flatten", "d", "c", 0, 1),
        st("mul_t", "e", "b", "b"),
        st("sumall2", "L", "e", "d"),
    ],
    "chain_reshape_copy_of_transpose": [
        leaf("a", [3, 4]),
        st("t", "b", "a"),
        st("reshape", "c", "b", [2, 6]),
        st("cumul", "d", "c"),
        st("sumall", "L", "d"),
    ],
    "chain_squeeze_unsqueeze": [
        leaf("a", [3, 1, 4]),
        st("squeeze_dim", "b", "a", 1),
        st("unsqueeze", "c", "b", 2),
        st("squeeze", "d", "c"),
        st("tanh", "e", "d"),
        st("sumall", "L", "e"),
    ],
    "chain_contiguous_clone_detach": [
        leaf("a", [3, 4]),
        st("t", "b", "a"),
        st("contiguous", "c", "b"),
        st("clone", "d", "b"),
        st("detach", "e", "b"),
        st("mul_t", "f", "c", "d"),
        st("mul_t", "g", "f", "e"),
        st("sumall", "L", "g"),
    ],
    "chain_cat_of_views": [
        leaf("a", [3, 4]),
        st("t", "b", "a"),
        st("narrow", "c", "a", 1, 0, 3),
        st("cat2", "d", "b", "c", 0),
        st("exp", "e", "d"),
        st("sumall", "L", "e"),
    ],
    "chain_matmul_of_transposed_views": [
        leaf("a", [3, 4]),
        leaf("w", [5, 4]),
        st("t", "wt", "w"),
        st("matmul", "y", "a", "wt"),
        st("t", "yt", "y"),
        st("matmul", "z", "yt", "a"),
        st("slice", "zs", "z", 1, 0, None, 2),
        st("sumall", "L", "zs"),
    ],
    "chain_linear_with_transposed_weight_view": [
        leaf("x", [6, 3]),
        leaf("w", [3, 4]),
        st("t", "wt", "w"),
        st("slice", "xs", "x", 0, 0, None, 2),
        st("linear", "y", "xs", "wt"),
        st("tanh", "z", "y"),
        st("sumall", "L", "z"),
    ],
    "chain_reductions_of_views": [
        leaf("a", [4, 5]),
        st("t", "b", "a"),
        st("sum_dim", "c", "b", 1),
        st("amax_dim", "d", "b", 0),
        st("mean_dim", "e", "a", 0),
        st("sumall2", "L0", "c", "d"),
        st("sumall2", "L", "L0", "e"),
    ],
    "chain_softmax_logsoftmax_of_views": [
        leaf("a", [4, 5]),
        st("t", "b", "a"),
        st("softmax", "c", "b", 1),
        st("log_softmax", "d", "b", 0),
        st("mul_t", "e", "c", "d"),
        st("sumall", "L", "e"),
    ],
    # ---- in-place ops on views of non-leaves: the base's history is rebased ----
    "inplace_mul_on_row_of_nonleaf": [
        leaf("a", [3, 4]),
        st("clone", "b", "a"),
        st("select", "r", "b", 0, 1),
        st("mul_", None, "r", 3.0),
        st("exp", "c", "b"),
        st("sumall", "L", "c"),
    ],
    "inplace_mul_tensor_on_column": [
        leaf("a", [3, 4]),
        leaf("w", [3]),
        st("mul", "b", "a", 1.0),
        st("select", "col", "b", 1, 2),
        st("mul_t_", None, "col", "w"),
        st("mul_t", "c", "b", "b"),
        st("sumall", "L", "c"),
    ],
    "inplace_add_on_transposed_slice": [
        leaf("a", [4, 5]),
        leaf("u", [2, 4]),
        st("tanh", "b", "a"),
        st("t", "bt", "b"),
        st("narrow", "part", "bt", 0, 1, 2),
        st("add_t_", None, "part", "u"),
        st("mul_t", "c", "b", "a"),
        st("sumall", "L", "c"),
    ],
    "inplace_add_on_transposed_slice_of_linear_output": [
        leaf("a", [4, 5]),
        leaf("u", [2, 4]),
        st("mul", "b", "a", 0.5),
        st("t", "bt", "b"),
        st("narrow", "part", "bt", 0, 1, 2),
        st("add_t_", None, "part", "u"),
        st("mul_t", "c", "b", "a"),
        st("sumall", "L", "c"),
    ],
    "inplace_copy_into_view_of_nonrequiring_base": [
        leaf("z", [3, 4], requires_grad=False, kind="zeros"),
        leaf("a", [2, 4]),
        st("narrow", "top", "z", 0, 0, 2),
        st("copy_", None, "top", "a"),
        st("exp", "c", "z"),
        st("sumall", "L", "c"),
    ],
    "inplace_fill_on_view_cuts_gradient": [
        leaf("a", [3, 4]),
        st("mul", "b", "a", 2.0),
        st("select", "r", "b", 0, 0),
        st("fill_", None, "r", 1.0),
        st("mul_t", "c", "b", "b"),
        st("sumall", "L", "c"),
    ],
    "inplace_on_view_then_read_other_view": [
        leaf("a", [4, 4]),
        st("clone", "b", "a"),
        st("select", "r0", "b", 0, 0),
        st("select", "c1", "b", 1, 1),
        st("mul_", None, "r0", 2.0),
        st("exp", "e", "c1"),
        st("sumall2", "L", "e", "r0"),
    ],
    "inplace_on_view_of_view": [
        leaf("a", [3, 6]),
        st("mul", "b", "a", 1.5),
        st("t", "bt", "b"),
        st("slice", "bs", "bt", 0, 1, None, 2),
        st("select", "x", "bs", 1, 2),
        st("add_", None, "x", 10.0),
        st("pow2", "c", "b"),
        st("sumall", "L", "c"),
    ],
    "inplace_twice_on_overlapping_views": [
        leaf("a", [4, 4]),
        st("clone", "b", "a"),
        st("select", "r", "b", 0, 1),
        st("select", "c", "b", 1, 1),
        st("mul_", None, "r", 2.0),
        st("mul_", None, "c", 3.0),
        st("pow2", "d", "b"),
        st("sumall", "L", "d"),
    ],
    "inplace_on_base_then_use_old_view": [
        leaf("a", [3, 3]),
        st("clone", "b", "a"),
        st("t", "v", "b"),
        st("mul_", None, "b", 2.0),
        st("exp", "e", "v"),
        st("sumall", "L", "e"),
    ],
    "inplace_clamp_on_diagonal": [
        leaf("a", [4, 4]),
        st("mul", "b", "a", 3.0),
        st("diagonal", "d", "b", 0),
        st("clamp_", None, "d", -1.0, 1.0),
        st("pow2", "c", "b"),
        st("sumall", "L", "c"),
    ],
    "inplace_masked_fill_on_slice": [
        leaf("a", [4, 5]),
        st("mul", "b", "a", 1.0),
        st("slice", "s", "b", 1, 0, None, 2),
        st("gt", "m", "s", 0.0),
        st("masked_fill_", None, "s", "m", 0.5),
        st("pow2", "c", "b"),
        st("sumall", "L", "c"),
    ],
    "inplace_index_put_on_view": [
        leaf("a", [3, 5]),
        leaf("v", [2]),
        leaf("ii", [2], requires_grad=False, dtype="int64", kind="const", values=[4, 1]),
        st("mul", "b", "a", 1.0),
        st("select", "r", "b", 0, 1),
        st("index_put_", None, "r", idx(("t", "ii")), "v"),
        st("pow2", "c", "b"),
        st("sumall", "L", "c"),
    ],
    "inplace_index_put_accumulate_repeated": [
        leaf("a", [5]),
        leaf("v", [3]),
        leaf("ii", [3], requires_grad=False, dtype="int64", kind="const", values=[2, 2, 0]),
        st("mul", "b", "a", 1.0),
        st("index_put_acc", None, "b", ["ii"], "v"),
        st("pow2", "c", "b"),
        st("sumall", "L", "c"),
    ],
    "inplace_through_unsqueezed_view": [
        leaf("a", [2, 3]),
        st("exp", "b", "a"),
        st("unsqueeze", "u", "b", 0),
        st("select", "s", "u", 2, 1),
        st("mul_", None, "s", -1.0),
        st("mul_t", "c", "b", "a"),
        st("sumall", "L", "c"),
    ],
    "inplace_copy_from_other_view_of_same_base": [
        leaf("a", [3, 4]),
        st("mul", "b", "a", 2.0),
        st("select", "r0", "b", 0, 0),
        st("select", "r2", "b", 0, 2),
        st("copy_", None, "r0", "r2"),
        st("pow2", "c", "b"),
        st("sumall", "L", "c"),
    ],
    "inplace_assignment_operator_row": [
        leaf("a", [3, 4]),
        leaf("w", [4]),
        st("mul", "b", "a", 1.0),
        st("assign_row", None, "b", 1, "w"),
        st("pow2", "c", "b"),
        st("sumall", "L", "c"),
    ],
    # ---- indexing with gradients ----
    "index_basic_forms": [
        leaf("a", [4, 5, 6]),
        st("index", "b", "a", idx(("s", 1, None, 2), ("i", 0), ("n",), ("e",))),
        st("index", "c", "a", idx(("e",), ("i", -1))),
        st("index", "d", "a", idx(("i", 2), ("s", None, None, -1 + 3), ("s", 1, 5, None))),
        st("index", "e", "a", idx(("b", True), ("i", 1))),
        st("sumall2", "L0", "b", "c"),
        st("sumall2", "L", "L0", "d"),
    ],
    "index_with_int_tensors": [
        leaf("a", [4, 5]),
        leaf("i0", [3], requires_grad=False, dtype="int64", kind="const", values=[3, 0, 3]),
        leaf("i1", [2, 1], requires_grad=False, dtype="int64", kind="const", values=[-1, 2]),
        st("index", "b", "a", idx(("t", "i0"))),
        st("index", "c", "a", idx(("s", None, None, None), ("t", "i0"))),
        st("index", "d", "a", idx(("t", "i1"), ("t", "i0"))),
        st("sumall2", "L0", "b", "c"),
        st("sumall2", "L", "L0", "d"),
    ],
    "index_separated_advanced_dims": [
        leaf("a", [3, 4, 5]),
        leaf("i0", [2], requires_grad=False, dtype="int64", kind="const", values=[2, 0]),
        leaf("i2", [2], requires_grad=False, dtype="int64", kind="const", values=[1, 4]),
        st("index", "b", "a", idx(("t", "i0"), ("s", None, None, None), ("t", "i2"))),
        st("index", "c", "a", idx(("s", 1, None, None), ("t", "i0"))),
        st("sumall2", "L", "b", "c"),
    ],
    "index_with_bool_mask": [
        leaf("a", [3, 4]),
        st("gt", "m", "a", 0.0),
        st("index", "b", "a", idx(("t", "m"))),
        st("select", "m0", "m", 0, 0),
        st("index", "c", "a", idx(("s", None, None, None), ("t", "m0"))),
        st("masked_select", "d", "a", "m"),
        st("sumall2", "L0", "b", "c"),
        st("sumall2", "L", "L0", "d"),
    ],
    "index_of_noncontiguous_input": [
        leaf("a", [5, 4]),
        leaf("i0", [3], requires_grad=False, dtype="int64", kind="const", values=[1, 3, 1]),
        st("t", "b", "a"),
        st("index", "c", "b", idx(("t", "i0"), ("s", None, None, 2))),
        st("exp", "d", "c"),
        st("sumall", "L", "d"),
    ],
    "index_put_out_of_place_grads": [
        leaf("a", [4, 3]),
        leaf("v", [2, 3]),
        leaf("ii", [2], requires_grad=False, dtype="int64", kind="const", values=[3, 1]),
        st("index_put", "b", "a", ["ii"], "v", False),
        st("index_put", "c", "a", ["ii"], "v", True),
        st("mul_t", "d", "b", "c"),
        st("sumall", "L", "d"),
    ],
    "where_and_masked_fill_grads": [
        leaf("a", [3, 4]),
        leaf("b", [3, 4]),
        st("gt", "m", "a", "b"),
        st("where", "w", "m", "a", "b"),
        st("masked_fill", "f", "a", "m", 2.0),
        st("mul_t", "g", "w", "f"),
        st("sumall", "L", "g"),
    ],
}


def to_t(env, v):
    return env[v] if isinstance(v, str) else v


def make_index(env, spec):
    out = []
    for e in spec:
        k = e[0]
        if k == "i":
            out.append(e[1])
        elif k == "s":
            out.append(slice(e[1], e[2], e[3]))
        elif k == "n":
            out.append(None)
        elif k == "e":
            out.append(Ellipsis)
        elif k == "b":
            out.append(e[1])
        elif k == "t":
            out.append(env[e[1]])
    return tuple(out)


def run(prog, env):
    leaves = []
    for s in prog:
        op = s["op"]
        if op == "leaf":
            dt = torch.float64 if s["dtype"] == "float64" else torch.int64
            shape = s["shape"]
            n = 1
            for d in shape:
                n *= d
            if s["kind"] == "randn":
                t = torch.randn(shape, dtype=dt)
            elif s["kind"] == "arange":
                t = torch.arange(n, dtype=dt).reshape(shape)
            elif s["kind"] == "zeros":
                t = torch.zeros(shape, dtype=dt)
            else:
                t = torch.tensor(s["values"], dtype=dt).reshape(shape)
            s["values"] = t.flatten().tolist()
            t.requires_grad_(s["requires_grad"])
            env[s["out"]] = t
            if s["requires_grad"]:
                leaves.append(s["out"])
            continue
        a = s["args"]
        x = to_t(env, a[0]) if a else None
        r = None
        if op == "transpose": r = x.transpose(a[1], a[2])
        elif op == "permute": r = x.permute(*a[1])
        elif op == "select": r = x.select(a[1], a[2])
        elif op == "narrow": r = x.narrow(a[1], a[2], a[3])
        elif op == "slice":
            sl = [slice(None)] * x.dim()
            sl[a[1]] = slice(a[2], a[3], a[4])
            r = x[tuple(sl)]
        elif op == "unsqueeze": r = x.unsqueeze(a[1])
        elif op == "squeeze": r = x.squeeze()
        elif op == "squeeze_dim": r = x.squeeze(a[1])
        elif op == "flatten": r = x.flatten(a[1], a[2])
        elif op == "unflatten": r = x.unflatten(a[1], a[2])
        elif op == "view": r = x.view(a[1])
        elif op == "reshape": r = x.reshape(a[1])
        elif op == "diagonal": r = x.diagonal(a[1], *(a[2:4] if len(a) > 2 else []))
        elif op == "unfold": r = x.unfold(a[1], a[2], a[3])
        elif op == "as_strided": r = x.as_strided(a[1], a[2], a[3])
        elif op == "expand": r = x.expand(a[1])
        elif op == "t": r = x.t()
        elif op == "split_at": r = x.split(a[1], a[2])[a[3]]
        elif op == "chunk_at": r = x.chunk(a[1], a[2])[a[3]]
        elif op == "unbind_at": r = x.unbind(a[1])[a[2]]
        elif op == "contiguous": r = x.contiguous()
        elif op == "clone": r = x.clone()
        elif op == "detach": r = x.detach()
        elif op == "mul": r = x * a[1]
        elif op == "mul_t": r = x * env[a[1]]
        elif op == "add_t": r = x + env[a[1]]
        elif op == "exp": r = x.exp()
        elif op == "tanh": r = x.tanh()
        elif op == "sin": r = x.sin()
        elif op == "pow2": r = x * x
        elif op == "cumul": r = x * torch.arange(1, x.numel() + 1, dtype=x.dtype).reshape(x.shape)
        elif op == "sumall": r = x.sum()
        elif op == "sumall2": r = (x * x).sum() + env[a[1]].sum() * 0.5
        elif op == "cat2": r = torch.cat([x, env[a[1]]], a[2])
        elif op == "matmul": r = x.matmul(env[a[1]])
        elif op == "linear": r = torch.nn.functional.linear(x, env[a[1]])
        elif op == "sum_dim": r = x.sum(a[1])
        elif op == "mean_dim": r = x.mean(a[1])
        elif op == "amax_dim": r = x.amax(a[1])
        elif op == "softmax": r = x.softmax(a[1])
        elif op == "log_softmax": r = x.log_softmax(a[1])
        elif op == "gt": r = x > (env[a[1]] if isinstance(a[1], str) else a[1])
        elif op == "where": r = torch.where(x, env[a[1]], env[a[2]])
        elif op == "masked_fill": r = x.masked_fill(env[a[1]], a[2])
        elif op == "masked_select": r = x.masked_select(env[a[1]])
        elif op == "index": r = x[make_index(env, a[1])]
        elif op == "index_put":
            ind = tuple(env[i] if i is not None else None for i in a[1])
            r = x.index_put(ind, env[a[2]], accumulate=a[3])
        # in place
        elif op == "fill_": x.fill_(a[1])
        elif op == "zero_": x.zero_()
        elif op == "add_": x.add_(a[1])
        elif op == "mul_": x.mul_(a[1])
        elif op == "mul_t_": x.mul_(env[a[1]])
        elif op == "add_t_": x.add_(env[a[1]])
        elif op == "clamp_": x.clamp_(a[1], a[2])
        elif op == "copy_":
            if a[1] not in env:  # a source made here: its values go into the program
                src = torch.randn(x.shape, dtype=x.dtype)
                env[a[1]] = src
                s["src_values"] = src.flatten().tolist()
            x.copy_(env[a[1]])
        elif op == "masked_fill_": x.masked_fill_(env[a[1]], a[2])
        elif op == "index_put_": x[make_index(env, a[1])] = env[a[2]]
        elif op == "index_put_scalar": x[make_index(env, a[1])] = a[2]
        elif op == "index_put_acc": x.index_put_(tuple(env[i] for i in a[1]), env[a[2]], accumulate=True)
        elif op == "assign_row": x[a[1]] = env[a[2]]
        else:
            raise ValueError(op)
        if s["out"] is not None:
            env[s["out"]] = r
    return leaves


def describe(t):
    d = {"shape": list(t.shape), "strides": list(t.stride()), "offset": t.storage_offset(),
         "dtype": str(t.dtype).replace("torch.", ""), "values": t.detach().flatten().tolist()}
    if t.dtype == torch.bool:
        d["values"] = [int(v) for v in d["values"]]
    return d


def storage_id(t):
    return t.storage().data_ptr()


def main():
    out = {"generator": "tests/data/make_views.py", "torch": torch.__version__, "programs": []}
    for name, prog in list(PROGRAMS.items()) + list(GRAD_PROGRAMS.items()):
        env = {}
        leaves = run(prog, env)
        case = {"name": name, "statements": prog, "tensors": {}, "shares": {}, "grads": {}}
        if "L" in env and env["L"].requires_grad:
            try:
                env["L"].backward()
            except RuntimeError as e:  # what PyTorch refuses, ag must refuse too
                case["backward_error"] = str(e).split(":")[0]
            else:
                for l in leaves:
                    g = env[l].grad
                    case["grads"][l] = g.flatten().tolist() if g is not None else None
        names = [k for k in env if isinstance(env[k], torch.Tensor)]
        for k in names:
            case["tensors"][k] = describe(env[k])
        for k in names:
            case["shares"][k] = [j for j in names if j != k and storage_id(env[j]) == storage_id(env[k])]
        out["programs"].append(case)
    print(json.dumps(out))


main()
