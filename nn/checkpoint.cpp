#include "ag/nn/checkpoint.h"

#include <memory>
#include <vector>

namespace ag::nn {

Tensor checkpoint_sequential(Sequential& seq, std::int64_t segments, const Tensor& x) {
  std::vector<std::shared_ptr<Module>> layers = seq.children();
  const auto n = static_cast<std::int64_t>(layers.size());
  AG_CHECK(segments >= 1, "checkpoint_sequential: segments must be at least 1, got ", segments);
  AG_CHECK(n > 0, "checkpoint_sequential: the Sequential is empty");
  auto run = [&layers](std::int64_t first, std::int64_t last) {
    // by value: backward runs the segment again, long after this call returned
    return [layers, first, last](const std::vector<Tensor>& in) {
      Tensor h = in[0];
      for (std::int64_t i = first; i <= last; ++i) h = (*layers[static_cast<std::size_t>(i)])(h);
      return h;
    };
  };
  const std::int64_t size = n / segments;  // PyTorch's split: the last segment takes the rest
  Tensor h = x;
  std::int64_t end = -1;
  for (std::int64_t start = 0; start < size * (segments - 1); start += size) {
    end = start + size - 1;
    h = checkpoint(run(start, end), {h});
  }
  return run(end + 1, n - 1)({h});
}

}  // namespace ag::nn
