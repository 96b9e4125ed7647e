#pragma once
// Checkpoints of models and of whole training runs, on top of archives: a module's state_dict,
// an optimizer's and a scheduler's state, a generator's state and user metadata, by name. No
// C++ type is stored, so renaming a class never breaks loading.

#include <optional>
#include <string>

#include "ag/nn/module.h"
#include "ag/optim/lr_scheduler.h"
#include "ag/optim/optimizer.h"
#include "ag/serialize/archive.h"
#include "ag/serialize/archive_format.h"
#include "ag/serialize/safetensors.h"

namespace ag {

/// Saves a module's state_dict (parameters and buffers by dotted name) to `path`, atomically.
///
///     ag::save(model, "model.ag");
void save(const nn::Module& module, const std::string& path, ArchiveFormat format = ArchiveFormat::Auto);

/// Loads into `module` what `save` wrote, or a state_dict written by PyTorch's torch.save
/// (recognised by its content, see load_torch). Missing, unexpected and mis-shaped keys are reported
/// as load_state_dict does (in one std::invalid_argument naming the file); a damaged file throws
/// SerializeError. Returns the missing and unexpected keys when not strict.
///
///     ag::load(model, "model.ag");
nn::IncompatibleKeys load(nn::Module& module, const std::string& path, bool strict = true);

/// Saves a module's state_dict as safetensors, the format PyTorch reads by name:
/// `model.load_state_dict(safetensors.torch.load_file("model.safetensors"))`.
///
///     ag::save_safetensors(model, "model.safetensors");
void save_safetensors(const nn::Module& module, const std::string& path);

/// Loads a safetensors file (e.g. written from PyTorch's state_dict) into `module` by name, with
/// load_state_dict's checks; float64 files load into float32 modules and vice versa.
///
///     ag::load_safetensors(model, "from_torch.safetensors");
nn::IncompatibleKeys load_safetensors(nn::Module& module, const std::string& path, bool strict = true);

/// Everything a training run needs to continue exactly where it stopped.
///
///     ag::Checkpoint ck;
///     ck.model = model.state_dict();
///     ck.optimizer = opt.state_dict();
///     ck.generator = ag::default_generator().get_state();
///     ck.metadata.set("step", step);
///     ag::save_checkpoint("run.ckpt", ck);
///
///     ag::Checkpoint back = ag::load_checkpoint("run.ckpt");
///     model.load_state_dict(back.model);
///     opt.load_state_dict(*back.optimizer);
struct Checkpoint {
  nn::StateDict model;
  std::optional<optim::StateDict> optimizer;
  std::optional<optim::StateDict> scheduler;
  std::optional<GeneratorState> generator;
  /// The caller's own values and tensors (step, epoch, notes, a DataLoader's state...).
  Archive metadata;
};

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint, ArchiveFormat format = ArchiveFormat::Auto);
/// Throws SerializeError for a damaged file or one that is not a checkpoint.
Checkpoint load_checkpoint(const std::string& path);

/// Saves a model with its optimizer (and scheduler, if any), the default generator's state and
/// `metadata`, in one call.
///
///     ag::save_checkpoint("run.ckpt", model, &opt, nullptr, meta);
void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer* optimizer = nullptr,
                     const optim::LRScheduler* scheduler = nullptr, const Archive& metadata = Archive());

/// Restores what the call above saved into `model`, `optimizer`, `scheduler` and the default
/// generator, and returns the metadata. A checkpoint of another model throws with every missing,
/// unexpected and mis-shaped key; nothing is changed unless everything fits.
Archive load_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer* optimizer = nullptr,
                        optim::LRScheduler* scheduler = nullptr);

}  // namespace ag
