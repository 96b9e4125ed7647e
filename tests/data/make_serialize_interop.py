"""Provenance of the interop files used by tests/test_serialize_interop.cpp (not run by the tests).

Run once with PyTorch 1.13 and NumPy: python3 make_serialize_interop.py
- torch_linear.safetensors: a torch.nn.Linear(4, 3)'s state dict, an input batch and torch's output
  for it (float32 and float64), and int64 targets, laid out by the safetensors format rules (the
  `safetensors` package is not needed: the format is an 8-byte little-endian header length, a JSON
  header, and the raw little-endian data).
- numpy_*.npy: arrays written by numpy.save (and one by write_array with format version 2.0),
  including layouts ag must refuse (Fortran order, big-endian, int32).
"""
import json
import struct

import numpy as np
import torch

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}


def save_safetensors(tensors, path, metadata):
    # Like the reference writer: larger elements first, then by name; header padded to 8 bytes.
    names = sorted(tensors, key=lambda n: (-tensors[n].element_size(), n))
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for n in names:
        t = tensors[n].contiguous()
        data = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[n] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


torch.manual_seed(0)
fc = torch.nn.Linear(4, 3)
x = torch.randn(2, 4)
with torch.no_grad():
    y = fc(x)
    fc64 = torch.nn.Linear(4, 3).double()
    fc64.load_state_dict({k: v.double() for k, v in fc.state_dict().items()})
    y64 = fc64(x.double())
save_safetensors({"fc.weight": fc.weight.detach(), "fc.bias": fc.bias.detach(), "input": x, "output": y,
                  "input_f64": x.double(), "output_f64": y64, "target": torch.tensor([2, 0])},
                 "torch_linear.safetensors", {"format": "pt", "source": "torch 1.13 nn.Linear(4, 3)"})

np.save("numpy_f4_2x3.npy", np.arange(6, dtype="<f4").reshape(2, 3) / np.float32(4))
np.save("numpy_f8_scalar.npy", np.array(-2.5, dtype="<f8"))
np.save("numpy_i8_5.npy", np.array([-3, 0, 7, 2**40, -2**62], dtype="<i8"))
np.save("numpy_f4_empty_0x3.npy", np.zeros((0, 3), dtype="<f4"))
with open("numpy_f8_v2.npy", "wb") as f:
    np.lib.format.write_array(f, np.arange(4, dtype="<f8").reshape(2, 2), version=(2, 0))
np.save("numpy_f4_fortran.npy", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
np.save("numpy_f4_bigendian.npy", np.arange(3, dtype=">f4"))
np.save("numpy_i4.npy", np.arange(3, dtype="<i4"))
