#include "ag/optim/state_dict.h"

#include <cmath>
#include <sstream>

#include "ag/autograd/error.h"
#include "ag/autograd/grad_mode.h"
#include "ag/autograd/ops.h"

namespace ag::optim {

double StateDictReader::scalar(const std::string& key) {
  const double* v = dict_.scalars.find(key);
  AG_CHECK(v, owner_, ": the state dict has no number named '", key, "'");
  read_.insert("scalars/" + key);
  return *v;
}

std::int64_t StateDictReader::integer(const std::string& key, std::int64_t min) {
  double v = scalar(key);
  AG_CHECK(std::isfinite(v) && v == std::floor(v) && v >= static_cast<double>(min) && v < 9.007199254740992e15,
           owner_, ": '", key, "' must be a whole number >= ", min, ", got ", v);
  return static_cast<std::int64_t>(v);
}

bool StateDictReader::flag(const std::string& key) {
  double v = scalar(key);
  AG_CHECK(v == 0 || v == 1, owner_, ": '", key, "' must be 0 or 1, got ", v);
  return v == 1;
}

Tensor StateDictReader::tensor(const std::string& key, const Tensor& like) {
  const Tensor* t = dict_.tensors.find(key);
  AG_CHECK(t, owner_, ": the state dict has no tensor named '", key, "'");
  AG_CHECK(t->defined(), owner_, ": the tensor '", key, "' is undefined");
  AG_CHECK(t->shape() == like.shape(), owner_, ": the tensor '", key, "' has shape ", t->shape(),
           " but its parameter has shape ", like.shape());
  AG_CHECK(t->is_floating_point(), owner_, ": the tensor '", key, "' is ", t->dtype(), "; expected ", like.dtype());
  read_.insert("tensors/" + key);
  NoGradGuard no_grad;
  // A copy, so that later steps never write into the caller's dict.
  return t->dtype() == like.dtype() ? t->clone() : t->to(like.dtype());
}

Tensor StateDictReader::state_tensor(const std::string& key, const Tensor& like) {
  if (has_tensor(key)) return tensor(key, like);
  const Tensor* indices = dict_.tensors.find(key + ".indices");
  const Tensor* values = dict_.tensors.find(key + ".values");
  AG_CHECK(indices && values, owner_, ": the state dict has no tensor named '", key, "' (nor '", key,
           ".indices' and '", key, ".values' for a sparse one)");
  AG_CHECK(indices->defined() && values->defined(), owner_, ": the sparse tensor '", key, "' has an undefined part");
  AG_CHECK(values->is_floating_point(), owner_, ": '", key, ".values' is ", values->dtype(), "; expected ", like.dtype());
  read_.insert("tensors/" + key + ".indices");
  read_.insert("tensors/" + key + ".values");
  NoGradGuard no_grad;
  try {  // sparse_coo_tensor checks the indices against the parameter's rows and the values' shape
    return sparse_coo_tensor(*indices, values->to(like.dtype()), like.shape());
  } catch (const std::exception& e) {
    AG_CHECK(false, owner_, ": the sparse tensor '", key, "' does not fit its parameter of shape ", like.shape(), ": ",
             e.what());
  }
  return {};
}

void write_state_tensor(StateDict& dict, const std::string& key, const Tensor& t) {
  NoGradGuard no_grad;
  if (!t.is_sparse()) {
    dict.tensors.insert(key, t.clone());
    return;
  }
  dict.tensors.insert(key + ".indices", t.indices().reshape({t._nnz()}).clone());
  dict.tensors.insert(key + ".values", t.values().clone());
}

void StateDictReader::finish() const {
  std::ostringstream unread;
  int n = 0;
  for (const auto& [key, value] : dict_.scalars)
    if (!read_.count("scalars/" + key)) unread << (n++ ? ", " : "") << "'" << key << "'";
  for (const auto& [key, value] : dict_.tensors)
    if (!read_.count("tensors/" + key)) unread << (n++ ? ", " : "") << "'" << key << "'";
  AG_CHECK(n == 0, owner_, ": the state dict has ", n, " unexpected entr", n == 1 ? "y" : "ies", " (", unread.str(),
           "); was it saved by another kind of optimizer or scheduler?");
}

}  // namespace ag::optim
