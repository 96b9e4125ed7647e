// PyTorch's torch.save files: fixtures written by PyTorch 1.13 (tests/data/torch, see
// make_torch_fixtures.py) load bit-exactly, optimizers resume where PyTorch stopped, ag's files load
// back, and hostile files are refused with a SerializeError naming what was wrong.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ag/ag.h"
#include "ag/serialize/torch_pickle.h"
#include "ag/serialize/zip.h"
#include "test_serialize_util.h"

namespace {

using namespace std::string_literals;
using ag::Tensor;
using sertest::TempDir;
using Json = nlohmann::ordered_json;  // the file's order is the state dict's
namespace nn = ag::nn;
namespace optim = ag::optim;

std::string fixture(const std::string& name) { return std::string(AG_TEST_DATA_DIR) + "/torch/" + name; }

const Json& expected() {
  static const Json j = Json::parse(sertest::read_bytes(fixture("expected.json")));
  return j;
}

/// Expects `f` to throw SerializeError whose message holds every fragment.
template <class F>
void expect_refused(F&& f, std::initializer_list<std::string> fragments) {
  try {
    f();
    ADD_FAILURE() << "no SerializeError; expected one containing '" << *fragments.begin() << "'";
  } catch (const ag::SerializeError& e) {
    for (const std::string& s : fragments) EXPECT_NE(std::string(e.what()).find(s), std::string::npos) << e.what();
  }
}

template <class Int, class Float>
Int bits(Float v) {
  Int b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

void expect_matches_fixture(const std::string& file) {
  SCOPED_TRACE(file);
  ag::NamedTensors got = ag::load_torch_state_dict(fixture(file));
  const Json& want = expected().at(file);
  ASSERT_EQ(got.size(), want.size());
  std::map<std::int64_t, Tensor> storages;
  std::size_t k = 0;
  for (const auto& [name, w] : want.items()) {
    SCOPED_TRACE(name);
    const auto& [got_name, t] = got[k++];
    EXPECT_EQ(got_name, name);  // in the file's order
    EXPECT_EQ(t.shape().vec(), w.at("shape").get<std::vector<std::int64_t>>());
    const std::string dtype = w.at("dtype");
    const ag::Dtype ag_dtype = dtype == "float64" ? ag::kFloat64 : dtype == "bool" ? ag::kBool
                               : dtype.find("float") != std::string::npos ? ag::kFloat32 : ag::kInt64;
    ASSERT_EQ(t.dtype(), ag_dtype) << dtype;
    if (t.numel() > 0) {
      EXPECT_EQ(t.strides().vec(), w.at("stride").get<std::vector<std::int64_t>>());
      EXPECT_EQ(t.storage_offset(), w.at("offset").get<std::int64_t>());
    }
    // Tensors sharing a storage in the file share one in ag, and only those.
    const std::int64_t storage = w.at("storage");
    for (const auto& [other, s] : storages) EXPECT_EQ(t.is_alias_of(s), other == storage) << "storage " << other;
    storages.emplace(storage, t);
    const Json& values = w.at("values");
    Tensor c = t.contiguous();
    ASSERT_EQ(static_cast<std::size_t>(c.numel()), values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (ag_dtype == ag::kFloat32) EXPECT_EQ(bits<std::int32_t>(c.data_ptr<float>()[i]), values[i].get<std::int32_t>()) << i;
      else if (ag_dtype == ag::kFloat64) EXPECT_EQ(bits<std::int64_t>(c.data_ptr<double>()[i]), values[i].get<std::int64_t>()) << i;
      else if (ag_dtype == ag::kBool) EXPECT_EQ(c.data_ptr<bool>()[i], values[i].get<bool>()) << i;
      else EXPECT_EQ(c.data_ptr<std::int64_t>()[i], values[i].get<std::int64_t>()) << i;
    }
  }
}

TEST(TorchLoad, StateDictWithTiedWeightsLoadsBitExactly) { expect_matches_fixture("model.pt"); }
TEST(TorchLoad, Float16LoadsAsExactFloat32) { expect_matches_fixture("half.pt"); }
TEST(TorchLoad, BFloat16LoadsAsExactFloat32) { expect_matches_fixture("bfloat16.pt"); }
TEST(TorchLoad, IntegerBoolAndFloat64StoragesLoadLosslessly) { expect_matches_fixture("ints.pt"); }
TEST(TorchLoad, ViewsOfOneStorageStayViewsOfOneStorage) { expect_matches_fixture("views.pt"); }

TEST(TorchLoad, TiedWeightsShareTheirStorage) {
  ag::NamedTensors sd = ag::load_torch_state_dict(fixture("model.pt"));
  Tensor emb, dec;
  for (auto& [name, t] : sd) {
    if (name == "emb.weight") emb = t;
    if (name == "dec.weight") dec = t;
  }
  ASSERT_TRUE(emb.defined() && dec.defined());
  ag::NoGradGuard no_grad;
  emb.add_(1.0);
  EXPECT_TRUE(ag::equal(emb, dec));
}

/// Net of make_torch_fixtures.py, in ag (the tie is not needed to load it).
struct Net : nn::Module {
  std::shared_ptr<nn::Embedding> emb = register_module("emb", std::make_shared<nn::Embedding>(nn::EmbeddingOptions(5, 4).padding_idx(0)));
  std::shared_ptr<nn::Linear> fc = register_module("fc", std::make_shared<nn::Linear>(4, 3));
  std::shared_ptr<nn::LayerNorm> norm = register_module("norm", std::make_shared<nn::LayerNorm>(3));
  std::shared_ptr<nn::Linear> dec = register_module("dec", std::make_shared<nn::Linear>(nn::LinearOptions(4, 5).bias(false)));
  Tensor forward(const Tensor& tokens) override { return (*norm)((*fc)((*emb)(tokens))); }
};

TEST(TorchLoad, IntoAModuleStrictly) {
  Net net;
  ag::load_torch(net, fixture("model.pt"));
  ag::NamedTensors sd = ag::load_torch_state_dict(fixture("model.pt"));
  for (const auto& [name, t] : sd) EXPECT_TRUE(ag::equal(net.state_dict().at(name), t)) << name;
}

TEST(TorchLoad, AgLoadRecognisesATorchFileByItsContent) {
  Net net, half;
  ag::load(net, fixture("model.pt"));
  ag::load(half, fixture("half.pt"), /*strict=*/false);  // half.pt has one more tensor
  EXPECT_TRUE(ag::equal(net.fc->weight, ag::load_torch_state_dict(fixture("model.pt"))[1].second));
  EXPECT_TRUE(ag::allclose(net.fc->weight, half.fc->weight, 1e-2, 1e-3));
}

TEST(TorchLoad, MismatchedModuleNamesTheKeys) {
  nn::Linear lin(4, 3);
  try {
    ag::load_torch(lin, fixture("model.pt"));
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("model.pt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("emb.weight"), std::string::npos) << e.what();
  }
}

TEST(TorchLoad, PickledModuleIsRefusedWithHowToResave) {
  expect_refused([] { ag::load_torch_state_dict(fixture("pickled_model.pt")); },
                 {"pickled_model.pt", "data.pkl byte", "torch.save(model.state_dict(), path)"});
}

TEST(TorchLoad, LegacyFormatIsRefusedWithHowToResave) {
  expect_refused([] { ag::load_torch_state_dict(fixture("legacy.pt")); }, {"legacy", "PyTorch < 1.6", "torch.save("});
  Net net;
  expect_refused([&] { ag::load(net, fixture("legacy.pt")); }, {"legacy"});
}

// ---- optimizers ---------------------------------------------------------------------------

Tensor named(const ag::NamedTensors& sd, const std::string& name) {
  for (const auto& [n, t] : sd)
    if (n == name) return t;
  throw std::out_of_range(name);
}

/// ag takes PyTorch's 4th step from the model and optimizer PyTorch saved after 3.
void expect_fourth_step_matches(const std::string& name, optim::Optimizer& opt, nn::Linear& lin) {
  SCOPED_TRACE(name);
  ag::load_torch(lin, fixture("lin3_" + name + ".pt"));
  ag::load_torch(opt, fixture(name + ".pt"));
  ag::NamedTensors data = ag::load_torch_state_dict(fixture("lin_data.pt"));
  opt.zero_grad();
  ag::mse_loss(lin.forward(named(data, "x")), named(data, "y")).backward();
  opt.step();
  ag::NamedTensors want = ag::load_torch_state_dict(fixture("lin4_" + name + ".pt"));
  EXPECT_TRUE(ag::allclose(lin.weight, named(want, "weight"), 1e-6, 1e-7)) << lin.weight << named(want, "weight");
  EXPECT_TRUE(ag::allclose(lin.bias, named(want, "bias"), 1e-6, 1e-7)) << lin.bias << named(want, "bias");
}

TEST(TorchOptimizer, SgdMomentumResumesPyTorchsRun) {
  nn::Linear lin(3, 2);
  optim::SGD opt(lin.parameters(), optim::SGDOptions(1.0));  // lr, momentum, ... come from the file
  expect_fourth_step_matches("sgd", opt, lin);
  auto& o = static_cast<const optim::SGDOptions&>(opt.param_groups()[0].options());
  EXPECT_EQ(o.momentum(), 0.9);
  EXPECT_EQ(o.dampening(), 0.1);
  EXPECT_EQ(o.weight_decay(), 0.01);
}

TEST(TorchOptimizer, AdamResumesPyTorchsRun) {
  nn::Linear lin(3, 2);
  optim::Adam opt(lin.parameters());
  expect_fourth_step_matches("adam", opt, lin);
  auto& o = static_cast<const optim::AdamOptionsBase&>(opt.param_groups()[0].options());
  EXPECT_EQ(o.lr(), 0.01);
  EXPECT_EQ(std::get<0>(o.betas()), 0.8);
  EXPECT_EQ(o.eps(), 1e-6);
  EXPECT_EQ(static_cast<optim::AdamParamState*>(opt.state(lin.weight))->step, 4);
}

TEST(TorchOptimizer, AdamWAmsgradResumesPyTorchsRun) {
  nn::Linear lin(3, 2);
  optim::AdamW opt(lin.parameters());
  expect_fourth_step_matches("adamw_amsgrad", opt, lin);
  auto& o = static_cast<const optim::AdamOptionsBase&>(opt.param_groups()[0].options());
  EXPECT_TRUE(o.amsgrad());
  EXPECT_TRUE(static_cast<optim::AdamParamState*>(opt.state(lin.weight))->max_exp_avg_sq.defined());
}

TEST(TorchOptimizer, AnotherOptimizersStateIsRefused) {
  nn::Linear lin(3, 2);
  optim::SGD opt(lin.parameters(), optim::SGDOptions(0.1));
  EXPECT_THROW(ag::load_torch(opt, fixture("adam.pt")), std::invalid_argument);
  EXPECT_THROW(ag::load_torch(opt, fixture("model.pt")), ag::SerializeError);
}

TEST(TorchOptimizer, SaveTorchRoundTripsTheState) {
  TempDir dir;
  for (const std::string name : {"sgd", "adam", "adamw_amsgrad"}) {
    SCOPED_TRACE(name);
    nn::Linear lin(3, 2);
    std::unique_ptr<optim::Optimizer> opt;
    if (name == "sgd") opt = std::make_unique<optim::SGD>(lin.parameters(), optim::SGDOptions(1.0));
    else if (name == "adam") opt = std::make_unique<optim::Adam>(lin.parameters());
    else opt = std::make_unique<optim::AdamW>(lin.parameters());
    ag::load_torch(*opt, fixture(name + ".pt"));
    ag::save_torch(*opt, dir / "opt.pt");
    optim::StateDict a = opt->state_dict();
    optim::StateDict b = ag::serialize::decode_torch_optimizer(sertest::read_bytes(dir / "opt.pt"), "opt.pt");
    ASSERT_EQ(a.scalars.size(), b.scalars.size());
    for (const auto& [k, v] : a.scalars.items()) EXPECT_EQ(b.scalars.at(k), v) << k;
    ASSERT_EQ(a.tensors.size(), b.tensors.size());
    for (const auto& [k, t] : a.tensors.items()) EXPECT_TRUE(ag::equal(b.tensors.at(k), t)) << k;
  }
}

// ---- resume across frameworks -------------------------------------------------------------

/// examples/torch_sentiment.py's SentimentModel, dim 8.
struct SentimentModel : nn::Module {
  std::shared_ptr<nn::Embedding> emb = register_module("emb", std::make_shared<nn::Embedding>(nn::EmbeddingOptions(4, 8).padding_idx(0)));
  std::shared_ptr<nn::Linear> fc = register_module("fc", std::make_shared<nn::Linear>(8, 2));
  Tensor forward(const Tensor& tokens) override {
    Tensor mask = (tokens != 0).to(ag::kFloat32).unsqueeze(-1);  // [B, S, 1]
    return (*fc)(((*emb)(tokens) * mask).sum(1) / mask.sum(1));  // [B, 2]
  }
};

TEST(TorchResume, TenPyTorchStepsThenTenAgStepsEqualTwentyPyTorchSteps) {
  SentimentModel model;
  optim::Adam opt(model.parameters());  // lr 0.05 comes from the file
  ag::load_torch(model, fixture("sent_model_10.pt"));
  ag::load_torch(opt, fixture("sent_adam_10.pt"));
  ag::NamedTensors batches = ag::load_torch_state_dict(fixture("sent_batches.pt"));
  for (int k = 10; k < 20; ++k) {
    opt.zero_grad();
    ag::cross_entropy(model.forward(named(batches, "tokens." + std::to_string(k))), named(batches, "labels." + std::to_string(k))).backward();
    opt.step();
  }
  ag::NamedTensors want = ag::load_torch_state_dict(fixture("sent_model_20.pt"));
  for (const auto& [name, w] : want) {
    const Tensor got = model.state_dict().at(name);
    const double err = ((got - w).abs().max() / w.abs().max()).item<double>();
    EXPECT_LE(err, 1e-5) << name;
  }
}

// ---- writing ------------------------------------------------------------------------------

TEST(TorchSave, StateDictRoundTripsThroughAg) {
  TempDir dir;
  ag::NamedTensors views = ag::load_torch_state_dict(fixture("views.pt"));
  ag::NamedTensors ints = ag::load_torch_state_dict(fixture("ints.pt"));
  for (auto* sd : {&views, &ints}) {
    ag::save_torch_state_dict(*sd, dir / "out.pt");
    ag::NamedTensors back = ag::load_torch_state_dict(dir / "out.pt");
    ASSERT_EQ(back.size(), sd->size());
    for (std::size_t k = 0; k < sd->size(); ++k) {
      EXPECT_EQ(back[k].first, (*sd)[k].first);
      EXPECT_EQ(back[k].second.dtype(), (*sd)[k].second.dtype());
      EXPECT_TRUE(ag::equal(back[k].second, (*sd)[k].second)) << back[k].first;
    }
  }
}

TEST(TorchSave, TheSameTensorTwiceIsWrittenOnce) {
  Tensor w = ag::randn({3, 4});
  std::string bytes = ag::serialize::encode_torch_state_dict({{"a", w}, {"b", w}, {"c", w.t()}});
  ag::NamedTensors back = ag::serialize::decode_torch_state_dict(bytes, "tied.pt");
  EXPECT_TRUE(back[0].second.is_alias_of(back[1].second));
  EXPECT_FALSE(back[0].second.is_alias_of(back[2].second));
  EXPECT_TRUE(ag::equal(back[2].second, w.t()));
}

TEST(TorchSave, EntriesAreStoredAndAlignedTo64Bytes) {
  Net net;
  ag::NamedTensors sd = net.state_dict().items();
  std::string bytes = ag::serialize::encode_torch_state_dict(sd);
  ag::serialize::ZipReader zip(bytes, "net.pt");
  ASSERT_EQ(zip.entries().size(), sd.size() + 2);
  EXPECT_EQ(zip.entries().front().name, "archive/data.pkl");
  EXPECT_EQ(zip.entries().back().name, "archive/version");
  for (const auto& e : zip.entries()) EXPECT_EQ(e.offset % 64, 0u) << e.name;
}

TEST(TorchSave, SaveIsAtomicAndLeavesNoTemporaryFile) {
  TempDir dir;
  Net net;
  ag::save_torch(net, dir / "net.pt");
  EXPECT_EQ(dir.files(), std::vector<std::string>{"net.pt"});
  EXPECT_TRUE(ag::is_torch_file(dir / "net.pt"));
}

/// Writes the files that `make_torch_fixtures.py --check build/tests/torch_export` loads into
/// PyTorch, and checks that ag reads them back.
TEST(TorchSave, WritesTheFilesThePyTorchCheckReads) {
  const std::string out = "torch_export";
  ::mkdir(out.c_str(), 0755);
  ag::manual_seed(7);
  Net net;
  Tensor tokens = ag::tensor({{1, 2, 0}, {4, 3, 1}}, ag::kInt64);
  Tensor output = net.forward(tokens).detach();
  ag::save_torch(net, out + "/net.pt");
  nn::Linear lin(3, 2);
  Tensor x = ag::randn({4, 3}), y = ag::randn({4, 2});
  ag::NamedTensors io{{"tokens", tokens}, {"output", output}, {"x", x}, {"y", y}};
  auto run = [&](const std::string& name, optim::Optimizer& opt, nn::Linear& l) {
    for (int step = 0; step < 3; ++step) {  // the state after two steps saved; PyTorch takes the third too
      opt.zero_grad();
      ag::mse_loss(l.forward(x), y).backward();
      if (step == 2) {
        ag::save_torch(opt, out + "/" + name + ".pt");
        ag::save_torch(l, out + "/lin_" + name + ".pt");
      }
      opt.step();
    }
    io.emplace_back("after_" + name, l.weight.detach().clone());
  };
  auto fresh = [&] {
    auto l = std::make_shared<nn::Linear>(3, 2);
    l->load_state_dict(lin.state_dict());
    return l;
  };
  auto l1 = fresh(), l2 = fresh(), l3 = fresh();
  optim::SGD sgd(l1->parameters(), optim::SGDOptions(0.1).momentum(0.9).nesterov(true));
  optim::Adam adam(l2->parameters(), optim::AdamOptions(0.01).amsgrad(true));
  optim::AdamW adamw(l3->parameters(), optim::AdamWOptions(0.02).weight_decay(0.1));
  run("sgd", sgd, *l1);
  run("adam", adam, *l2);
  run("adamw", adamw, *l3);
  ag::save_torch_state_dict(io, out + "/io.pt");
  // What PyTorch reads, ag reads back.
  Net back;
  ag::load_torch(back, out + "/net.pt");
  EXPECT_TRUE(ag::equal(back.forward(tokens), output));
  EXPECT_EQ(ag::load_torch_state_dict(out + "/io.pt").size(), io.size());
}

// ---- hostile files ------------------------------------------------------------------------

using ag::serialize::ZipWriter;

/// A torch.save-shaped zip around `pickle`, with storages "0", "1", ... holding `storages`.
std::string torch_file(const std::string& pickle, const std::vector<std::string>& storages = {}) {
  ZipWriter zip;
  zip.add("archive/data.pkl", pickle);
  for (std::size_t k = 0; k < storages.size(); ++k) zip.add("archive/data/" + std::to_string(k), storages[k]);
  zip.add("archive/version", "3\n");
  return zip.finish();
}

ag::NamedTensors decode(const std::string& bytes) { return ag::serialize::decode_torch_state_dict(bytes, "hostile.pt"); }

std::string floats(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}

/// OrderedDict{"w": tensor of `size`, `stride`, `offset` on FloatStorage "0" of `numel`}.
std::string one_tensor_pickle(std::int64_t numel, std::int64_t offset, const ag::Shape& size, const ag::Shape& stride) {
  ag::serialize::torch_pickle::Pickler p;
  p.proto();
  p.empty_ordered_dict();
  p.mark();
  p.string("w");
  p.tensor(ag::serialize::torch_pickle::StorageType::Float, "0", numel, offset, size, stride);
  p.setitems();
  return p.finish();
}

TEST(TorchHostile, TheBaseCaseLoads) {
  ag::NamedTensors sd = decode(torch_file(one_tensor_pickle(6, 0, {2, 3}, {3, 1}), {floats({1, 2, 3, 4, 5, 6})}));
  ASSERT_EQ(sd.size(), 1u);
  EXPECT_EQ(sd[0].second.at<float>({1, 2}), 6.0f);
}

TEST(TorchHostile, UnknownGlobalsAreRefused) {
  for (const std::string g : {"os\nsystem\n", "builtins\neval\n", "torch\nload\n", "posix\nsystem\n", "torch._utils\n_rebuild_qtensor\n"}) {
    std::string pickle = "\x80\x02" "c" + g + "X\x02\x00\x00\x00id\x85R.";
    const std::string name = g.substr(0, g.find('\n')) + "." + g.substr(g.find('\n') + 1, g.size() - g.find('\n') - 2);
    expect_refused([&] { decode(torch_file(pickle)); }, {"hostile.pt", "data.pkl byte 2", "GLOBAL", "'" + name + "' is not allowed"});
  }
}

TEST(TorchHostile, ReduceOfANonFunctionIsRefused) {
  expect_refused([] { decode(torch_file("\x80\x02" "ctorch\nFloatStorage\n)R.")); }, {"byte 23", "REDUCE", "torch.FloatStorage", "does not call"});
  expect_refused([] { decode(torch_file("\x80\x02X\x01\x00\x00\x00x)R."s)); }, {"REDUCE", "calls str 'x'"});
  expect_refused([] { decode(torch_file("\x80\x02" "ccollections\nOrderedDict\nK\x01R.")); }, {"REDUCE", "must be a tuple"});
}

TEST(TorchHostile, SetitemOnAnythingButADictIsRefused) {
  expect_refused([] { decode(torch_file("\x80\x02]K\x01K\x02s.")); }, {"SETITEM", "a list", "only a dict"});
  expect_refused([] { decode(torch_file("\x80\x02)K\x01K\x02s.")); }, {"SETITEM", "a tuple"});
  expect_refused([] { decode(torch_file("\x80\x02N(K\x01K\x02u.")); }, {"SETITEMS", "None"});
  // SETITEM on a tensor: the tensor of the base case, then a key and a value.
  std::string p = one_tensor_pickle(6, 0, {2, 3}, {3, 1});
  const std::size_t reduce_end = p.rfind('u');  // ... "w" tensor | u .
  std::string on_tensor = p.substr(0, reduce_end) + "K\x01K\x02s" + p.substr(reduce_end);
  expect_refused([&] { decode(torch_file(on_tensor, {floats({1, 2, 3, 4, 5, 6})})); }, {"SETITEM", "a tensor"});
  expect_refused([] { decode(torch_file("\x80\x02)K\x01" "a.")); }, {"APPEND", "a tuple", "only a list"});
}

TEST(TorchHostile, ContainersCannotChangeOnceInsideAnother) {
  // A list appended to itself, and a dict changed after it went into a list: no cycles.
  expect_refused([] { decode(torch_file("\x80\x02]q\x00h\x00"s "a.")); }, {"APPEND", "already inside"});
  expect_refused([] { decode(torch_file("\x80\x02]}q\x00"s "ah\x00K\x01K\x02s."s)); }, {"SETITEM", "already inside"});
}

TEST(TorchHostile, StorageNumelLargerThanItsEntryIsRefused) {
  expect_refused([] { decode(torch_file(one_tensor_pickle(7, 0, {2, 3}, {3, 1}), {floats({1, 2, 3, 4, 5, 6})})); },
                 {"storage '0'", "declares 7 elements of FloatStorage", "holds 24 bytes"});
  expect_refused([] { decode(torch_file(one_tensor_pickle(std::int64_t{1} << 62, 0, {2, 3}, {3, 1}), {floats({1, 2, 3, 4, 5, 6})})); },
                 {"declares 4611686018427387904 elements"});
  expect_refused([] { decode(torch_file(one_tensor_pickle(6, 0, {2, 3}, {3, 1}))); }, {"storage '0'", "no entry 'archive/data/0'"});
}

TEST(TorchHostile, TensorViewPastItsStorageIsRefused) {
  const std::string data = floats({1, 2, 3, 4, 5, 6});
  expect_refused([&] { decode(torch_file(one_tensor_pickle(6, 1, {2, 3}, {3, 1}), {data})); }, {"REDUCE", "size (2, 3) stride (3, 1) offset 1", "past the end"});
  expect_refused([&] { decode(torch_file(one_tensor_pickle(6, 0, {3, 3}, {3, 1}), {data})); }, {"past the end"});
  expect_refused([&] { decode(torch_file(one_tensor_pickle(6, 0, {2, 2}, {1 << 30, 1}), {data})); }, {"past the end"});
  expect_refused([&] { decode(torch_file(one_tensor_pickle(6, 0, {1 << 30, 1 << 30}, {1 << 30, 1 << 30}), {data})); }, {"more than 2^48 elements"});
  expect_refused([&] { decode(torch_file(one_tensor_pickle(6, 0, {2, -3}, {3, 1}), {data})); }, {"dimension 1 is -3"});
  expect_refused([&] { decode(torch_file(one_tensor_pickle(6, -1, {2}, {1}), {data})); }, {"past the end"});
  expect_refused([&] { decode(torch_file(one_tensor_pickle(6, 0, {2}, {-1}), {data})); }, {"stride -1 is negative"});
}

TEST(TorchHostile, MemoIndexOutOfRangeIsRefused) {
  expect_refused([] { decode(torch_file("\x80\x02h\x05.")); }, {"BINGET", "memo index 5 is out of range"});
  expect_refused([] { decode(torch_file("\x80\x02j\xff\xff\xff\xff.")); }, {"LONG_BINGET", "4294967295"});
  expect_refused([] { decode(torch_file("\x80\x02Nr\xff\xff\xff\x7f.")); }, {"LONG_BINPUT", "skips ahead"});
}

TEST(TorchHostile, DeepNestingIsRefused) {
  expect_refused([] { decode(torch_file("\x80\x02" + std::string(100000, ']') + std::string(99999, 'a') + ".")); }, {"stack holds more than"});
  expect_refused([] { decode(torch_file("\x80\x02" + std::string(100000, '(') + "N.")); }, {"open MARKs"});
  expect_refused([] { decode(torch_file("\x80\x02" + std::string(1000, ']') + std::string(999, 'a') + ".")); }, {"nested more than 64 deep"});
  // Tuples nest as deep through TUPLE1.
  expect_refused([] { decode(torch_file("\x80\x02N" + std::string(100000, '\x85') + ".")); }, {"nested more than 64 deep"});
}

TEST(TorchHostile, HugeStringLengthsAreRefusedBeforeAllocating) {
  expect_refused([] { decode(torch_file("\x80\x02X\xff\xff\xff\xff" "abc.")); }, {"BINUNICODE", "needs 4294967295 bytes", "cut short"});
  // 2^40 needs BINUNICODE8, which torch.save never writes.
  expect_refused([] { decode(torch_file(std::string("\x80\x02\x8d\x00\x00\x00\x00\x00\x01\x00\x00", 11) + "abc.")); }, {"opcode 0x8d", "not one torch.save writes"});
  expect_refused([] { decode(torch_file("\x80\x02X\x02\x00\x00\x00\xc3\x28."s)); }, {"not valid UTF-8"});
  expect_refused([] { decode(torch_file("\x80\x02\x8a\x09" + std::string(9, '\x01') + ".")); }, {"LONG1", "9 bytes"});
}

TEST(TorchHostile, TooManyObjectsForTheFileSizeAreRefused) {
  // A list of 300,000 Nones from 600 kB: more objects than a state dict of this size needs.
  std::string pickle = "\x80\x02]";
  for (int k = 0; k < 300000; ++k) pickle += "Na";
  pickle += ".";
  expect_refused([&] { decode(torch_file(pickle)); }, {"bytes of objects"});
  // A DAG of shared lists (2^59 elements if expanded) is cheap for the machine and no state dict.
  std::string dag = "\x80\x02(]q\x00"s;
  for (int k = 1; k < 60; ++k) dag += "]h" + std::string(1, char(k - 1)) + "ah" + std::string(1, char(k - 1)) + "aq" + std::string(1, char(k));
  dag += "t.";
  expect_refused([&] { decode(torch_file(dag)); }, {"expected a state dict", "a tuple of 60"});
}

// ---- hostile zips ---------------------------------------------------------------------------

std::string base_file() { return torch_file(one_tensor_pickle(6, 0, {2, 3}, {3, 1}), {floats({1, 2, 3, 4, 5, 6})}); }

/// The offset of the central directory record of entry `k`.
std::size_t central(const std::string& f, int k) {
  std::size_t at = f.find("PK\x01\x02");
  for (int i = 0; i < k; ++i) at = f.find("PK\x01\x02", at + 4);
  return at;
}

void put32(std::string& f, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) f[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

TEST(TorchHostileZip, DeclaredSizesThatLieAreRefused) {
  std::string f = base_file();
  const std::size_t c = central(f, 1);  // archive/data/0
  std::string bigger = f;
  put32(bigger, c + 20, 1000);
  put32(bigger, c + 24, 1000);
  expect_refused([&] { decode(bigger); }, {"zip entry 'archive/data/0'", "declares 1000 bytes"});
  std::string smaller = f;
  put32(smaller, c + 20, 20);
  put32(smaller, c + 24, 20);
  expect_refused([&] { decode(smaller); }, {"CRC-32"});
  std::string size_mismatch = f;
  put32(size_mismatch, c + 20, 12);
  expect_refused([&] { decode(size_mismatch); }, {"compressed size 12 differs"});
  std::string offset = f;
  put32(offset, c + 42, 3);
  expect_refused([&] { decode(offset); }, {"local header offset 3"});
}

TEST(TorchHostileZip, ZipBombIsRefused) {
  // Deflated entries are never inflated: 4 GiB declared from a few bytes is refused unread.
  std::string f = base_file();
  const std::size_t c = central(f, 1);
  f[c + 10] = 8;  // deflate
  put32(f, c + 20, 10);
  put32(f, c + 24, 0xfffffffe);
  expect_refused([&] { decode(f); }, {"archive/data/0", "is compressed (method 8)"});
  std::string stored = base_file();
  put32(stored, central(stored, 1) + 20, 0xfffffffe);
  put32(stored, central(stored, 1) + 24, 0xfffffffe);
  expect_refused([&] { decode(stored); }, {"declares 4294967294 bytes"});
}

TEST(TorchHostileZip, DuplicateEntryNamesAreRefused) {
  ZipWriter zip;
  zip.add("archive/data.pkl", one_tensor_pickle(6, 0, {2, 3}, {3, 1}));
  zip.add("archive/data/0", floats({1, 2, 3, 4, 5, 6}));
  zip.add("archive/data/0", floats({6, 5, 4, 3, 2, 1}));
  expect_refused([&] { decode(zip.finish()); }, {"zip entry 'archive/data/0'", "appears twice"});
}

TEST(TorchHostileZip, OverlappingEntriesAreRefused) {
  std::string f = base_file();
  // Point data/0's central record at data.pkl's local header (with its name patched to match).
  const std::size_t c = central(f, 1);
  put32(f, c + 42, 0);
  expect_refused([&] { decode(f); }, {"archive/data/0"});
}

TEST(TorchHostileZip, NotAZipAtAll) {
  expect_refused([] { decode("hello"); }, {"not a torch.save file"});
  expect_refused([] { decode("PK\x03\x04 and nothing else, not even an end record"); }, {"zip end record"});
  ZipWriter zip;
  zip.add("a/b.txt", "x");
  expect_refused([&] { decode(zip.finish()); }, {"data.pkl", "missing"});
}

TEST(TorchHostileZip, TruncationAtEveryByteIsRefused) {
  const std::string f = sertest::read_bytes(fixture("model.pt"));
  ASSERT_GT(f.size(), 1000u);
  for (std::size_t n = 0; n < f.size(); ++n) {
    try {
      decode(f.substr(0, n));
      ADD_FAILURE() << "a file cut at byte " << n << " loaded";
    } catch (const ag::SerializeError&) {
    }
  }
}

TEST(TorchHostileZip, EveryFlippedByteIsRefusedOrLoadsCleanly) {
  // Changing any byte of a real file either gives a SerializeError or a state dict (a byte of the
  // zip that nothing reads, such as a timestamp); never another exception.
  const std::string f = sertest::read_bytes(fixture("model.pt"));
  for (std::size_t n = 0; n < f.size(); ++n) {
    std::string g = f;
    g[n] = static_cast<char>(g[n] ^ 0x5a);
    try {
      decode(g);
    } catch (const ag::SerializeError&) {
    }
  }
}

}  // namespace
