#include "ag/data/collate.h"

#include <cmath>

#include "ag/autograd/grad_mode.h"
#include "ag/autograd/ops.h"

namespace ag::data {

namespace {

std::string of(const std::string& field) { return field.empty() ? "" : " " + field; }

}  // namespace

Tensor pad_sequence(const std::vector<Tensor>& sequences, bool batch_first, double padding_value) {
  AG_CHECK(!sequences.empty(), "pad_sequence: received an empty list of sequences");
  const Tensor& first = sequences.front();
  AG_CHECK(first.defined(), "pad_sequence: sequence 0 is undefined");
  AG_CHECK(first.dim() >= 1, "pad_sequence: sequence 0 is 0-d; each sequence needs a length (shape [L, *])");
  std::int64_t longest = 0;
  for (std::size_t i = 0; i < sequences.size(); ++i) {
    const Tensor& s = sequences[i];
    AG_CHECK(s.defined(), "pad_sequence: sequence ", i, " is undefined");
    AG_CHECK(s.dim() == first.dim() && std::equal(s.shape().begin() + 1, s.shape().end(), first.shape().begin() + 1),
             "pad_sequence: sequence ", i, " has shape ", s.shape(), " and sequence 0 has shape ", first.shape(),
             "; all must agree after the first dimension");
    AG_CHECK(s.dtype() == first.dtype(), "pad_sequence: sequence ", i, " is ", s.dtype(), " and sequence 0 is ",
             first.dtype());
    longest = std::max(longest, s.size(0));
  }
  Scalar pad = padding_value;
  if (!is_floating(first.dtype())) {
    AG_CHECK(std::floor(padding_value) == padding_value, "pad_sequence: padding_value ", padding_value,
             " is not a whole number, and the sequences are int64");
    pad = static_cast<std::int64_t>(padding_value);
  }
  bool records = false;
  for (const Tensor& s : sequences) records = records || (s.requires_grad() && GradMode::is_enabled());
  if (!records) {
    // Nothing to differentiate (token ids, data): write each sequence into its row of a padded
    // [B, max L, *] tensor (rows of the first dimension share its storage).
    std::vector<std::int64_t> dims{static_cast<std::int64_t>(sequences.size()), longest};
    dims.insert(dims.end(), first.shape().begin() + 1, first.shape().end());
    Tensor out = full(Shape(dims), pad, first.dtype());
    for (std::size_t i = 0; i < sequences.size(); ++i)
      if (sequences[i].size(0) > 0) out[static_cast<std::int64_t>(i)].narrow(0, 0, sequences[i].size(0)).copy_(sequences[i]);
    return batch_first ? out : out.transpose(0, 1).contiguous();
  }
  std::vector<Tensor> padded;
  padded.reserve(sequences.size());
  for (const Tensor& s : sequences) {
    if (s.size(0) == longest) {
      padded.push_back(s);
      continue;
    }
    Shape tail = s.shape();
    tail[0] = longest - s.size(0);
    padded.push_back(cat({s, full(tail, pad, first.dtype())}, 0));  // [L_i, *] + [longest - L_i, *]
  }
  return stack(padded, batch_first ? 0 : 1);
}

namespace detail {

Tensor stack_field(const std::vector<Tensor>& values, const std::string& field) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    AG_CHECK(values[i].defined(), "default_collate: field", of(field), " of example ", i, " is undefined");
    AG_CHECK(values[i].shape() == values[0].shape() && values[i].dtype() == values[0].dtype(), "default_collate: field",
             of(field), " of example ", i, " is ", values[i].dtype(), " ", values[i].shape(), " but example 0's is ",
             values[0].dtype(), " ", values[0].shape(), "; stacking needs equal shapes (pad sequences with "
             "data::PadCollate, or give the DataLoader a collate function)");
  }
  return stack(values, 0);
}

Tensor pad_field(const std::vector<Tensor>& values, const std::string& field, bool batch_first, double padding_value) {
  for (std::size_t i = 0; i < values.size(); ++i)
    AG_CHECK(values[i].defined(), "PadCollate: field", of(field), " of example ", i, " is undefined");
  if (values[0].dim() == 0) return stack_field(values, field);
  return pad_sequence(values, batch_first, padding_value);
}

}  // namespace detail

}  // namespace ag::data
