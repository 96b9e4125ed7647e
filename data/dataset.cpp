#include "ag/data/dataset.h"

#include <numeric>

namespace ag::data::detail {

std::vector<std::int64_t> split_lengths(std::int64_t n, const std::vector<double>& lengths) {
  AG_CHECK(!lengths.empty(), "random_split: no lengths given");
  const double sum = std::accumulate(lengths.begin(), lengths.end(), 0.0);
  std::vector<std::int64_t> out;
  // PyTorch: fractions when they sum to 1 (math.isclose) and not above.
  if (std::abs(sum - 1.0) <= 1e-9 * std::max(std::abs(sum), 1.0) && sum <= 1.0) {
    for (std::size_t i = 0; i < lengths.size(); ++i) {
      AG_CHECK(lengths[i] >= 0.0 && lengths[i] <= 1.0, "random_split: fraction ", lengths[i], " at index ", i,
               " is not between 0 and 1");
      out.push_back(static_cast<std::int64_t>(std::floor(static_cast<double>(n) * lengths[i])));
    }
    std::int64_t remainder = n - std::accumulate(out.begin(), out.end(), std::int64_t{0});
    for (std::int64_t i = 0; i < remainder; ++i) ++out[static_cast<std::size_t>(i) % out.size()];
    return out;
  }
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    AG_CHECK(lengths[i] >= 0.0 && std::floor(lengths[i]) == lengths[i], "random_split: length ", lengths[i],
             " at index ", i, " is neither a whole number >= 0 nor part of fractions that sum to 1");
    out.push_back(static_cast<std::int64_t>(lengths[i]));
  }
  std::int64_t total = std::accumulate(out.begin(), out.end(), std::int64_t{0});
  AG_CHECK(total == n, "random_split: the lengths sum to ", total, " but the dataset has ", n, " examples");
  return out;
}

std::vector<std::vector<std::int64_t>> split_indices(const std::vector<std::int64_t>& lengths, Generator* generator) {
  std::int64_t total = std::accumulate(lengths.begin(), lengths.end(), std::int64_t{0});
  std::vector<std::int64_t> perm = randperm(total, kInt64, generator).to_vector<std::int64_t>();
  std::vector<std::vector<std::int64_t>> parts;
  auto at = perm.begin();
  for (std::int64_t length : lengths) {
    parts.emplace_back(at, at + length);
    at += length;
  }
  return parts;
}

}  // namespace ag::data::detail
