#pragma once
// PyTorch's own files: state dicts of modules and optimizers written by torch.save (PyTorch >= 1.6,
// the zip format), read without running any of pickle's code and written so that torch.load
// (weights_only=True included) reads them back.

#include <string>
#include <string_view>

#include "ag/nn/module.h"
#include "ag/optim/optimizer.h"
#include "ag/serialize/archive.h"

namespace ag {

/// Loads a module's state_dict saved by PyTorch, `torch.save(model.state_dict(), "model.pt")`,
/// by name, with load_state_dict's checks (dtypes are converted to the module's). `ag::load`
/// does the same when it finds such a file. A file that is not a state dict (a pickled model, a
/// pre-1.6 file, a damaged or hostile one) throws SerializeError saying what was wrong and where.
///
///     ag::load_torch(model, "model.pt");
nn::IncompatibleKeys load_torch(nn::Module& module, const std::string& path, bool strict = true);

/// Saves a module's state_dict as torch.save does, atomically: in Python,
/// `model.load_state_dict(torch.load("model.pt", weights_only=True))`.
///
///     ag::save_torch(model, "model.pt");
void save_torch(const nn::Module& module, const std::string& path);

/// Loads an optimizer's state saved by PyTorch, `torch.save(opt.state_dict(), "opt.pt")`: SGD's
/// momentum buffers, Adam's and AdamW's steps and moments, and every hyper-parameter of each
/// param group. Parameters are matched by position, as PyTorch does; the optimizer is unchanged
/// unless everything fits.
///
///     ag::optim::Adam opt(model.parameters());
///     ag::load_torch(opt, "opt.pt");
void load_torch(optim::Optimizer& optimizer, const std::string& path);

/// Saves an optimizer's state in PyTorch's layout (SGD, Adam or AdamW), atomically: in Python,
/// `opt.load_state_dict(torch.load("opt.pt", weights_only=True))`.
///
///     ag::save_torch(opt, "opt.pt");
void save_torch(const optim::Optimizer& optimizer, const std::string& path);

/// The named tensors of a torch.save'd state dict, in the file's order. Tensors that share a
/// storage in the file (tied weights, views) are views of one ag storage. float16 and bfloat16
/// load as float32, int32/int16/int8/uint8 as int64, exactly.
///
///     for (auto& [name, t] : ag::load_torch_state_dict("model.pt")) std::cout << name << "\n";
NamedTensors load_torch_state_dict(const std::string& path);

/// Saves named tensors as a torch.save'd OrderedDict, atomically.
void save_torch_state_dict(const NamedTensors& tensors, const std::string& path);

/// True when the file starts as a zip file or a pre-1.6 torch.save file does.
bool is_torch_file(const std::string& path);

namespace serialize {

/// load_torch_state_dict on bytes in memory; `path` is only for messages.
NamedTensors decode_torch_state_dict(std::string_view bytes, const std::string& path);
/// The bytes save_torch_state_dict writes.
std::string encode_torch_state_dict(const NamedTensors& tensors);
/// A torch.save'd optimizer state dict, as ag's flat optim::StateDict (see optim/state_dict.h).
optim::StateDict decode_torch_optimizer(std::string_view bytes, const std::string& path);
/// An ag optimizer's state dict in PyTorch's layout; `optimizer` is "SGD", "Adam" or "AdamW".
std::string encode_torch_optimizer(const optim::StateDict& dict, const std::string& optimizer);

}  // namespace serialize
}  // namespace ag
