// Archives: round trips in both formats, the Archive API, atomic saves, and loading of truncated,
// corrupt and hostile files, which must always end in ag::SerializeError.

#include <sys/resource.h>
#include <sys/wait.h>

#include <chrono>
#include <csignal>
#include <nlohmann/json.hpp>

#include "test_serialize_util.h"

using ag::Archive;
using ag::ArchiveFormat;
using ag::SerializeError;
using ag::Tensor;
using sertest::same_archive;
using sertest::same_tensor;
using sertest::TempDir;

namespace {

/// Runs `f`, which must throw SerializeError whose message contains every one of `parts`.
template <class F>
::testing::AssertionResult throws_serialize_error(F&& f, std::initializer_list<std::string> parts = {}) {
  try {
    f();
  } catch (const SerializeError& e) {
    std::string what = e.what();
    for (const std::string& p : parts)
      if (what.find(p) == std::string::npos)
        return ::testing::AssertionFailure() << "message lacks \"" << p << "\": " << what;
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw another exception: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

const std::vector<ag::Shape>& all_ranks() {
  static const std::vector<ag::Shape> shapes = {{}, {0}, {5}, {3, 0}, {3, 4}, {2, 3, 4}, {2, 1, 3, 2}, {1, 2, 1, 2, 1, 2, 1, 2}};
  return shapes;
}

const ag::Dtype kDtypes[] = {ag::kFloat32, ag::kFloat64, ag::kInt64};

/// A small archive with one tensor of each dtype and one value of each type.
Archive small_archive() {
  Archive a;
  a.set("fc.weight", ag::tensor({{0.5, -1.25}, {3.0, 0.1}}));
  a.set("fc.bias", ag::tensor({1e-3, 2.0}, ag::kFloat64));
  a.set("labels", ag::tensor({2, 0, 1}));
  a.set("step", 42);
  a.set("lr", 0.01);
  a.set("note", "warm");
  return a;
}

Archive round_trip(const Archive& a, ArchiveFormat format) {
  return ag::serialize::decode_archive(ag::serialize::encode_archive(a, format), "<memory>");
}

// ---- hostile binary payloads, with a valid header and CRC (as an attacker would write them) ----

struct Payload {
  std::string s{"\x01", 1};  // the byte-order byte: little-endian
  Payload& u8(std::uint8_t v) {
    s.push_back(static_cast<char>(v));
    return *this;
  }
  Payload& u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    return *this;
  }
  Payload& i64(std::int64_t v) { return u64(static_cast<std::uint64_t>(v)); }
  Payload& str(const std::string& v) {
    u64(v.size());
    s += v;
    return *this;
  }
  Payload& bytes(std::size_t n) {
    s.append(n, '\0');
    return *this;
  }
};

std::string with_header(const std::string& payload, std::uint32_t version = ag::serialize::kArchiveVersion) {
  std::string out(ag::serialize::kArchiveMagic);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((version >> (8 * i)) & 0xff));
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((std::uint64_t{payload.size()} >> (8 * i)) & 0xff));
  std::uint32_t crc = ag::serialize::crc32(payload.data(), payload.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return out + payload;
}

constexpr std::uint64_t k2p60 = std::uint64_t{1} << 60;

struct Hostile {
  std::string what, bytes, expected;
};

/// Files whose size fields would make a naive reader allocate gigabytes or read out of bounds.
std::vector<Hostile> hostile_binaries() {
  auto tensor_head = [](const std::string& name, std::uint8_t dtype, std::uint8_t rank) {
    Payload p;
    p.u64(1).str(name).u8(dtype).u8(rank);
    return p;
  };
  std::vector<Hostile> h;
  h.push_back({"tensor count 2^60", with_header(Payload().u64(k2p60).s), "tensor count"});
  h.push_back({"name length 2^60", with_header(Payload().u64(1).u64(k2p60).bytes(32).s), "tensor #0 name length"});
  h.push_back({"rank 9", with_header(tensor_head("w", 0, 9).bytes(100).s), "rank"});
  h.push_back({"size 2^60", with_header(tensor_head("w", 0, 1).u64(k2p60).u64(k2p60 * 4).s), "more than 2^48"});
  h.push_back({"sizes 2^40 x 2^40",
               with_header(tensor_head("w", 0, 2).u64(std::uint64_t{1} << 40).u64(std::uint64_t{1} << 40).u64(0).s),
               "more than 2^48"});
  h.push_back({"negative size", with_header(tensor_head("w", 0, 1).i64(-1).u64(0).s), "expected a size >= 0"});
  h.push_back({"2^30 floats and no data (a 4 GiB bomb)",
               with_header(tensor_head("w", 0, 1).u64(std::uint64_t{1} << 30).u64(std::uint64_t{1} << 32).u64(0).s),
               "data: needs 4294967296 bytes"});
  h.push_back({"byte count 2^60", with_header(tensor_head("w", 0, 1).u64(2).u64(k2p60).bytes(8).u64(0).s),
               "needs 8 bytes, the file says 1152921504606846976"});
  h.push_back({"byte count disagrees with the shape", with_header(tensor_head("w", 0, 1).u64(2).u64(12).bytes(12).u64(0).s),
               "byte count"});
  h.push_back({"unknown dtype", with_header(tensor_head("w", 7, 0).u64(4).bytes(4).u64(0).s), "unknown dtype code 7"});
  h.push_back({"value count 2^60", with_header(Payload().u64(0).u64(k2p60).s), "value count"});
  h.push_back({"string length 2^60", with_header(Payload().u64(0).u64(1).str("s").u8(2).u64(k2p60).s), "value 's'"});
  h.push_back({"unknown value type", with_header(Payload().u64(0).u64(1).str("s").u8(9).u64(0).s), "unknown value type 9"});
  h.push_back({"duplicate tensor",
               with_header(Payload().u64(2).str("w").u8(2).u8(0).u64(8).bytes(8).str("w").u8(2).u8(0).u64(8).bytes(8).u64(0).s),
               "appears twice"});
  h.push_back({"name not UTF-8", with_header(Payload().u64(1).str("\xff").u8(2).u8(0).u64(8).bytes(8).u64(0).s),
               "not valid UTF-8"});
  h.push_back({"string value not UTF-8", with_header(Payload().u64(0).u64(1).str("s").u8(2).str("\xc3").s),
               "not valid UTF-8"});
  h.push_back({"bytes after the last value", with_header(Payload().u64(0).u64(0).bytes(3).s), "3 unexpected bytes"});
  h.push_back({"big-endian payload", with_header(std::string(1, '\0') + std::string(16, '\0')), "payload byte 0"});
  h.push_back({"empty payload", with_header(""), "payload"});
  std::string lying = with_header(Payload().u64(0).u64(0).s);
  for (int i = 0; i < 8; ++i) lying[12 + i] = static_cast<char>((k2p60 >> (8 * i)) & 0xff);
  h.push_back({"header payload length 2^60", lying, "header payload length"});
  return h;
}

}  // namespace

// ---- CRC-32 -------------------------------------------------------------------------------------

TEST(Crc32, MatchesTheStandardCheckValues) {
  EXPECT_EQ(ag::serialize::crc32("123456789", 9), 0xCBF43926u);  // the catalogued CRC-32 check value
  EXPECT_EQ(ag::serialize::crc32("", 0), 0u);
  const std::string fox = "The quick brown fox jumps over the lazy dog";
  EXPECT_EQ(ag::serialize::crc32(fox.data(), fox.size()), 0x414FA339u);
}

TEST(Crc32, ContinuesAcrossPieces) {
  const std::string s = "The quick brown fox jumps over the lazy dog";
  std::uint32_t a = ag::serialize::crc32(s.data(), 10);
  EXPECT_EQ(ag::serialize::crc32(s.data() + 10, s.size() - 10, a), ag::serialize::crc32(s.data(), s.size()));
}

// ---- the Archive container ----------------------------------------------------------------------

TEST(Archive, KeepsInsertionOrderAndReplacesInPlace) {
  Archive a;
  a.set("b", ag::ones({2}));
  a.set("a", ag::zeros({3}));
  a.set("b", ag::zeros({4}));
  a.set("z", 1);
  a.set("y", 2.5);
  a.set("z", 3);
  ASSERT_EQ(a.tensors().size(), 2u);
  EXPECT_EQ(a.tensors()[0].first, "b");
  EXPECT_EQ(a.tensors()[0].second.shape(), ag::Shape({4}));
  EXPECT_EQ(a.tensors()[1].first, "a");
  ASSERT_EQ(a.values().size(), 2u);
  EXPECT_EQ(a.values()[0].first, "z");
  EXPECT_EQ(a.get_int("z"), 3);
}

TEST(Archive, TypedGettersNameTheKeyAndTheExpectedType) {
  Archive a = small_archive();
  EXPECT_EQ(a.get_int("step"), 42);
  EXPECT_EQ(a.get_double("lr"), 0.01);
  EXPECT_EQ(a.get_string("note"), "warm");
  EXPECT_TRUE(throws_serialize_error([&] { a.get_double("step"); }, {"'step'", "expected float64", "holds int64"}));
  EXPECT_TRUE(throws_serialize_error([&] { a.get_int("lr"); }, {"'lr'", "expected int64", "holds float64"}));
  EXPECT_TRUE(throws_serialize_error([&] { a.get_string("step"); }, {"'step'", "expected string"}));
  EXPECT_TRUE(throws_serialize_error([&] { a.get_int("epoch"); }, {"'epoch'", "not in the archive"}));
  EXPECT_TRUE(throws_serialize_error([&] { a.tensor("fc.wieght"); }, {"'fc.wieght'", "not in the archive"}));
}

TEST(Archive, StoresIntegersOfEveryWidthAsInt64) {
  Archive a;
  a.set("i", 7);
  a.set("u", 7u);
  a.set("l", 7L);
  a.set("flag", true);
  a.set("size", std::size_t{9});
  EXPECT_EQ(a.get_int("i"), 7);
  EXPECT_EQ(a.get_int("u"), 7);
  EXPECT_EQ(a.get_int("flag"), 1);
  EXPECT_EQ(a.get_int("size"), 9);
  EXPECT_THROW(a.set("big", std::uint64_t{1} << 63), std::invalid_argument);
}

TEST(Archive, RejectsNamesAndStringsThatAreNotUtf8) {
  Archive a;
  EXPECT_THROW(a.set("\xff", 1), std::invalid_argument);
  EXPECT_THROW(a.set("w", "\xc3("), std::invalid_argument);
  EXPECT_THROW(a.set("w", Tensor()), std::invalid_argument);
  a.set("caf\xc3\xa9", "\xe2\x82\xac");  // café, €
  EXPECT_EQ(a.get_string("caf\xc3\xa9"), "\xe2\x82\xac");
}

TEST(Archive, PrefixesGroupTensorsLikeStateDicts) {
  Archive a;
  a.set_tensors("model", {{"fc.weight", ag::ones({2, 2})}, {"fc.bias", ag::zeros({2})}});
  a.set_tensors("optim", {{"state.0.exp_avg", ag::zeros({2, 2})}});
  ASSERT_TRUE(a.has_tensor("model.fc.weight"));
  ag::NamedTensors model = a.tensors_with_prefix("model");
  ASSERT_EQ(model.size(), 2u);
  EXPECT_EQ(model[0].first, "fc.weight");
  EXPECT_EQ(model[1].first, "fc.bias");
  EXPECT_EQ(a.tensors_with_prefix("optim").size(), 1u);
  EXPECT_EQ(a.tensors_with_prefix("").size(), 3u);
  EXPECT_EQ(a.tensors_with_prefix("mod").size(), 0u);  // whole components only
  a.set("optim.param_groups.0.lr", 0.1);
  a.set("optim.param_groups.size", 1.0);
  a.set("step", 5);
  auto optim = a.values_with_prefix("optim");
  ASSERT_EQ(optim.size(), 2u);
  EXPECT_EQ(optim[0].first, "param_groups.0.lr");
  EXPECT_EQ(std::get<double>(optim[0].second), 0.1);
  EXPECT_EQ(a.values_with_prefix("").size(), 3u);
}

TEST(Archive, StoresTensorsCutFromTheGraph) {
  Tensor w = ag::ones({2}, ag::requires_grad());
  Archive a;
  a.set("w", w * 2);
  EXPECT_FALSE(a.tensor("w").requires_grad());
}

// ---- round trips --------------------------------------------------------------------------------

TEST(ArchiveRoundTrip, EveryDtypeAndRankIsBitExactInBinary) {
  Archive a;
  std::uint64_t seed = 1;
  for (ag::Dtype d : kDtypes)
    for (const ag::Shape& s : all_ranks()) a.set(std::string(ag::dtype_name(d)) + ag::to_string(s), sertest::random_bits(s, d, seed++));
  EXPECT_TRUE(same_archive(round_trip(a, ArchiveFormat::Binary), a));  // NaN payloads included
}

TEST(ArchiveRoundTrip, EveryDtypeAndRankIsBitExactInJson) {
  Archive a;
  std::uint64_t seed = 100;
  for (ag::Dtype d : kDtypes)
    for (const ag::Shape& s : all_ranks())
      a.set(std::string(ag::dtype_name(d)) + ag::to_string(s), sertest::random_bits(s, d, seed++, /*finite=*/true));
  EXPECT_TRUE(same_archive(round_trip(a, ArchiveFormat::Json), a));
}

TEST(ArchiveRoundTrip, AwkwardFloatsSurviveJsonExactly) {
  Archive a;
  auto f = sertest::awkward_floats<float>();
  auto d = sertest::awkward_floats<double>();
  a.set("f", ag::tensor(f, {static_cast<std::int64_t>(f.size())}));
  a.set("d", ag::tensor(d, {static_cast<std::int64_t>(d.size())}, ag::kFloat64));
  a.set("i", ag::tensor(std::vector<std::int64_t>{INT64_MIN, INT64_MAX, 0, -1}, {4}));
  for (std::size_t k = 0; k < d.size(); ++k) a.set("v" + std::to_string(k), d[k]);
  EXPECT_TRUE(same_archive(round_trip(a, ArchiveFormat::Json), a));
}

TEST(ArchiveRoundTrip, NanStaysNanInJsonAndKeepsItsBitsInBinary) {
  float payload_nan;
  std::uint32_t bits = 0xffc12345u;  // a negative NaN with a payload
  std::memcpy(&payload_nan, &bits, 4);
  Archive a;
  a.set("x", ag::tensor(std::vector<float>{payload_nan, 1.0f}, {2}));
  a.set("v", std::numeric_limits<double>::quiet_NaN());
  EXPECT_TRUE(same_archive(round_trip(a, ArchiveFormat::Binary), a));
  Archive b = round_trip(a, ArchiveFormat::Json);
  EXPECT_TRUE(same_archive(b, a, /*nan_equal=*/true));
  EXPECT_TRUE(std::isnan(b.tensor("x").data_ptr<float>()[0]));
}

TEST(ArchiveRoundTrip, ValuesOfEveryTypeKeepTheirOrder) {
  Archive a;
  a.set("step", INT64_MIN);
  a.set("epoch", INT64_MAX);
  a.set("optim.param_groups.0.lr", 1e-3);
  a.set("tiny", std::numeric_limits<double>::denorm_min());
  a.set("neg_zero", -0.0);
  a.set("inf", -std::numeric_limits<double>::infinity());
  a.set("empty", "");
  a.set("text", std::string("quotes \" backslash \\ newline \n tab \t nul \0 end", 45));
  a.set("unicode", "\xce\xbb \xf0\x9f\x98\x80");
  for (ArchiveFormat f : {ArchiveFormat::Binary, ArchiveFormat::Json}) EXPECT_TRUE(same_archive(round_trip(a, f), a));
}

TEST(ArchiveRoundTrip, EmptyArchive) {
  for (ArchiveFormat f : {ArchiveFormat::Binary, ArchiveFormat::Json}) EXPECT_TRUE(round_trip(Archive(), f).empty());
}

TEST(ArchiveRoundTrip, ThroughFilesChosenByExtension) {
  TempDir dir;
  Archive a = small_archive();
  ag::save_archive(a, dir / "ckpt.ag");
  ag::save_archive(a, dir / "ckpt.json");
  ag::save_archive(a, dir / "ckpt.txt", ArchiveFormat::Json);
  EXPECT_EQ(sertest::read_bytes(dir / "ckpt.ag").substr(0, 8), ag::serialize::kArchiveMagic);
  EXPECT_EQ(sertest::read_bytes(dir / "ckpt.json")[0], '{');
  EXPECT_EQ(sertest::read_bytes(dir / "ckpt.txt")[0], '{');
  for (const char* f : {"ckpt.ag", "ckpt.json", "ckpt.txt"}) EXPECT_TRUE(same_archive(ag::load_archive(dir / f), a)) << f;
}

TEST(ArchiveRoundTrip, SafetensorsAndNpyExtensionsPointToTheirOwnSavers) {
  TempDir dir;
  EXPECT_TRUE(throws_serialize_error([&] { ag::save_archive(small_archive(), dir / "m.safetensors"); },
                                     {"save_safetensors"}));
  EXPECT_TRUE(throws_serialize_error([&] { ag::save_archive(small_archive(), dir / "x.npy"); }, {"save_npy"}));
  EXPECT_TRUE(dir.files().empty());
}

TEST(ArchiveRoundTrip, GeneratorStateReplaysTheSameNumbers) {
  for (ArchiveFormat f : {ArchiveFormat::Binary, ArchiveFormat::Json}) {
    ag::Generator gen(2024);
    ag::randn({1}, {}, &gen);  // leaves the second value of its pair in the cache
    Archive a;
    a.set_generator_state("rng", gen.get_state());
    Archive b = round_trip(a, f);
    ag::Generator other(7);
    other.set_state(b.generator_state("rng"));
    // The cached normal first, then the engine's words, one at a time and in a block.
    for (auto draw : {+[](ag::Generator* g) { return ag::randn({1}, {}, g); },
                      +[](ag::Generator* g) { return ag::rand({5}, ag::kFloat64, g); },
                      +[](ag::Generator* g) { return ag::randn({40}, {}, g); }})
      EXPECT_TRUE(ag::equal(draw(&other), draw(&gen)));
    EXPECT_EQ(other.random(), gen.random());
    EXPECT_EQ(other.initial_seed(), 2024u);
  }
}

TEST(ArchiveRoundTrip, GeneratorStateKeepsA64BitSeedAndAnEngineAboutToTwist) {
  ag::Generator gen(0xfedcba9876543210ULL);
  for (int i = 0; i < 624; ++i) gen.random();  // the next word needs a twist
  Archive a;
  a.set_generator_state("rng", gen.get_state());
  Archive b = round_trip(a, ArchiveFormat::Binary);
  ag::GeneratorState s = b.generator_state("rng");
  EXPECT_EQ(s.seed, 0xfedcba9876543210ULL);
  EXPECT_EQ(s.index, 624);
  EXPECT_FALSE(s.next_normal.has_value());
  ag::Generator other;
  other.set_state(s);
  EXPECT_EQ(other.random64(), gen.random64());
}

TEST(ArchiveRoundTrip, GeneratorStateIsCheckedOnTheWayBack) {
  auto state = [] {
    Archive a;
    a.set_generator_state("rng", ag::Generator(1).get_state());
    return a;
  };
  Archive a = state();
  a.set("rng.words", ag::zeros({624}, ag::kInt64));
  EXPECT_TRUE(throws_serialize_error([&] { a.generator_state("rng"); }, {"rng.words", "all 624 words are 0"}));
  a = state();
  a.set("rng.words", ag::zeros({623}, ag::kInt64));
  EXPECT_TRUE(throws_serialize_error([&] { a.generator_state("rng"); }, {"rng.words", "[624]", "[623]"}));
  a = state();
  a.set("rng.words", ag::full({624}, -1, ag::kInt64));
  EXPECT_TRUE(throws_serialize_error([&] { a.generator_state("rng"); }, {"word 0 is -1", "32-bit"}));
  a = state();
  a.set("rng.index", 625);
  EXPECT_TRUE(throws_serialize_error([&] { a.generator_state("rng"); }, {"rng.index", "0..624", "625"}));
  a = state();
  a.set("rng.has_next_normal", 2);
  EXPECT_TRUE(throws_serialize_error([&] { a.generator_state("rng"); }, {"rng.has_next_normal", "0 or 1"}));
  a = state();
  a.set("rng.engine", "philox");
  EXPECT_TRUE(throws_serialize_error([&] { a.generator_state("rng"); }, {"rng.engine", "mt19937", "philox"}));
  EXPECT_TRUE(throws_serialize_error([&] { a.generator_state("gen"); }, {"gen.engine", "not in the archive"}));
}

TEST(ArchiveRoundTrip, AFormerXoshiroGeneratorStateIsRefusedWithAReason) {
  Archive a;  // what ag wrote before its generator followed PyTorch's
  for (int i = 0; i < 4; ++i) a.set("rng.s" + std::to_string(i), std::int64_t{i + 1});
  a.set("rng.seed", 5);
  a.set("rng.has_spare_normal", 0);
  a.set("rng.spare_normal", 0.0);
  EXPECT_TRUE(throws_serialize_error([&] { a.generator_state("rng"); }, {"rng.s0", "xoshiro256**", "mt19937"}));
}

// ---- the formats as other tools see them --------------------------------------------------------

TEST(ArchiveFormatJson, IsPlainJsonWithNamesShapesAndNumbers) {
  std::string text = ag::serialize::encode_archive(small_archive(), ArchiveFormat::Json);
  auto doc = nlohmann::json::parse(text);  // an independent parser
  EXPECT_EQ(doc.at("format"), "ag.archive");
  EXPECT_EQ(doc.at("version"), 1);
  const auto& w = doc.at("tensors").at(0);
  EXPECT_EQ(w.at("name"), "fc.weight");
  EXPECT_EQ(w.at("dtype"), "float32");
  EXPECT_EQ(w.at("shape"), nlohmann::json::array({2, 2}));
  EXPECT_EQ(w.at("data").at(1).get<double>(), -1.25);
  EXPECT_EQ(static_cast<float>(w.at("data").at(3).get<double>()), 0.1f);
  EXPECT_EQ(doc.at("tensors").at(2).at("data"), nlohmann::json::array({2, 0, 1}));
  EXPECT_EQ(doc.at("values").at(0), nlohmann::json({{"name", "step"}, {"type", "int64"}, {"value", 42}}));
}

TEST(ArchiveFormatJson, CarriesTheCrcOfTheBinaryPayload) {
  Archive a = small_archive();
  std::string bin = ag::serialize::encode_archive(a, ArchiveFormat::Binary);
  std::uint32_t header_crc = ag::serialize::detail::load_le<std::uint32_t>(bin.data() + 20);
  auto doc = nlohmann::json::parse(ag::serialize::encode_archive(a, ArchiveFormat::Json));
  EXPECT_EQ(doc.at("crc32").get<std::uint32_t>(), header_crc);
}

TEST(ArchiveFormatBinary, HeaderHoldsMagicVersionLengthAndCrc) {
  std::string bin = ag::serialize::encode_archive(small_archive());
  ASSERT_GE(bin.size(), 24u);
  EXPECT_EQ(bin.substr(0, 8), std::string("\x89" "AGARCH\n", 8));
  EXPECT_EQ(ag::serialize::detail::load_le<std::uint32_t>(bin.data() + 8), 1u);
  EXPECT_EQ(ag::serialize::detail::load_le<std::uint64_t>(bin.data() + 12), bin.size() - 24);
  EXPECT_EQ(ag::serialize::detail::load_le<std::uint32_t>(bin.data() + 20),
            ag::serialize::crc32(bin.data() + 24, bin.size() - 24));
  EXPECT_EQ(bin[24], 1);  // little-endian payload
}

// ---- corrupt files ------------------------------------------------------------------------------

TEST(ArchiveCorrupt, TruncationAtEveryByteIsRejected) {
  for (ArchiveFormat f : {ArchiveFormat::Binary, ArchiveFormat::Json}) {
    std::string bytes = ag::serialize::encode_archive(small_archive(), f);
    for (std::size_t n = 0; n < bytes.size(); ++n)
      ASSERT_TRUE(throws_serialize_error([&] { ag::serialize::decode_archive(bytes.substr(0, n), "t"); }))
          << (f == ArchiveFormat::Json ? "json" : "binary") << " cut at " << n << " of " << bytes.size();
  }
}

TEST(ArchiveCorrupt, TruncatedFilesAreRejectedBeforeTheirPayloadIsRead) {
  TempDir dir;
  std::string bytes = ag::serialize::encode_archive(small_archive());
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{8}, std::size_t{23}, std::size_t{24},
                        std::size_t{25}, bytes.size() / 2, bytes.size() - 1}) {
    sertest::write_bytes(dir / "cut.ag", bytes.substr(0, n));
    EXPECT_TRUE(throws_serialize_error([&] { ag::load_archive(dir / "cut.ag"); }, {"cut.ag"})) << n;
  }
}

TEST(ArchiveCorrupt, EveryBitFlipInABinaryArchiveIsCaught) {
  Archive a;
  a.set("w", ag::tensor({{0.5, -1.25}, {3.0, 0.1}}));
  a.set("step", 3);
  std::string bytes = ag::serialize::encode_archive(a);
  for (std::size_t i = 0; i < bytes.size() * 8; ++i) {
    std::string flipped = bytes;
    flipped[i / 8] = static_cast<char>(flipped[i / 8] ^ (1 << (i % 8)));
    ASSERT_TRUE(throws_serialize_error([&] { ag::serialize::decode_archive(flipped, "f"); })) << "bit " << i;
  }
}

TEST(ArchiveCorrupt, EveryBitFlipInAJsonArchiveIsCaughtOrChangesNothing) {
  Archive a;
  a.set("w", ag::tensor({{0.5, -1.25}, {3.0, 1e-7}}));
  a.set("step", 3);
  std::string bytes = ag::serialize::encode_archive(a, ArchiveFormat::Json);
  int rejected = 0;
  for (std::size_t i = 0; i < bytes.size() * 8; ++i) {
    std::string flipped = bytes;
    flipped[i / 8] = static_cast<char>(flipped[i / 8] ^ (1 << (i % 8)));
    try {
      // A flip that still loads may only change how a number is spelled: 'e' -> 'E', or the last
      // digits of a float32 printed as a 17-digit double, which still round to the same float.
      Archive b = ag::serialize::decode_archive(flipped, "f");
      ASSERT_TRUE(same_archive(b, a)) << "bit " << i;
      char c = bytes[i / 8];
      ASSERT_TRUE((c >= '0' && c <= '9') || c == 'e' || c == 'E') << "bit " << i << " in '" << c << "'";
    } catch (const SerializeError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, static_cast<int>(bytes.size() * 8 * 99 / 100));
}

TEST(ArchiveCorrupt, WrongMagicUnknownVersionAndBadCrcAreNamed) {
  std::string bytes = ag::serialize::encode_archive(small_archive());
  std::string magic = bytes;
  magic[3] = 'X';
  EXPECT_TRUE(throws_serialize_error([&] { ag::serialize::decode_archive(magic, "m.ag"); }, {"'m.ag'", "header magic"}));
  std::string version = bytes;
  version[8] = 2;
  EXPECT_TRUE(throws_serialize_error([&] { ag::serialize::decode_archive(version, "v.ag"); },
                                     {"header version", "expected 1, got 2", "newer ag"}));
  std::string crc = bytes;
  crc.back() = static_cast<char>(crc.back() ^ 0x40);
  EXPECT_TRUE(throws_serialize_error([&] { ag::serialize::decode_archive(crc, "c.ag"); }, {"header crc32", "corrupt"}));
  EXPECT_TRUE(throws_serialize_error([&] { ag::serialize::decode_archive("PK\x03\x04 zip", "z"); },
                                     {"not an ag archive"}));
  EXPECT_TRUE(throws_serialize_error([&] { ag::serialize::decode_archive("", "e"); }, {"empty"}));
}

TEST(ArchiveCorrupt, TrailingGarbageIsRejected) {
  std::string bin = ag::serialize::encode_archive(small_archive());
  EXPECT_TRUE(throws_serialize_error([&] { ag::serialize::decode_archive(bin + "x", "b"); },
                                     {"header payload length", "unexpected bytes at the end"}));
  std::string json = ag::serialize::encode_archive(small_archive(), ArchiveFormat::Json);
  EXPECT_TRUE(throws_serialize_error([&] { ag::serialize::decode_archive(json + "}", "j"); }, {"invalid JSON"}));
  EXPECT_TRUE(throws_serialize_error([&] { ag::serialize::decode_archive(json + "{}", "j"); }, {"invalid JSON"}));
  EXPECT_TRUE(same_archive(ag::serialize::decode_archive(json + "\n  ", "j"), small_archive()));  // whitespace is free
}

TEST(ArchiveCorrupt, MissingFilesAndFoldersAreNamed) {
  TempDir dir;
  EXPECT_TRUE(throws_serialize_error([&] { ag::load_archive(dir / "nope.ag"); }, {"nope.ag", "cannot open"}));
  EXPECT_TRUE(throws_serialize_error([&] { ag::load_archive(dir.path()); }, {"not a regular file"}));
  EXPECT_TRUE(throws_serialize_error([&] { ag::save_archive(small_archive(), dir / "no/such/dir/x.ag"); },
                                     {"x.ag", "temporary file"}));
}

// ---- hostile files ------------------------------------------------------------------------------

TEST(ArchiveHostile, EverySizeFieldIsCheckedBeforeAllocating) {
  for (const Hostile& h : hostile_binaries())
    EXPECT_TRUE(throws_serialize_error([&] { ag::serialize::decode_archive(h.bytes, "evil.ag"); }, {"evil.ag", h.expected}))
        << h.what;
}

TEST(ArchiveHostile, HugeSizeFieldsAreFastAndAllocateNothingLarge) {
  // In a child whose address space may grow by at most 256 MiB: a 4 GiB or 2^60-byte allocation
  // would fail there with bad_alloc instead of the expected SerializeError.
  auto start = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::ifstream status("/proc/self/status");
    std::string line;
    rlim_t vm_kib = 0;
    while (std::getline(status, line))
      if (line.rfind("VmSize:", 0) == 0) vm_kib = std::stoull(line.substr(7));
    rlimit limit{(vm_kib + 256 * 1024) * 1024, (vm_kib + 256 * 1024) * 1024};
    ::setrlimit(RLIMIT_AS, &limit);
    int failures = 0;
    for (int rep = 0; rep < 100; ++rep)
      for (const Hostile& h : hostile_binaries()) {
        try {
          ag::serialize::decode_archive(h.bytes, "evil.ag");
          ++failures;
        } catch (const SerializeError&) {
        } catch (...) {
          ++failures;
        }
      }
    std::_Exit(failures == 0 ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(WIFEXITED(status)) << "the child died";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "a hostile file was accepted or threw something other than SerializeError";
  EXPECT_LT(seconds, 5.0) << "100 rounds of " << hostile_binaries().size() << " hostile files";
}

TEST(ArchiveHostile, DeepJsonNestingIsAnErrorNotAStackOverflow) {
  const std::size_t depth = 1000000;
  std::string open = "{\"format\": " + std::string(depth, '[');
  EXPECT_TRUE(throws_serialize_error([&] { ag::serialize::decode_archive(open, "deep.json"); }, {"invalid JSON"}));
  // Well-formed and 10^6 deep: parsed without recursion, then refused by the schema.
  std::string closed = open + std::string(depth, ']') + R"(, "version": 1, "crc32": 0, "tensors": [], "values": []})";
  EXPECT_TRUE(throws_serialize_error([&] { ag::serialize::decode_archive(closed, "deep.json"); },
                                     {"format", "expected a string, got an array"}));
  EXPECT_TRUE(throws_serialize_error([&] { ag::serialize::decode_archive(std::string(depth, '['), "deep.json"); },
                                     {"not an ag archive"}));
}

namespace {

/// A JSON archive with the given tensors and values arrays (its crc32 is not checked before them).
std::string json_archive(const std::string& tensors, const std::string& values = "[]",
                         const std::string& head = R"("format": "ag.archive", "version": 1, "crc32": 0)") {
  return "{" + head + R"(, "tensors": )" + tensors + R"(, "values": )" + values + "}";
}

}  // namespace

TEST(ArchiveHostile, JsonFieldsAreCheckedAndNamed) {
  auto fails = [](const std::string& json, std::initializer_list<std::string> parts) {
    return throws_serialize_error([&] { ag::serialize::decode_archive(json, "a.json"); }, parts);
  };
  EXPECT_TRUE(fails(json_archive(R"([{"name": "w", "dtype": "float32", "shape": [2], "data": [1, 1e300]}])"),
                    {"tensors[0] ('w').data[1]", "1.0000000000000001e+300", "outside the float32 range"}));
  EXPECT_TRUE(fails(json_archive(R"([{"name": "w", "dtype": "float16", "shape": [1], "data": [1]}])"),
                    {"tensors[0] ('w').dtype", "unknown dtype 'float16'"}));
  EXPECT_TRUE(fails(json_archive(R"([{"name": "w", "dtype": "float32", "shape": [2, 3], "data": [1, 2]}])"),
                    {"tensors[0] ('w').data", "has 2 numbers, but shape [2, 3] needs 6"}));
  EXPECT_TRUE(fails(json_archive(R"([{"name": "w", "dtype": "float32", "shape": [-2], "data": []}])"),
                    {"shape", "-2"}));
  EXPECT_TRUE(fails(json_archive(R"([{"name": "w", "dtype": "float32", "shape": [1,1,1,1,1,1,1,1,1], "data": [1]}])"),
                    {"9 dimensions"}));
  EXPECT_TRUE(fails(json_archive(R"([{"name": "w", "dtype": "float32", "shape": [1099511627776, 1099511627776], "data": []}])"),
                    {"more than 2^48"}));
  EXPECT_TRUE(fails(json_archive(R"([{"name": "i", "dtype": "int64", "shape": [1], "data": [1.5]}])"),
                    {"data[0]", "int64"}));
  EXPECT_TRUE(fails(json_archive(R"([{"name": "i", "dtype": "int64", "shape": [1], "data": [18446744073709551615]}])"),
                    {"data[0]", "int64 range"}));
  EXPECT_TRUE(fails(json_archive(R"([{"name": "w", "dtype": "float32", "shape": [1], "data": ["1"]}])"),
                    {"data[0]", "expected a number, got the string '1'"}));
  EXPECT_TRUE(fails(json_archive(R"([{"name": "w", "dtype": "float32", "shape": [1]}])"), {"missing key 'data'"}));
  EXPECT_TRUE(fails(json_archive(R"([{"name": "w", "dtype": "float32", "shape": [], "data": [1], "grad": 0}])"),
                    {"unexpected key 'grad'"}));
  EXPECT_TRUE(fails(json_archive(R"([{"name": "w", "name": "v", "dtype": "float32", "shape": [], "data": [1]}])"),
                    {"'name' appears twice"}));
  EXPECT_TRUE(fails(json_archive(R"([{"name": "w", "dtype": "int64", "shape": [], "data": [1]},
                                     {"name": "w", "dtype": "int64", "shape": [], "data": [1]}])"),
                    {"tensors[1] ('w')", "appears twice"}));
  EXPECT_TRUE(fails(json_archive("[]", R"([{"name": "s", "type": "uint8", "value": 1}])"), {"unknown type 'uint8'"}));
  EXPECT_TRUE(fails(json_archive("[]", R"([{"name": "s", "type": "int64", "value": "3"}])"), {"values[0] ('s').value"}));
  EXPECT_TRUE(fails(json_archive("[]", R"([{"name": "\udc00", "type": "int64", "value": 3}])"), {"not valid UTF-8"}));
  EXPECT_TRUE(fails(json_archive("[]", "[]", R"("format": "ag.archive", "version": 2, "crc32": 0)"),
                    {"version", "expected 1, got the integer 2", "newer ag"}));
  EXPECT_TRUE(fails(json_archive("[]", "[]", R"("format": "torch", "version": 1, "crc32": 0)"),
                    {"format", "expected 'ag.archive'"}));
  EXPECT_TRUE(fails(json_archive("[]", "[]", R"("format": "ag.archive", "version": 1, "crc32": -1)"), {"crc32"}));
  EXPECT_TRUE(fails(json_archive("{}"), {"tensors", "expected a JSON array, got an object"}));
  EXPECT_TRUE(fails(json_archive("[]"), {"crc32", "0x00000000", "corrupt or was edited"}));
  EXPECT_TRUE(fails("{\"format\": \"ag.archive\xff\"}", {"invalid JSON", "encoding"}));
}

TEST(ArchiveHostile, NumbersRapidjsonMisparsesAreReadExactly) {
  // Found by fuzz_archive_json: rapidjson 1.1.0 turns 0e300 into -2.2e-75 and
  // 1844674407370955161595 into -1.6e265. ag converts number text itself.
  const std::pair<const char*, double> cases[] = {{"0e300", 0.0},
                                                  {"-0.0E-40", -0.0},
                                                  {"1844674407370955161595", 1844674407370955161595.0},
                                                  {"18446744073709551615.5", 18446744073709551615.5},
                                                  {"1e-320", 1e-320},
                                                  {"2.2250738585072011e-308", 2.2250738585072011e-308}};
  for (const auto& [text, value] : cases) {
    Archive expected;
    expected.set("x", value);
    std::string head = R"("format": "ag.archive", "version": 1, "crc32": )" +
                       std::to_string(ag::serialize::archive_json_crc32(expected));
    std::string json = json_archive("[]", std::string(R"([{"name": "x", "type": "float64", "value": )") + text + "}]", head);
    Archive loaded;
    ASSERT_NO_THROW(loaded = ag::serialize::decode_archive(json, "n.json")) << text;
    EXPECT_TRUE(same_archive(loaded, expected)) << text;
  }
}

TEST(ArchiveHostile, NumbersOutOfRangeOrAbsurdlyLongAreRefused) {
  auto value = [](const std::string& text) {
    return json_archive("[]", R"([{"name": "x", "type": "float64", "value": )" + text + "}]");
  };
  EXPECT_TRUE(throws_serialize_error([&] { ag::serialize::decode_archive(value("1e-400"), "n.json"); },
                                     {"'1e-400' is outside the float64 range"}));
  EXPECT_TRUE(throws_serialize_error([&] { ag::serialize::decode_archive(value("1e400"), "n.json"); }, {"invalid JSON"}));
  EXPECT_TRUE(throws_serialize_error([&] { ag::serialize::decode_archive(value("0." + std::string(2000, '0') + "1"), "n.json"); },
                                     {"longer than 1000 characters"}));
  Archive a;  // long digit strings inside names are only text
  a.set(std::string(3000, '7'), 1);
  EXPECT_TRUE(same_archive(round_trip(a, ArchiveFormat::Json), a));
}

TEST(ArchiveHostile, AJsonArchiveEditedWithoutItsCrcIsRejected) {
  std::string json = ag::serialize::encode_archive(small_archive(), ArchiveFormat::Json);
  std::size_t at = json.find("-1.25");
  ASSERT_NE(at, std::string::npos);
  json.replace(at, 5, "-1.5");
  EXPECT_TRUE(throws_serialize_error([&] { ag::serialize::decode_archive(json, "edited.json"); },
                                     {"crc32", "corrupt or was edited"}));
}

// ---- atomic saves -------------------------------------------------------------------------------

TEST(AtomicSave, ReplacesTheFileAndLeavesNothingElse) {
  TempDir dir;
  Archive a = small_archive();
  ag::save_archive(a, dir / "ckpt.ag");
  a.set("step", 43);
  ag::save_archive(a, dir / "ckpt.ag");
  EXPECT_EQ(dir.files(), std::vector<std::string>{"ckpt.ag"});
  EXPECT_EQ(ag::load_archive(dir / "ckpt.ag").get_int("step"), 43);
}

TEST(AtomicSave, AFailedWriteLeavesTheOldFileUntouchedAndNoTemporary) {
  TempDir dir;
  ag::save_archive(small_archive(), dir / "ckpt.ag");
  std::string before = sertest::read_bytes(dir / "ckpt.ag");
  // A child that may not write files larger than 4 KiB fails part-way through a 64 KiB save.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit limit{4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    Archive big;
    big.set("w", ag::zeros({16384}));
    try {
      ag::save_archive(big, dir / "ckpt.ag");
    } catch (const SerializeError& e) {
      std::string what = e.what();
      std::_Exit(what.find("write failed") != std::string::npos && what.find("untouched") != std::string::npos ? 0 : 2);
    }
    std::_Exit(1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: the save did not fail; 2: the message did not say why";
  EXPECT_EQ(sertest::read_bytes(dir / "ckpt.ag"), before);
  EXPECT_EQ(dir.files(), std::vector<std::string>{"ckpt.ag"});
}

TEST(AtomicSave, AnArchiveThatCannotBeEncodedLeavesTheOldFileUntouched) {
  TempDir dir;
  ag::save_safetensors({{"w", ag::ones({2})}}, dir / "m.safetensors");
  std::string before = sertest::read_bytes(dir / "m.safetensors");
  EXPECT_TRUE(throws_serialize_error(
      [&] { ag::save_safetensors({{"w", ag::ones({2})}, {"w", ag::ones({3})}}, dir / "m.safetensors"); },
      {"appears twice"}));
  EXPECT_EQ(sertest::read_bytes(dir / "m.safetensors"), before);
  EXPECT_EQ(dir.files(), std::vector<std::string>{"m.safetensors"});
}
