#pragma once
// Loads the PyTorch reference cases in tests/data/*.json (see tests/data/README.md) and compares
// ag's results with them.

#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ag/autograd/autograd.h"

namespace golden {

using json = nlohmann::json;

struct Case {
  std::string name, kind;
  json params;
  std::map<std::string, ag::Tensor> inputs, outputs, grads;
};

/// {"dtype", "shape", "data"} -> Tensor
inline ag::Tensor to_tensor(const json& t) {
  std::vector<std::int64_t> shape = t.at("shape").get<std::vector<std::int64_t>>();
  std::string dtype = t.at("dtype");
  if (dtype == "int64") return ag::tensor(t.at("data").get<std::vector<std::int64_t>>(), ag::Shape(shape));
  std::vector<double> data;
  for (const json& v : t.at("data")) data.push_back(v.is_string() ? std::stod(v.get<std::string>()) : v.get<double>());
  return ag::tensor(data, ag::Shape(shape), dtype == "float32" ? ag::kFloat32 : ag::kFloat64);
}

inline std::vector<Case> load(const std::string& file) {
  std::ifstream in(std::string(AG_TEST_DATA_DIR) + "/" + file);
  if (!in) throw std::runtime_error("cannot open test data " + file);
  json doc = json::parse(in);
  std::vector<Case> cases;
  for (const json& c : doc.at("cases")) {
    Case k;
    k.name = c.at("name");
    k.kind = c.at("kind");
    k.params = c.value("params", json::object());
    for (auto& [n, t] : c.at("inputs").items()) k.inputs[n] = to_tensor(t);
    for (auto& [n, t] : c.at("outputs").items()) k.outputs[n] = to_tensor(t);
    if (c.contains("grads"))
      for (auto& [n, t] : c.at("grads").items()) k.grads[n] = to_tensor(t);
    cases.push_back(std::move(k));
  }
  return cases;
}

/// Elementwise |actual - expected| <= tol * max(|expected|, 1e-3): relative error, with a floor
/// so that values near zero are compared at the scale of 1e-3.
inline ::testing::AssertionResult close(const ag::Tensor& actual, const ag::Tensor& expected, double tol) {
  if (!actual.defined()) return ::testing::AssertionFailure() << "result is undefined";
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << "shape " << actual.shape() << " != expected " << expected.shape();
  std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  for (std::size_t i = 0; i < a.size(); ++i) {
    bool both_nan = std::isnan(a[i]) && std::isnan(e[i]);
    if (both_nan || a[i] == e[i]) continue;
    double err = std::abs(a[i] - e[i]) / std::max(std::abs(e[i]), 1e-3);
    if (!(err <= tol))
      return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs expected " << e[i]
                                           << " (relative error " << err << " > " << tol << ")";
  }
  return ::testing::AssertionSuccess();
}

/// A fresh leaf holding `value` (integer inputs, such as class indices, stay as they are), laid
/// out contiguously, transposed (reversed dims) or as a stepped slice: the golden cases run on
/// every layout.
enum class Layout { Contiguous, Transposed, Stepped };
inline ag::Tensor leaf(const ag::Tensor& value, Layout layout = Layout::Contiguous) {
  ag::Tensor t = value;
  if (layout != Layout::Contiguous && value.numel() > 1 && (layout == Layout::Stepped || value.dim() >= 2)) {
    ag::NoGradGuard no_grad;
    ag::Shape s = value.shape();
    if (layout == Layout::Transposed) {
      std::vector<std::int64_t> rev;
      for (std::int64_t d = value.dim(); d-- > 0;) rev.push_back(d);
      t = value.permute(rev).contiguous().permute(rev);
    } else {
      s[s.size() - 1] *= 2;
      t = ag::zeros(s, value.dtype()).slice(-1, 0, std::nullopt, 2);
      t.copy_(value);
    }
  }
  t = t.detach();
  if (!value.is_floating_point()) return layout == Layout::Contiguous ? value : t;
  return (layout == Layout::Contiguous ? t.clone() : t).requires_grad_(true);
}

/// Gradients of L = sum(y * upstream) with respect to `inputs`, for cases whose inputs are fresh.
inline std::vector<ag::Tensor> grads_of(const ag::Tensor& y, const ag::Tensor& upstream, const std::vector<ag::Tensor>& inputs) {
  return ag::grad({y}, inputs, {upstream}, false, false, true);
}

/// The numbers of a printed text, as printed ("0.6614", "-1.5228", "3"), leaving out digits that
/// are part of a word (EmbeddingBackward0): to compare what ag and PyTorch print for the same values.
inline std::vector<std::string> printed_numbers(const std::string& text) {
  std::vector<std::string> out;
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (std::size_t i = 0; i < text.size(); ++i) {
    bool starts = std::isdigit(static_cast<unsigned char>(text[i])) ||
                  (text[i] == '-' && i + 1 < text.size() && std::isdigit(static_cast<unsigned char>(text[i + 1])));
    if (!starts || (i > 0 && word(text[i - 1]))) continue;
    std::size_t j = i + 1;
    while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.' || text[j] == 'e' ||
                               (text[j] == '-' && text[j - 1] == 'e')))
      ++j;
    if (j < text.size() && word(text[j])) {  // the digits begin a word
      i = j;
      continue;
    }
    out.push_back(text.substr(i, j - i));
    i = j - 1;
  }
  return out;
}

}  // namespace golden
