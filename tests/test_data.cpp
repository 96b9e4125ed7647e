// ag::data against torch.utils.data: the orders of DataLoader, RandomSampler and random_split
// for the same seed (tests/data/data_golden.json, made by tests/data/make_rng.py), batching,
// collate functions, pad_sequence, and the errors of bad input.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "ag/data/data.h"
#include "ag/nn/functional.h"
#include "golden.h"
#include "test_util.h"

namespace data = ag::data;
using ag::Tensor;
using json = nlohmann::json;
using testutil::expect_throw;
using testutil::expect_throw_with;

namespace {

std::vector<json> cases(const std::string& kind) {
  std::ifstream in(std::string(AG_TEST_DATA_DIR) + "/data_golden.json");
  if (!in) throw std::runtime_error("cannot open test data data_golden.json");
  const json doc = json::parse(in);
  std::vector<json> out;
  for (const json& c : doc.at("cases"))
    if (c.at("kind") == kind) out.push_back(c);
  if (out.empty()) throw std::runtime_error("data_golden.json has no case of kind " + kind);
  return out;
}

std::vector<std::int64_t> ints(const Tensor& t) { return t.to_vector<std::int64_t>(); }
std::vector<float> floats(const Tensor& t) { return t.to_vector<float>(); }

std::optional<ag::Generator> generator_of(const json& params) {
  if (params.at("generator_seed").is_null()) return std::nullopt;
  return ag::Generator(params.at("generator_seed").get<std::uint64_t>());
}

/// The indices of one pass of a sampler.
std::vector<std::int64_t> pass(data::Sampler& s) {
  std::vector<std::int64_t> out;
  s.reset();
  while (auto i = s.next()) out.push_back(*i);
  return out;
}

data::TensorDataset<1> numbers(std::int64_t n) { return data::TensorDataset(ag::arange(n)); }

}  // namespace

// ---- PyTorch's orders ---------------------------------------------------------------------------

TEST(DataLoaderGolden, PassesEqualPyTorchsWithDropoutAndDrawsAfterThem) {
  for (const json& c : cases("loader")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const json& p = c.at("params");
    ag::manual_seed(c.at("seed").get<std::uint64_t>());
    std::optional<ag::Generator> gen = generator_of(p);
    data::DataLoader loader(numbers(p.at("n")), data::DataLoaderOptions()
                                                    .batch_size(p.at("batch_size"))
                                                    .shuffle(p.at("shuffle"))
                                                    .drop_last(p.at("drop_last"))
                                                    .generator(gen ? &*gen : nullptr));
    EXPECT_EQ(loader.size(), c.at("len").get<std::int64_t>());
    std::size_t mask = 0;
    for (std::size_t e = 0; e < c.at("passes").size(); ++e) {
      std::vector<std::vector<std::int64_t>> got;
      for (auto& [x] : loader) {
        got.push_back(ints(x));
        if (!p.at("dropout").is_null()) {
          const json& d = p.at("dropout");
          Tensor m = ag::nn::functional::dropout(ag::ones(ag::Shape(d.at("shape").get<std::vector<std::int64_t>>())),
                                                 d.at("p"), true);
          EXPECT_EQ(floats(m), c.at("dropout_masks").at(mask++).get<std::vector<float>>()) << "mask " << mask - 1;
        }
      }
      EXPECT_EQ(got, c.at("passes").at(e).get<std::vector<std::vector<std::int64_t>>>()) << "pass " << e;
    }
    EXPECT_EQ(floats(ag::randn({3})), c.at("randn_after").get<std::vector<float>>()) << "the default stream after";
  }
}

TEST(RandomSamplerGolden, ReplacementAndNumSamplesGivePyTorchsOrders) {
  for (const json& c : cases("random_sampler")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const json& p = c.at("params");
    ag::manual_seed(c.at("seed").get<std::uint64_t>());
    std::optional<ag::Generator> gen = generator_of(p);
    data::RandomSampler s(p.at("n"), data::RandomSamplerOptions()
                                         .replacement(p.at("replacement"))
                                         .num_samples(p.at("num_samples"))
                                         .generator(gen ? &*gen : nullptr));
    EXPECT_EQ(s.size(), p.at("num_samples").get<std::int64_t>());
    for (const json& expected : c.at("passes")) EXPECT_EQ(pass(s), expected.get<std::vector<std::int64_t>>());
    EXPECT_EQ(floats(ag::randn({3})), c.at("randn_after").get<std::vector<float>>());
  }
}

TEST(RandomSplitGolden, LengthsAndFractionsGivePyTorchsSplit) {
  for (const json& c : cases("random_split")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const json& p = c.at("params");
    ag::manual_seed(c.at("seed").get<std::uint64_t>());
    std::optional<ag::Generator> gen = generator_of(p);
    auto parts = data::random_split(numbers(p.at("n")), p.at("lengths").get<std::vector<double>>(),
                                    gen ? &*gen : nullptr);
    ASSERT_EQ(parts.size(), c.at("parts").size());
    for (std::size_t k = 0; k < parts.size(); ++k) {
      EXPECT_EQ(parts[k].indices(), c.at("parts").at(k).get<std::vector<std::int64_t>>()) << "part " << k;
      for (std::int64_t i = 0; i < parts[k].size(); ++i)
        EXPECT_EQ(parts[k].get(i)[0].item<std::int64_t>(), parts[k].indices()[static_cast<std::size_t>(i)]);
    }
    EXPECT_EQ(floats(ag::randn({3})), c.at("randn_after").get<std::vector<float>>());
  }
}

TEST(PadSequenceGolden, EqualsTorchNnUtilsRnnPadSequence) {
  for (const json& c : cases("pad_sequence")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    std::vector<Tensor> seqs;
    for (const json& t : c.at("inputs")) seqs.push_back(golden::to_tensor(t));
    Tensor out = data::pad_sequence(seqs, c.at("params").at("batch_first"), c.at("params").at("padding_value"));
    Tensor expected = golden::to_tensor(c.at("out"));
    EXPECT_EQ(out.dtype(), expected.dtype());
    EXPECT_TRUE(ag::equal(out, expected)) << out << "\nvs PyTorch's\n" << expected;
  }
}

// ---- batches ------------------------------------------------------------------------------------

TEST(DataLoader, BatchShapesWithAndWithoutDropLast) {
  Tensor x = ag::randn({10, 4});
  Tensor y = ag::arange(10);
  for (bool drop : {false, true}) {
    data::TensorDataset ds(x, y);
    data::DataLoader loader(ds, data::DataLoaderOptions().batch_size(4).drop_last(drop));
    std::vector<std::int64_t> sizes;
    for (auto& [xb, yb] : loader) {
      EXPECT_EQ(xb.shape(), ag::Shape({yb.size(0), 4}));
      sizes.push_back(yb.size(0));
    }
    EXPECT_EQ(sizes, drop ? std::vector<std::int64_t>({4, 4}) : std::vector<std::int64_t>({4, 4, 2}));
    EXPECT_EQ(loader.size(), drop ? 2 : 3);
  }
}

TEST(DataLoader, WithoutShuffleBatchesAreTheRowsInOrder) {
  Tensor x = ag::arange(12).reshape({6, 2});
  data::TensorDataset ds(x);
  data::DataLoader loader(ds, data::DataLoaderOptions().batch_size(4));
  std::vector<Tensor> got;
  for (auto& [xb] : loader) got.push_back(xb);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(ag::equal(got[0], x.narrow(0, 0, 4)));
  EXPECT_TRUE(ag::equal(got[1], x.narrow(0, 4, 2)));
}

TEST(DataLoader, EveryPassShufflesAnewAndCoversTheDataSetOnce) {
  ag::manual_seed(3);
  data::DataLoader loader(numbers(50), data::DataLoaderOptions().batch_size(8).shuffle(true));
  std::vector<std::int64_t> first;
  for (int epoch = 0; epoch < 3; ++epoch) {
    std::vector<std::int64_t> seen;
    for (auto& [x] : loader)
      for (std::int64_t i : ints(x)) seen.push_back(i);
    std::vector<std::int64_t> sorted = seen;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, ints(ag::arange(50)));
    if (epoch == 0) first = seen;
    else EXPECT_NE(seen, first);
  }
}

TEST(DataLoader, ACustomCollateMakesTheBatch) {
  // A collate of one's own: the sum of each batch's x and how many examples it has.
  auto collate = [](std::vector<std::array<Tensor, 1>> examples) {
    double s = 0;
    for (auto& [x] : examples) s += x.item<double>();
    return std::make_pair(s, examples.size());
  };
  data::TensorDataset ds(ag::arange(7, ag::kFloat64));
  data::DataLoader loader(ds, data::DataLoaderOptions().batch_size(3), collate);
  std::vector<std::pair<double, std::size_t>> got;
  for (auto& batch : loader) got.push_back(batch);
  EXPECT_EQ(got, (std::vector<std::pair<double, std::size_t>>{{3.0, 3}, {12.0, 3}, {6.0, 1}}));
}

TEST(DataLoader, PadCollateBatchesTokenSequencesOfDifferentLengths) {
  struct Reviews : data::Dataset<std::pair<Tensor, Tensor>> {
    std::vector<std::vector<std::int64_t>> tokens{{1, 1, 2}, {3}, {2, 3}};
    std::int64_t size() const override { return 3; }
    std::pair<Tensor, Tensor> get(std::int64_t i) override {
      const auto& t = tokens[static_cast<std::size_t>(i)];
      return {ag::tensor(t, {static_cast<std::int64_t>(t.size())}), ag::scalar_tensor(i % 2, ag::kInt64)};
    }
  };
  data::DataLoader loader(Reviews(), data::DataLoaderOptions().batch_size(3), data::PadCollate().padding_value(0));
  int n = 0;
  for (auto& [tokens, labels] : loader) {
    EXPECT_TRUE(ag::equal(tokens, ag::tensor({{1, 1, 2}, {3, 0, 0}, {2, 3, 0}})));
    EXPECT_TRUE(ag::equal(labels, ag::tensor({0, 1, 0})));
    ++n;
  }
  EXPECT_EQ(n, 1);
  auto time_first = data::PadCollate().batch_first(false).padding_value(-1)(
      std::vector<std::pair<Tensor, Tensor>>{Reviews().get(0), Reviews().get(1)});
  EXPECT_TRUE(ag::equal(time_first.first, ag::tensor({{1, 3}, {1, -1}, {2, -1}})));  // [max L, B]
}

TEST(DefaultCollate, StacksTensorsFieldByFieldAndTurnsNumbersIntoTensors) {
  data::DefaultCollate collate;
  Tensor a = collate(std::vector<Tensor>{ag::tensor({1.0f, 2.0f}), ag::tensor({3.0f, 4.0f})});
  EXPECT_TRUE(ag::equal(a, ag::tensor({{1.0f, 2.0f}, {3.0f, 4.0f}})));
  auto t = collate(std::vector<std::tuple<Tensor, std::int64_t, double>>{{ag::tensor({1}), 5, 0.5},
                                                                        {ag::tensor({2}), 6, 1.5}});
  EXPECT_TRUE(ag::equal(std::get<0>(t), ag::tensor({{1}, {2}})));
  EXPECT_TRUE(ag::equal(std::get<1>(t), ag::tensor({5, 6})));  // int64, as PyTorch makes Python ints
  EXPECT_EQ(std::get<2>(t).dtype(), ag::kFloat64);              // float64, as Python floats
  auto v = collate(std::vector<std::vector<Tensor>>{{ag::tensor({1}), ag::tensor(2.0)}, {ag::tensor({3}), ag::tensor(4.0)}});
  ASSERT_EQ(v.size(), 2u);
  EXPECT_TRUE(ag::equal(v[1], ag::tensor({2.0f, 4.0f})));
}

TEST(DataLoader, BreakingOutOfAPassAndIteratingAgainStartsANewPass) {
  data::DataLoader loader(numbers(6), data::DataLoaderOptions().batch_size(2));
  for (auto& [x] : loader) {
    EXPECT_EQ(ints(x), (std::vector<std::int64_t>{0, 1}));
    break;
  }
  std::vector<std::int64_t> firsts;
  for (auto& [x] : loader) firsts.push_back(ints(x)[0]);
  EXPECT_EQ(firsts, (std::vector<std::int64_t>{0, 2, 4}));
}

TEST(DataLoader, UnderAGeneratorGuardTheShuffleDrawsFromTheThreadsGenerator) {
  auto order = [](data::DataLoader<data::TensorDataset<1>>& loader) {
    std::vector<std::int64_t> out;
    for (auto& [x] : loader)
      for (std::int64_t i : ints(x)) out.push_back(i);
    return out;
  };
  data::DataLoader loader(numbers(20), data::DataLoaderOptions().batch_size(5).shuffle(true));
  ag::manual_seed(5);
  std::vector<std::int64_t> want = order(loader);
  ag::manual_seed(123);
  ag::GeneratorState before = ag::default_generator().get_state();
  ag::Generator g(5);
  std::vector<std::int64_t> got;
  {
    ag::GeneratorGuard guard(g);
    got = order(loader);
  }
  EXPECT_EQ(got, want);
  ag::GeneratorState after = ag::default_generator().get_state();
  EXPECT_EQ(after.words, before.words);  // the process-wide generator drew nothing
  EXPECT_EQ(after.index, before.index);
}

TEST(Datasets, SubsetConcatAndTensorDatasetIndexAsPyTorchs) {
  data::TensorDataset ds(ag::arange(5) * 10, ag::arange(5));
  auto [x, y] = ds.get(-1);
  EXPECT_EQ(x.item<std::int64_t>(), 40);
  EXPECT_EQ(y.item<std::int64_t>(), 4);
  data::Subset sub(ds, {4, 0, 2});
  EXPECT_EQ(sub.size(), 3);
  EXPECT_EQ(sub.get(0)[0].item<std::int64_t>(), 40);
  data::ConcatDataset both(sub, data::Subset(ds, {1}));
  EXPECT_EQ(both.size(), 4);
  EXPECT_EQ(both.cumulative_sizes(), (std::vector<std::int64_t>{3, 4}));
  EXPECT_EQ(both.get(3)[0].item<std::int64_t>(), 10);
  EXPECT_EQ(both.get(-4)[0].item<std::int64_t>(), 40);
  data::DataLoader loader(both, data::DataLoaderOptions().batch_size(4));
  for (auto& [xb, yb] : loader) EXPECT_EQ(ints(yb), (std::vector<std::int64_t>{4, 0, 2, 1}));
}

TEST(Samplers, BatchSamplerAndSequentialSamplerAsPyTorchs) {
  data::BatchSampler b(std::make_shared<data::SequentialSampler>(5), 2, false);
  b.reset();
  std::vector<std::vector<std::int64_t>> got;
  while (auto batch = b.next()) got.push_back(*batch);
  EXPECT_EQ(got, (std::vector<std::vector<std::int64_t>>{{0, 1}, {2, 3}, {4}}));
  EXPECT_EQ(b.size(), 3);
  EXPECT_FALSE(b.next().has_value());  // the pass is over until reset
  data::DataLoader loader(numbers(5), data::DataLoaderOptions().batch_sampler(
                                          std::make_shared<data::BatchSampler>(std::make_shared<data::SequentialSampler>(5), 3, true)));
  std::vector<std::vector<std::int64_t>> batches;
  for (auto& [x] : loader) batches.push_back(ints(x));
  EXPECT_EQ(batches, (std::vector<std::vector<std::int64_t>>{{0, 1, 2}}));
}

TEST(Samplers, ACustomSamplerSetsTheOrder) {
  struct Backwards : data::Sampler {
    std::int64_t i = 0;
    void reset() override { i = 4; }
    std::optional<std::int64_t> next() override { return i >= 0 ? std::optional<std::int64_t>(i--) : std::nullopt; }
    std::int64_t size() const override { return 5; }
  };
  data::DataLoader loader(numbers(5), data::DataLoaderOptions().batch_size(2).sampler(std::make_shared<Backwards>()));
  std::vector<std::vector<std::int64_t>> batches;
  for (auto& [x] : loader) batches.push_back(ints(x));
  EXPECT_EQ(batches, (std::vector<std::vector<std::int64_t>>{{4, 3}, {2, 1}, {0}}));
  expect_throw<std::logic_error>([&] { loader.state(); }, "does not support checkpoints");
}

// ---- errors -------------------------------------------------------------------------------------

TEST(DataErrors, AnEmptyDatasetAndBatchSizeZeroAreRefusedAtConstruction) {
  data::TensorDataset empty(ag::zeros({0, 3}));
  expect_throw<std::invalid_argument>([&] { data::DataLoader loader(empty); }, "the dataset is empty (0 examples)");
  expect_throw<std::invalid_argument>([&] { data::DataLoader loader(numbers(3), data::DataLoaderOptions().batch_size(0)); },
                                      "batch_size must be positive, got 0");
  expect_throw<std::invalid_argument>([&] { data::RandomSampler s(0); }, "RandomSampler: the data set is empty");
  expect_throw<std::invalid_argument>(
      [&] { data::RandomSampler s(3, data::RandomSamplerOptions().num_samples(0)); }, "num_samples must be positive, got 0");
}

TEST(DataErrors, ACollateThatThrowsNamesTheBatchAndKeepsItsException) {
  auto collate = [](std::vector<std::array<Tensor, 1>> examples) -> Tensor {
    if (examples[0][0].item<std::int64_t>() >= 4) throw std::invalid_argument("my collate: no big numbers");
    return examples[0][0];
  };
  data::DataLoader loader(numbers(6), data::DataLoaderOptions().batch_size(2), collate);
  int batches = 0;
  try {
    for (auto& b : loader) {
      (void)b;
      ++batches;
    }
    FAIL() << "the collate's exception was lost";
  } catch (const data::CollateError& e) {
    EXPECT_STREQ(e.what(), "DataLoader: the collate function failed on batch 2 of the pass (samples 4, 5): "
                           "my collate: no big numbers");
    try {
      std::rethrow_if_nested(e);
      FAIL() << "no nested exception";
    } catch (const std::invalid_argument& inner) {
      EXPECT_STREQ(inner.what(), "my collate: no big numbers");
    }
  }
  EXPECT_EQ(batches, 2);
}

TEST(DataErrors, DefaultCollateOfUnequalShapesSaysToPad) {
  struct Ragged : data::Dataset<Tensor> {
    std::int64_t size() const override { return 2; }
    Tensor get(std::int64_t i) override { return ag::zeros({i + 1}); }
  };
  data::DataLoader loader(Ragged(), data::DataLoaderOptions().batch_size(2));
  expect_throw_with<data::CollateError>([&] { loader.begin(); },
                                        {"batch 0", "samples 0, 1", "example 1 is float32 [2]", "example 0's is float32 [1]",
                                         "PadCollate"});
}

TEST(DataErrors, ASamplerIndexOutOfRangeIsAnIndexError) {
  struct TooFar : data::Sampler {
    bool done = false;
    void reset() override { done = false; }
    std::optional<std::int64_t> next() override {
      if (done) return std::nullopt;
      done = true;
      return 7;
    }
    std::int64_t size() const override { return 1; }
  };
  data::DataLoader loader(numbers(5), data::DataLoaderOptions().sampler(std::make_shared<TooFar>()));
  expect_throw<ag::IndexError>([&] { loader.begin(); },
                               "the sampler gave index 7, out of range for a dataset of 5 examples (valid: 0..4)");
}

TEST(DataErrors, ConflictingOptionsAreRefused) {
  auto seq = std::make_shared<data::SequentialSampler>(4);
  expect_throw<std::invalid_argument>(
      [&] { data::DataLoader l(numbers(4), data::DataLoaderOptions().sampler(seq).shuffle(true)); },
      "sampler is mutually exclusive with shuffle");
  auto batches = std::make_shared<data::BatchSampler>(seq, 2, false);
  expect_throw<std::invalid_argument>(
      [&] { data::DataLoader l(numbers(4), data::DataLoaderOptions().batch_sampler(batches).batch_size(2)); },
      "batch_sampler is mutually exclusive with batch_size, shuffle, sampler and drop_last");
  expect_throw<std::invalid_argument>([&] { data::BatchSampler b(seq, 0, false); }, "batch_size must be positive");
}

TEST(DataErrors, RandomSplitLengthsThatDoNotFitAreRefused) {
  expect_throw<std::invalid_argument>([] { data::random_split(numbers(10), {3, 6}); },
                                      "the lengths sum to 9 but the dataset has 10 examples");
  expect_throw<std::invalid_argument>([] { data::random_split(numbers(10), {2.5, 7.5}); },
                                      "length 2.5 at index 0 is neither a whole number");
  expect_throw<std::invalid_argument>([] { data::random_split(numbers(10), {1.5, -0.5}); },
                                      "fraction 1.5 at index 0 is not between 0 and 1");
  expect_throw<std::invalid_argument>([] { data::random_split(numbers(10), std::vector<double>{}); },
                                      "no lengths given");
}

TEST(DataErrors, DatasetsRefuseBadShapesAndIndices) {
  expect_throw_with<std::invalid_argument>([] { data::TensorDataset ds(ag::zeros({3, 2}), ag::zeros({4})); },
                                           {"size mismatch", "[3, 2]", "[4]"});
  expect_throw<std::invalid_argument>([] { data::TensorDataset ds(ag::scalar_tensor(1.0)); }, "tensor 0 is 0-d");
  data::TensorDataset ds(ag::arange(3));
  expect_throw<ag::IndexError>([&] { ds.get(3); }, "TensorDataset: index 3 is out of range for 3 examples");
  data::Subset sub(ds, {0, 2});
  expect_throw<ag::IndexError>([&] { sub.get(2); }, "Subset: index 2 is out of range for 2 examples");
  data::ConcatDataset cat(ds, ds);
  expect_throw<ag::IndexError>([&] { cat.get(-7); }, "ConcatDataset: index -7 is out of range for 6 examples");
  expect_throw<std::invalid_argument>(
      [] { data::ConcatDataset<std::array<Tensor, 1>> c(std::vector<std::shared_ptr<data::Dataset<std::array<Tensor, 1>>>>{}); },
      "no datasets given");
}

TEST(DataErrors, PadSequenceRefusesWhatItCannotPad) {
  expect_throw<std::invalid_argument>([] { data::pad_sequence({}); }, "received an empty list of sequences");
  expect_throw_with<std::invalid_argument>([] { data::pad_sequence({ag::zeros({2, 3}), ag::zeros({2, 4})}); },
                                           {"sequence 1 has shape [2, 4]", "[2, 3]", "after the first dimension"});
  expect_throw<std::invalid_argument>([] { data::pad_sequence({ag::zeros({2}), ag::zeros({2}, ag::kFloat64)}); },
                                      "sequence 1 is float64 and sequence 0 is float32");
  expect_throw<std::invalid_argument>([] { data::pad_sequence({ag::scalar_tensor(1.0)}); }, "sequence 0 is 0-d");
  expect_throw<std::invalid_argument>([] { data::pad_sequence({ag::tensor({1})}, true, 0.5); },
                                      "padding_value 0.5 is not a whole number, and the sequences are int64");
}

TEST(DataErrors, ADamagedLoaderStateIsRefused) {
  data::DataLoader loader(numbers(5), data::DataLoaderOptions().batch_size(2).shuffle(true));
  expect_throw<std::invalid_argument>([&] { loader.load_state(ag::zeros({4})); }, "expected the 1-d int64 tensor");
  expect_throw<std::invalid_argument>([&] { loader.load_state(ag::tensor({9, 1, 0, 0})); }, "unknown state format 9");
  Tensor good = loader.state();
  std::vector<std::int64_t> w = ints(good);
  w.pop_back();
  expect_throw<std::invalid_argument>([&] { loader.load_state(ag::tensor(w, {std::int64_t(w.size())})); },
                                      "RandomSampler::load_state: the state ends before");
  w = ints(good);
  w.push_back(3);
  expect_throw<std::invalid_argument>([&] { loader.load_state(ag::tensor(w, {std::int64_t(w.size())})); },
                                      "1 words left over");
}

TEST(PadSequence, IsDifferentiable) {
  Tensor a = ag::tensor({1.0, 2.0, 3.0}, ag::TensorOptions(ag::kFloat64).requires_grad(true));
  Tensor b = ag::tensor({4.0}, ag::TensorOptions(ag::kFloat64).requires_grad(true));
  (data::pad_sequence({a, b}, true, -1.0) * ag::tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, ag::kFloat64)).sum().backward();
  EXPECT_TRUE(ag::equal(a.grad(), ag::tensor({1.0, 2.0, 3.0}, ag::kFloat64)));
  EXPECT_TRUE(ag::equal(b.grad(), ag::tensor({4.0}, ag::kFloat64)));
}
