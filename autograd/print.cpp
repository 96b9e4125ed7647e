// Printing in PyTorch's format: 4 decimals, aligned columns, scientific notation when the range
// calls for it, summaries with "..." past 1000 elements, and the grad_fn / requires_grad suffix.

#include <cmath>
#include <cstdio>
#include <sstream>

#include "ag/autograd/node.h"
#include "ag/autograd/tensor_impl.h"

namespace ag {

namespace {

constexpr int kPrecision = 4;
constexpr std::int64_t kThreshold = 1000;
constexpr std::int64_t kEdgeItems = 3;
constexpr std::int64_t kLineWidth = 80;

std::string printf_str(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

class Formatter {
 public:
  Formatter(const std::vector<double>& values, Dtype dtype) : floating_(is_floating(dtype)), bool_(dtype == kBool) {
    if (bool_) {  // "True" and "False", right-aligned as PyTorch: tensor([ True, False])
      for (double v : values) width_ = std::max<std::size_t>(width_, v != 0 ? 4 : 5);
      return;
    }
    if (!floating_) {
      for (double v : values) width_ = std::max(width_, printf_str("%.0f", v).size());
      return;
    }
    double lo = INFINITY, hi = 0;
    bool any = false;
    for (double v : values) {
      if (!std::isfinite(v) || v == 0) continue;
      any = true;
      lo = std::min(lo, std::abs(v));
      hi = std::max(hi, std::abs(v));
      if (v != std::ceil(v)) int_mode_ = false;
    }
    if (!any) {
      for (double v : values) width_ = std::max(width_, format_raw(v).size());
      return;
    }
    if (int_mode_) sci_ = hi / lo > 1000.0 || hi > 1e8;
    else sci_ = hi / lo > 1000.0 || hi > 1e8 || lo < 1e-4;
    for (double v : values)
      if (std::isfinite(v) && v != 0) width_ = std::max(width_, format_raw(v).size());
  }

  std::string format(double v) const {
    std::string s = format_raw(v);
    return std::string(width_ > s.size() ? width_ - s.size() : 0, ' ') + s;
  }
  std::size_t width() const { return width_; }

 private:
  std::string format_raw(double v) const {
    if (bool_) return v != 0 ? "True" : "False";
    if (!floating_) return printf_str("%.0f", v);
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    if (sci_) return printf_str("%.4e", v);
    if (int_mode_) return printf_str("%.0f", v) + ".";
    return printf_str("%.4f", v);
  }

  bool floating_;
  bool bool_;
  bool int_mode_ = true;
  bool sci_ = false;
  std::size_t width_ = 1;
};

struct Printer {
  const std::vector<double>& values;
  const Shape& shape;
  const Formatter& fmt;
  bool summarize;

  // Prints the sub-tensor at dimension `d` starting at flat `offset`.
  std::string str(std::size_t d, std::int64_t offset, std::size_t indent) const {
    std::int64_t n = shape[d], stride = 1;
    for (std::size_t k = d + 1; k < shape.size(); ++k) stride *= shape[k];
    bool cut = summarize && n > 2 * kEdgeItems;
    auto indices = [&] {
      std::vector<std::int64_t> idx;
      for (std::int64_t i = 0; i < n; ++i)
        if (!cut || i < kEdgeItems || i >= n - kEdgeItems) idx.push_back(i);
      return idx;
    }();
    if (d + 1 == shape.size()) {
      std::vector<std::string> items;
      for (std::int64_t i : indices) {
        if (cut && i == n - kEdgeItems) items.push_back(" ...");
        items.push_back(fmt.format(values[offset + i]));
      }
      auto per_line = std::max<std::int64_t>(1, (kLineWidth - static_cast<std::int64_t>(indent)) /
                                                    static_cast<std::int64_t>(fmt.width() + 2));
      std::string out = "[";
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += (static_cast<std::int64_t>(i) % per_line == 0) ? ",\n" + std::string(indent + 1, ' ') : ", ";
        out += items[i];
      }
      return out + "]";
    }
    std::string sep = "," + std::string(shape.size() - d - 1, '\n') + std::string(indent + 1, ' ');
    std::string out = "[";
    bool first = true;
    for (std::int64_t i : indices) {
      if (!first) out += sep;
      if (cut && i == n - kEdgeItems) out += "..." + sep;
      out += str(d + 1, offset + i * stride, indent + 1);
      first = false;
    }
    return out + "]";
  }
};

}  // namespace

std::string Tensor::shape_str() const { return to_string(shape()); }

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  if (is_sparse()) return detail::sparse_str(*this);
  const Shape& s = shape();
  std::vector<double> values = to_vector<double>();
  std::string body;
  if (numel() == 0) {
    body = "[]";
    if (s.size() != 1) {
      body += ", size=(";
      for (std::size_t i = 0; i < s.size(); ++i) body += (i ? ", " : "") + std::to_string(s[i]);
      body += s.size() == 1 ? ",)" : ")";
    }
  } else {
    Formatter fmt(values, dtype());
    body = s.empty() ? fmt.format(values[0]) : Printer{values, s, fmt, numel() > kThreshold}.str(0, 0, 7);
  }
  std::string out = "tensor(" + body;
  if (dtype() == kFloat64) out += ", dtype=float64";
  if (grad_fn()) out += std::string(", grad_fn=<") + grad_fn()->name() + ">";
  else if (requires_grad()) out += ", requires_grad=True";
  return out + ")";
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace ag
