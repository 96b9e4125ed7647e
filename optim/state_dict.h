#pragma once
// StateDict: the state of an optimizer or a learning-rate scheduler as plain data — names to
// tensors and names to numbers — so that a checkpoint can write it as is, with no C++ types in it.

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ag/autograd/tensor.h"
#include "ag/nn/ordered_dict.h"

namespace ag::optim {

/// The state of an optimizer or scheduler: flat names to tensors and to numbers.
///
/// An optimizer writes (g counts parameter groups, i counts parameters over all groups in order,
/// as PyTorch numbers them):
///
///     param_groups.size             number of parameter groups
///     param_groups.g.size           number of parameters in group g
///     param_groups.g.<option>       each hyper-parameter: lr, momentum, beta1, eps, ...;
///                                   flags (nesterov, amsgrad, maximize) are 0 or 1
///     state.i.<name>                the state of parameter i, if it has any: tensors
///                                   (momentum_buffer, exp_avg, exp_avg_sq, max_exp_avg_sq)
///                                   and numbers (step)
///
/// A sparse state tensor (SGD's momentum buffer for an Embedding with sparse gradients) is
/// written as two tensors, `<name>.indices` (int64 [nnz]) and `<name>.values` ([nnz, ...]).
///
/// A scheduler writes `last_epoch`, `base_lrs.size`, `base_lrs.g`, `last_lrs.g` and its options
/// (`step_size`, `gamma`, `milestones.size`, `milestones.k`, `T_max`, `eta_min`, ...).
///
///     ag::optim::StateDict saved = optimizer.state_dict();
///     saved.scalars.at("param_groups.0.lr");   // 0.001
///     saved.tensors.at("state.0.exp_avg");     // the first moment of parameter 0
struct StateDict {
  nn::OrderedDict<Tensor> tensors;
  nn::OrderedDict<double> scalars;
};

/// Writes a copy of `t` under `key`; a sparse tensor as `key.indices` and `key.values`.
void write_state_tensor(StateDict& dict, const std::string& key, const Tensor& t);

/// Reads a StateDict for a `load_state_dict`: a missing or malformed entry throws
/// std::invalid_argument naming the loader and the key, and `finish()` rejects entries that no one
/// read (such as another optimizer's state).
///
///     StateDictReader r(dict, "SGD.load_state_dict");
///     double lr = r.scalar("param_groups.0.lr");
///     r.finish();
class StateDictReader {
 public:
  StateDictReader(const StateDict& dict, std::string owner) : dict_(dict), owner_(std::move(owner)) {}

  const std::string& owner() const { return owner_; }
  bool has_scalar(const std::string& key) const { return dict_.scalars.contains(key); }
  bool has_tensor(const std::string& key) const { return dict_.tensors.contains(key); }

  /// The number at `key`.
  double scalar(const std::string& key);
  /// A whole number >= `min` at `key`.
  std::int64_t integer(const std::string& key, std::int64_t min = 0);
  /// A flag stored as 0 or 1.
  bool flag(const std::string& key);
  /// A copy of the tensor at `key`, which must have `like`'s shape; converted to `like`'s dtype.
  Tensor tensor(const std::string& key, const Tensor& like);
  /// The state tensor saved by write_state_tensor under `key`, dense or sparse, checked against
  /// `like` as tensor() checks it.
  Tensor state_tensor(const std::string& key, const Tensor& like);
  /// Whether write_state_tensor wrote something under `key`.
  bool has_state_tensor(const std::string& key) const {
    return has_tensor(key) || has_tensor(key + ".indices") || has_tensor(key + ".values");
  }
  /// Throws if some entry was never read.
  void finish() const;

 private:
  const StateDict& dict_;
  std::string owner_;
  std::set<std::string> read_;
};

}  // namespace ag::optim
