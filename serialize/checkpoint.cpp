#include "ag/serialize/checkpoint.h"

#include "ag/autograd/generator.h"
#include "ag/serialize/error.h"
#include "ag/serialize/io.h"
#include "ag/serialize/torch_format.h"

namespace ag {

namespace {

// Name prefixes inside the archive, and the value telling what kind of file it is.
constexpr const char* kKind = "ag.kind";
constexpr const char* kModel = "model";
constexpr const char* kOptimizer = "optimizer";
constexpr const char* kScheduler = "scheduler";
constexpr const char* kGenerator = "generator";
constexpr const char* kMeta = "meta";

NamedTensors items(const nn::StateDict& d) { return d.items(); }

void put_state(Archive& a, const char* prefix, const optim::StateDict& s) {
  a.set_tensors(prefix, s.tensors.items());
  for (const auto& [name, value] : s.scalars.items()) a.set(std::string(prefix) + "." + name, value);
}

optim::StateDict get_state(const Archive& a, const char* prefix, const std::string& path) {
  optim::StateDict s;
  for (const auto& [name, t] : a.tensors_with_prefix(prefix)) s.tensors.insert(name, t);
  for (const auto& [name, v] : a.values_with_prefix(prefix)) {
    if (const double* d = std::get_if<double>(&v)) s.scalars.insert(name, *d);
    else throw SerializeError(path, std::string(prefix) + "." + name, std::string("expected float64, it holds ") + value_type_name(v));
  }
  return s;
}

void copy_value(Archive& a, const std::string& name, const ArchiveValue& v) {
  std::visit([&](const auto& x) { a.set(name, x); }, v);
}

/// `s` with every tensor copied, so that later steps cannot change it.
optim::StateDict cloned(const optim::StateDict& s) {
  optim::StateDict out;
  out.scalars = s.scalars;
  for (const auto& [name, t] : s.tensors.items()) out.tensors.insert(name, t.clone());
  return out;
}

bool has_prefix(const Archive& a, const std::string& prefix) {
  return !a.tensors_with_prefix(prefix).empty() || !a.values_with_prefix(prefix).empty();
}

/// Runs a load_state_dict, naming the file in its error.
template <class F>
auto naming(const std::string& path, const char* what, F&& load) {
  try {
    return load();
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(path + ": the " + what + " in this file does not fit: " + e.what());
  }
}

}  // namespace

void save(const nn::Module& module, const std::string& path, ArchiveFormat format) {
  Archive a;
  a.set(kKind, "model");
  a.set_tensors(kModel, items(module.state_dict()));
  save_archive(a, path, format);
}

nn::IncompatibleKeys load(nn::Module& module, const std::string& path, bool strict) {
  if (is_torch_file(path)) return load_torch(module, path, strict);
  Archive a = load_archive(path);
  nn::StateDict dict;
  for (const auto& [name, t] : a.tensors_with_prefix(kModel)) dict.insert(name, t);
  if (!a.has_value(kKind)) throw SerializeError(path, kKind, "missing: this is not a model or checkpoint file written by ag::save");
  const ArchiveValue& kind = a.value(kKind);
  if (kind != ArchiveValue(std::string("model")) && kind != ArchiveValue(std::string("checkpoint")))
    throw SerializeError(path, kKind, "expected \"model\" or \"checkpoint\", got " +
                                          (std::holds_alternative<std::string>(kind)
                                               ? serialize::detail::quote(std::get<std::string>(kind))
                                               : std::string("a ") + value_type_name(kind)) +
                                          ": this is not a file written by ag::save or ag::save_checkpoint");
  return naming(path, "model", [&] { return module.load_state_dict(dict, strict); });
}

void save_safetensors(const nn::Module& module, const std::string& path) {
  save_safetensors(module.state_dict().items(), path);
}

nn::IncompatibleKeys load_safetensors(nn::Module& module, const std::string& path, bool strict) {
  SafetensorsFile file = load_safetensors(path);
  nn::StateDict dict;
  for (auto& [name, t] : file.tensors) dict.insert(name, t);
  return naming(path, "state_dict", [&] { return module.load_state_dict(dict, strict); });
}

void save_checkpoint(const std::string& path, const Checkpoint& ck, ArchiveFormat format) {
  Archive a;
  a.set(kKind, "checkpoint");
  a.set_tensors(kModel, items(ck.model));
  if (ck.optimizer) put_state(a, kOptimizer, *ck.optimizer);
  if (ck.scheduler) put_state(a, kScheduler, *ck.scheduler);
  if (ck.generator) a.set_generator_state(kGenerator, *ck.generator);
  for (const auto& [name, value] : ck.metadata.values()) copy_value(a, std::string(kMeta) + "." + name, value);
  a.set_tensors(kMeta, ck.metadata.tensors());
  save_archive(a, path, format);
}

Checkpoint load_checkpoint(const std::string& path) {
  Archive a = load_archive(path);
  if (!a.has_value(kKind) || a.value(kKind) != ArchiveValue(std::string("checkpoint")))
    throw SerializeError(path, kKind, "expected \"checkpoint\": this is not a file written by ag::save_checkpoint");
  Checkpoint ck;
  for (const auto& [name, t] : a.tensors_with_prefix(kModel)) ck.model.insert(name, t);
  if (has_prefix(a, kOptimizer)) ck.optimizer = get_state(a, kOptimizer, path);
  if (has_prefix(a, kScheduler)) ck.scheduler = get_state(a, kScheduler, path);
  if (!a.values_with_prefix(kGenerator).empty()) ck.generator = a.generator_state(kGenerator);
  for (const auto& [name, value] : a.values_with_prefix(kMeta)) copy_value(ck.metadata, name, value);
  ck.metadata.set_tensors("", a.tensors_with_prefix(kMeta));
  return ck;
}

void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer* optimizer,
                     const optim::LRScheduler* scheduler, const Archive& metadata) {
  Checkpoint ck;
  ck.model = model.state_dict();
  if (optimizer) ck.optimizer = optimizer->state_dict();
  if (scheduler) ck.scheduler = scheduler->state_dict();
  ck.generator = default_generator().get_state();
  for (const auto& [name, value] : metadata.values()) copy_value(ck.metadata, name, value);
  ck.metadata.set_tensors("", metadata.tensors());
  save_checkpoint(path, ck);
}

Archive load_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer* optimizer,
                        optim::LRScheduler* scheduler) {
  Checkpoint ck = load_checkpoint(path);
  if (optimizer && !ck.optimizer) throw SerializeError(path, kOptimizer, "missing: the checkpoint holds no optimizer state");
  if (scheduler && !ck.scheduler) throw SerializeError(path, kScheduler, "missing: the checkpoint holds no scheduler state");
  // All or nothing: each part is loaded in turn (each load_state_dict checks its whole dict before
  // changing anything), and if any part is refused, the parts already loaded are put back.
  nn::StateDict model_before;
  for (const auto& [name, t] : model.state_dict().items()) model_before.insert(name, t.clone());
  std::optional<optim::StateDict> optimizer_before, scheduler_before;
  if (optimizer) optimizer_before = cloned(optimizer->state_dict());
  if (scheduler) scheduler_before = scheduler->state_dict();
  const GeneratorState generator_before = default_generator().get_state();
  int loaded = 0;  // how many of model, optimizer, scheduler were changed
  try {
    naming(path, "model", [&] { return model.load_state_dict(ck.model); });
    loaded = 1;
    if (optimizer) naming(path, "optimizer state", [&] { optimizer->load_state_dict(*ck.optimizer); return 0; });
    loaded = 2;
    if (scheduler) naming(path, "scheduler state", [&] { scheduler->load_state_dict(*ck.scheduler); return 0; });
    loaded = 3;
    if (ck.generator) default_generator().set_state(*ck.generator);
  } catch (...) {
    if (loaded >= 1) model.load_state_dict(model_before);
    if (loaded >= 2 && optimizer) optimizer->load_state_dict(*optimizer_before);
    if (loaded >= 3) {
      if (scheduler) scheduler->load_state_dict(*scheduler_before);
      default_generator().set_state(generator_before);
    }
    throw;
  }
  return ck.metadata;
}

}  // namespace ag
