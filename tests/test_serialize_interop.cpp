// safetensors and .npy: round trips, files written by PyTorch and NumPy, and hostile files.

#include <nlohmann/json.hpp>

#include "test_serialize_util.h"

using ag::SerializeError;
using ag::Tensor;
using sertest::same_tensor;
using sertest::TempDir;

namespace {

const std::string kData = AG_TEST_DATA_DIR;

/// What loading `bytes` did: "ok", or the SerializeError's message. Anything else fails the test.
template <class F>
std::string outcome(F&& f) {
  try {
    f();
    return "ok";
  } catch (const SerializeError& e) {
    return e.what();
  }
}

::testing::AssertionResult contains(const std::string& text, std::initializer_list<std::string> parts) {
  for (const std::string& p : parts)
    if (text.find(p) == std::string::npos) return ::testing::AssertionFailure() << "lacks \"" << p << "\": " << text;
  return ::testing::AssertionSuccess();
}

const std::vector<ag::Shape>& all_ranks() {
  static const std::vector<ag::Shape> shapes = {{}, {0}, {5}, {3, 0}, {3, 4}, {2, 3, 4}, {2, 1, 3, 2}};
  return shapes;
}

const ag::Dtype kDtypes[] = {ag::kFloat32, ag::kFloat64, ag::kInt64};

/// |a - b| <= atol elementwise, same shape.
::testing::AssertionResult all_close(const Tensor& a, const Tensor& b, double atol) {
  if (a.shape() != b.shape()) return ::testing::AssertionFailure() << a.shape() << " vs " << b.shape();
  auto x = a.to_vector<double>(), y = b.to_vector<double>();
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!(std::abs(x[i] - y[i]) <= atol)) return ::testing::AssertionFailure() << "element " << i << ": " << x[i] << " vs " << y[i];
  return ::testing::AssertionSuccess();
}

/// A safetensors file from a header and data, with the header length in front.
std::string safetensors(const std::string& header, const std::string& data = "") {
  std::string out;
  ag::serialize::detail::store_le<std::uint64_t>(out, header.size());
  return out + header + data;
}

std::string load_st(const std::string& bytes) {
  return outcome([&] { ag::serialize::decode_safetensors(bytes, "evil.safetensors"); });
}

std::string load_npy(const std::string& bytes) {
  return outcome([&] { ag::serialize::decode_npy(bytes, "evil.npy"); });
}

/// A .npy v1.0 file from a header dict and data.
std::string npy(const std::string& dict, const std::string& data = "") {
  std::string out("\x93NUMPY\x01\x00", 8);
  ag::serialize::detail::store_le<std::uint16_t>(out, static_cast<std::uint16_t>(dict.size()));
  return out + dict + data;
}

}  // namespace

// ---- safetensors --------------------------------------------------------------------------------

TEST(Safetensors, RoundTripsEveryDtypeAndRankBitExactly) {
  ag::NamedTensors tensors;
  std::uint64_t seed = 7;
  for (ag::Dtype d : kDtypes)
    for (const ag::Shape& s : all_ranks())
      tensors.emplace_back(std::string(ag::dtype_name(d)) + ag::to_string(s), sertest::random_bits(s, d, seed++));
  std::map<std::string, std::string> metadata{{"format", "pt"}, {"note", "caf\xc3\xa9"}};
  TempDir dir;
  ag::save_safetensors(tensors, dir / "all.safetensors", metadata);
  ag::SafetensorsFile f = ag::load_safetensors(dir / "all.safetensors");
  EXPECT_EQ(f.metadata, metadata);
  ASSERT_EQ(f.tensors.size(), tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(f.tensors[i].first, tensors[i].first);
    EXPECT_TRUE(same_tensor(f.tensors[i].second, tensors[i].second)) << tensors[i].first;
  }
}

TEST(Safetensors, LayoutFollowsTheFormatRules) {
  Tensor w = ag::tensor({{1.5, -2.0, 0.25}});
  Tensor i = ag::tensor({7, -1});
  std::string bytes = ag::serialize::encode_safetensors({{"w", w}, {"i", i}}, {{"format", "pt"}});
  auto n = ag::serialize::detail::load_le<std::uint64_t>(bytes.data());
  EXPECT_EQ((8 + n) % 8, 0u);  // the data starts 8-byte aligned
  auto header = nlohmann::json::parse(bytes.substr(8, n));  // an independent parser
  EXPECT_EQ(header.at("__metadata__"), nlohmann::json({{"format", "pt"}}));
  EXPECT_EQ(header.at("w"), nlohmann::json::parse(R"({"dtype": "F32", "shape": [1, 3], "data_offsets": [0, 12]})"));
  EXPECT_EQ(header.at("i"), nlohmann::json::parse(R"({"dtype": "I64", "shape": [2], "data_offsets": [12, 28]})"));
  const float wf[] = {1.5f, -2.0f, 0.25f};
  const std::int64_t iv[] = {7, -1};
  EXPECT_EQ(bytes.substr(8 + n), std::string(reinterpret_cast<const char*>(wf), 12) +
                                     std::string(reinterpret_cast<const char*>(iv), 16));
}

TEST(Safetensors, ReadsAFileWrittenByPyTorch) {
  // tests/data/torch_linear.safetensors: torch.nn.Linear(4, 3), an input and torch's output for it
  // (see make_serialize_interop.py).
  ag::SafetensorsFile f = ag::load_safetensors(kData + "/torch_linear.safetensors");
  EXPECT_EQ(f.metadata.at("format"), "pt");
  std::map<std::string, Tensor> t(f.tensors.begin(), f.tensors.end());
  ASSERT_EQ(t.size(), 7u);
  EXPECT_EQ(t.at("fc.weight").dtype(), ag::kFloat32);
  EXPECT_EQ(t.at("fc.weight").shape(), ag::Shape({3, 4}));
  EXPECT_EQ(t.at("fc.bias").shape(), ag::Shape({3}));
  EXPECT_EQ(t.at("input").shape(), ag::Shape({2, 4}));
  EXPECT_EQ(t.at("input_f64").dtype(), ag::kFloat64);
  EXPECT_EQ(t.at("target").dtype(), ag::kInt64);
  EXPECT_EQ(t.at("target").to_vector<std::int64_t>(), (std::vector<std::int64_t>{2, 0}));

  // y = x W^T + b, as nn.Linear computes it: ag gives torch's output.
  auto linear = [](const Tensor& x, const Tensor& w, const Tensor& b) {
    return (x.unsqueeze(1) * w.unsqueeze(0)).sum(2) + b;
  };
  EXPECT_TRUE(all_close(linear(t.at("input"), t.at("fc.weight"), t.at("fc.bias")), t.at("output"), 1e-6));
  EXPECT_TRUE(all_close(linear(t.at("input_f64"), t.at("fc.weight").to(ag::kFloat64), t.at("fc.bias").to(ag::kFloat64)),
                        t.at("output_f64"), 1e-12));
  EXPECT_TRUE(same_tensor(t.at("input_f64").to(ag::kFloat32), t.at("input")));
}

TEST(Safetensors, TruncationAtEveryByteIsRejected) {
  std::string torch_file = sertest::read_bytes(kData + "/torch_linear.safetensors");
  std::string ag_file = ag::serialize::encode_safetensors({{"w", ag::ones({2, 2})}, {"i", ag::tensor({1, 2})}});
  for (const std::string* bytes : {&torch_file, &ag_file})
    for (std::size_t n = 0; n < bytes->size(); ++n)
      ASSERT_NE(load_st(bytes->substr(0, n)), "ok") << "cut at " << n << " of " << bytes->size();
}

TEST(Safetensors, EveryBitFlipGivesAnErrorOrAWellFormedFile) {
  // safetensors has no checksum: a flip in the data loads (other numbers); one in the header must
  // give SerializeError or a consistent file, never a crash or another exception.
  std::string bytes = sertest::read_bytes(kData + "/torch_linear.safetensors");
  int loaded = 0;
  for (std::size_t i = 0; i < bytes.size() * 8; ++i) {
    std::string flipped = bytes;
    flipped[i / 8] = static_cast<char>(flipped[i / 8] ^ (1 << (i % 8)));
    try {
      ag::SafetensorsFile f = ag::serialize::decode_safetensors(flipped, "flip");
      std::uint64_t total = 0;
      for (const auto& [name, t] : f.tensors) total += static_cast<std::uint64_t>(t.numel()) * ag::element_size(t.dtype());
      auto n = ag::serialize::detail::load_le<std::uint64_t>(flipped.data());
      ASSERT_EQ(total, flipped.size() - 8 - n) << "bit " << i;
      ++loaded;
    } catch (const SerializeError&) {
    }
  }
  EXPECT_GE(loaded, 188 * 8);  // at least every flip in the data
}

TEST(Safetensors, HostileHeadersAreRejectedWithTheirReason) {
  const std::string f32x2 = R"({"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})";
  std::string huge;
  ag::serialize::detail::store_le<std::uint64_t>(huge, std::uint64_t{1} << 60);
  EXPECT_TRUE(contains(load_st(huge + "{}"), {"header length", "says 1152921504606846976 bytes, but only 2 follow"}));
  EXPECT_TRUE(contains(load_st("\x05\0\0"), {"fewer than the 8-byte header length"}));
  EXPECT_TRUE(contains(load_st(safetensors(R"({"a": )" + f32x2 + "}", std::string(9, '\0'))),
                       {"data", "1 bytes after the last tensor"}));
  EXPECT_TRUE(contains(load_st(safetensors(R"({"a": )" + f32x2 + "}", std::string(4, '\0'))),
                       {"tensor 'a' data_offsets", "not a range within the 4 bytes"}));
  EXPECT_TRUE(contains(load_st(safetensors(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})",
                                           std::string(8, '\0'))),
                       {"holds 8 bytes, but shape [3] of F32 needs 12"}));
  EXPECT_TRUE(contains(load_st(safetensors(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                              "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                                           std::string(8, '\0'))),
                       {"overlaps the previous tensor"}));
  EXPECT_TRUE(contains(load_st(safetensors(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                                           std::string(8, '\0'))),
                       {"leaving 4 bytes unused"}));
  EXPECT_TRUE(contains(load_st(safetensors(R"({"a": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}})",
                                           std::string(8, '\0'))),
                       {"[8, 0] is not a range"}));
  EXPECT_TRUE(contains(load_st(safetensors(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [18446744073709551612, 18446744073709551615]}})")),
                       {"not a range"}));
  EXPECT_TRUE(contains(load_st(safetensors(R"({"a": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}})", "\0\0")),
                       {"tensor 'a' dtype", "'BF16' is not supported", "F32, F64 and I64"}));
  EXPECT_TRUE(contains(load_st(safetensors(R"({"a": )" + f32x2 + R"(, "a": )" + f32x2 + "}", std::string(8, '\0'))),
                       {"'a' appears twice"}));
  EXPECT_TRUE(contains(load_st(safetensors(R"({"__metadata__": {"k": 1}})")), {"__metadata__ 'k'", "expected a string"}));
  EXPECT_TRUE(contains(load_st(safetensors(R"({"__metadata__": []})")), {"__metadata__", "expected an object"}));
  EXPECT_TRUE(contains(load_st(safetensors(R"({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}})")),
                       {"-1", "expected a size >= 0"}));
  EXPECT_TRUE(contains(load_st(safetensors(R"({"a": {"dtype": "F32", "shape": [1,1,1,1,1,1,1,1,1], "data_offsets": [0, 4]}})",
                                           std::string(4, '\0'))),
                       {"9 dimensions"}));
  EXPECT_TRUE(contains(load_st(safetensors(R"({"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})")),
                       {"more than 2^48"}));
  EXPECT_TRUE(contains(load_st(safetensors(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}})",
                                           std::string(8, '\0'))),
                       {"expected [begin, end]"}));
  EXPECT_TRUE(contains(load_st(safetensors(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0.0, 4]}})",
                                           std::string(4, '\0'))),
                       {"non-negative integers"}));
  EXPECT_TRUE(contains(load_st(safetensors(R"({"a": {"dtype": "F32", "shape": [], "data_offsets": [0, 4], "x": 1}})",
                                           std::string(4, '\0'))),
                       {"unexpected key 'x'"}));
  EXPECT_TRUE(contains(load_st(safetensors("[]")), {"header", "expected a JSON object"}));
  EXPECT_TRUE(contains(load_st(safetensors(R"({"a": 1} x)")), {"invalid JSON"}));
  EXPECT_TRUE(contains(load_st(safetensors("{" + std::string(1000000, '['))), {"invalid JSON"}));
  EXPECT_TRUE(contains(load_st(safetensors(R"({"a": )" + std::string(1000000, '[') + std::string(1000000, ']') + "}")),
                       {"tensor 'a'", "expected a JSON object, got an array"}));
  EXPECT_EQ(load_st(safetensors("{}")), "ok");
}

TEST(Safetensors, NumbersRapidjsonMisparsesAreNotTrusted) {
  // Found by fuzz_safetensors: rapidjson 1.1.0 parses 0e300 and 1844674407370955161595 as garbage
  // doubles; ag converts number text itself, and sizes and offsets must be integers anyway.
  EXPECT_TRUE(contains(load_st(safetensors(R"({"a": {"dtype": "F32", "shape": [0e300], "data_offsets": [0, 0]}})")),
                       {"shape[0]", "expected an integer in the int64 range, got the number 0"}));
  EXPECT_TRUE(contains(load_st(safetensors(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 1844674407370955161595]}})")),
                       {"data_offsets", "non-negative integers", "1.8446744073709552e+21"}));
}

TEST(Safetensors, SavingRefusesWhatItCannotWrite) {
  TempDir dir;
  auto save = [&](const ag::NamedTensors& t, std::map<std::string, std::string> m = {}) {
    return outcome([&] { ag::save_safetensors(t, dir / "x.safetensors", m); });
  };
  EXPECT_TRUE(contains(save({{"w", ag::ones({1})}, {"w", ag::ones({1})}}), {"tensor 'w'", "appears twice"}));
  EXPECT_TRUE(contains(save({{"__metadata__", ag::ones({1})}}), {"reserved"}));
  EXPECT_TRUE(contains(save({{"w", Tensor()}}), {"undefined"}));
  EXPECT_TRUE(contains(save({{"\xff", ag::ones({1})}}), {"not valid UTF-8"}));
  EXPECT_TRUE(contains(save({}, {{"k", "\xc3"}}), {"not valid UTF-8"}));
  EXPECT_TRUE(dir.files().empty());
}

// ---- .npy ---------------------------------------------------------------------------------------

TEST(Npy, RoundTripsEveryDtypeAndRankBitExactly) {
  TempDir dir;
  std::uint64_t seed = 11;
  for (ag::Dtype d : kDtypes)
    for (const ag::Shape& s : all_ranks()) {
      Tensor t = sertest::random_bits(s, d, seed++);
      ag::save_npy(t, dir / "t.npy");
      EXPECT_TRUE(same_tensor(ag::load_npy(dir / "t.npy"), t)) << d << " " << s;
    }
}

TEST(Npy, ReadsFilesWrittenByNumPy) {
  Tensor a = ag::load_npy(kData + "/numpy_f4_2x3.npy");  // np.arange(6).reshape(2, 3) / 4
  EXPECT_TRUE(same_tensor(a, ag::tensor(std::vector<float>{0, 0.25f, 0.5f, 0.75f, 1, 1.25f}, {2, 3})));
  Tensor s = ag::load_npy(kData + "/numpy_f8_scalar.npy");
  EXPECT_TRUE(same_tensor(s, ag::scalar_tensor(-2.5, ag::kFloat64)));
  Tensor i = ag::load_npy(kData + "/numpy_i8_5.npy");
  EXPECT_TRUE(same_tensor(i, ag::tensor(std::vector<std::int64_t>{-3, 0, 7, std::int64_t{1} << 40, -(std::int64_t{1} << 62)}, {5})));
  Tensor e = ag::load_npy(kData + "/numpy_f4_empty_0x3.npy");
  EXPECT_TRUE(same_tensor(e, ag::zeros({0, 3})));
  Tensor v2 = ag::load_npy(kData + "/numpy_f8_v2.npy");  // format version 2.0
  EXPECT_TRUE(same_tensor(v2, ag::tensor(std::vector<double>{0, 1, 2, 3}, {2, 2})));
}

TEST(Npy, WritesByteForByteWhatNumPyWrites) {
  for (const char* name : {"numpy_f4_2x3.npy", "numpy_f8_scalar.npy", "numpy_i8_5.npy", "numpy_f4_empty_0x3.npy"}) {
    std::string numpy_bytes = sertest::read_bytes(kData + "/" + name);
    EXPECT_EQ(ag::serialize::encode_npy(ag::serialize::decode_npy(numpy_bytes)), numpy_bytes) << name;
  }
}

TEST(Npy, RefusesLayoutsItDoesNotHaveWithAWayOut) {
  auto load = [](const char* name) { return outcome([&] { ag::load_npy(kData + "/" + name); }); };
  EXPECT_TRUE(contains(load("numpy_f4_fortran.npy"), {"numpy_f4_fortran.npy", "fortran_order", "np.ascontiguousarray"}));
  EXPECT_TRUE(contains(load("numpy_f4_bigendian.npy"), {"descr", "big-endian", "astype('<f4')"}));
  EXPECT_TRUE(contains(load("numpy_i4.npy"), {"descr", "'<i4' is not supported", "'<f4', '<f8' and '<i8'"}));
}

TEST(Npy, TruncationAtEveryByteIsRejected) {
  for (const char* name : {"numpy_f4_2x3.npy", "numpy_f8_v2.npy"}) {
    std::string bytes = sertest::read_bytes(kData + "/" + name);
    for (std::size_t n = 0; n < bytes.size(); ++n) ASSERT_NE(load_npy(bytes.substr(0, n)), "ok") << name << " cut at " << n;
  }
}

TEST(Npy, EveryBitFlipGivesAnErrorOrAWellFormedTensor) {
  std::string bytes = sertest::read_bytes(kData + "/numpy_f4_2x3.npy");
  for (std::size_t i = 0; i < bytes.size() * 8; ++i) {
    std::string flipped = bytes;
    flipped[i / 8] = static_cast<char>(flipped[i / 8] ^ (1 << (i % 8)));
    try {
      Tensor t = ag::serialize::decode_npy(flipped, "flip");
      ASSERT_EQ(t.numel() * static_cast<std::int64_t>(ag::element_size(t.dtype())), 24) << "bit " << i;
    } catch (const SerializeError&) {
    }
  }
}

TEST(Npy, HostileHeadersAreRejectedWithTheirReason) {
  const std::string ok_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n";
  EXPECT_EQ(load_npy(npy(ok_dict, std::string(8, '\0'))), "ok");
  EXPECT_TRUE(contains(load_npy(npy(ok_dict, std::string(12, '\0'))),
                       {"needs 8 bytes, the file has 12", "unexpected bytes at the end"}));
  EXPECT_TRUE(contains(load_npy(npy(ok_dict, std::string(7, '\0'))), {"needs 8 bytes, the file has 7", "truncated"}));
  EXPECT_TRUE(contains(load_npy("GIF89a...."), {"magic", "a NumPy .npy file"}));
  std::string v9 = npy(ok_dict, std::string(8, '\0'));
  v9[6] = 9;
  EXPECT_TRUE(contains(load_npy(v9), {"version", "9.0 is not a known .npy version"}));
  std::string long_header = npy(ok_dict);
  long_header[8] = '\xff';
  long_header[9] = '\xff';
  EXPECT_TRUE(contains(load_npy(long_header), {"header length", "says 65535 bytes"}));
  std::string v2("\x93NUMPY\x02\x00\xff\xff\xff\xff", 12);
  EXPECT_TRUE(contains(load_npy(v2 + ok_dict), {"header length", "says 4294967295 bytes"}));
  EXPECT_TRUE(contains(load_npy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1152921504606846976,), }")),
                       {"shape", "2^48"}));
  EXPECT_TRUE(contains(load_npy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }")),
                       {"more than 8 dimensions"}));
  EXPECT_TRUE(contains(load_npy(npy("{'descr': '<f4', 'fortran_order': False}")), {"shape", "missing"}));
  EXPECT_TRUE(contains(load_npy(npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}")),
                       {"descr", "appears twice"}));
  EXPECT_TRUE(contains(load_npy(npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}")),
                       {"structured dtypes"}));
  EXPECT_TRUE(contains(load_npy(npy("{'descr': '<f4, 'fortran_order': False, 'shape': ()}")), {"expected '}' at byte 17, got 'f'"}));
  EXPECT_TRUE(contains(load_npy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': ()} junk")),
                       {"unexpected text after the closing '}'"}));
  EXPECT_TRUE(contains(load_npy(npy("{'descr': '<f4', 'fortran_order': Maybe, 'shape': ()}")), {"True or False"}));
  EXPECT_TRUE(contains(load_npy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}")),
                       {"expected a size or ')'"}));
  EXPECT_TRUE(contains(load_npy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}")), {"expected ')'"}));
  EXPECT_TRUE(contains(load_npy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}")),
                       {"unexpected key 'x'"}));
  EXPECT_TRUE(contains(load_npy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,")), {"expected a size or ')'"}));
}
