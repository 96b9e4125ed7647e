// The everyday API as a PyTorch user reaches for it: printing models and state dicts, calling
// submodules, the loss modules, from_blob, tolist, 1-d tensor(std::vector), the optimizer's
// learning rate, an empty parameter list and the dtype-mismatch hint. PyTorch's numbers and
// printouts are in tests/data/everyday.json (tests/data/make_everyday.py).
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "ag/ag.h"
#include "test_util.h"

namespace nn = ag::nn;
namespace optim = ag::optim;
using ag::Tensor;
using json = nlohmann::json;

namespace {

const json& reference() {
  static const json doc = [] {
    std::ifstream in(std::string(AG_TEST_DATA_DIR) + "/everyday.json");
    if (!in) throw std::runtime_error("cannot open tests/data/everyday.json");
    return json::parse(in);
  }();
  return doc;
}

template <class T>
std::string printed(const T& value) {
  std::ostringstream os;
  os << value;
  return os.str();
}

struct Net : nn::Module {
  nn::ModuleHolder<nn::Linear> fc = register_module("fc", std::make_shared<nn::Linear>(3, 2));
  nn::ModuleHolder<nn::Embedding> emb = register_module("emb", std::make_shared<nn::Embedding>(5, 3));
  Tensor forward(const Tensor& tokens) override { return fc(emb(tokens).mean(1)); }
};

void expect_values(const Tensor& t, const json& expected, const char* what) {
  std::vector<double> got = t.to(ag::kFloat64).contiguous().to_vector<double>();
  std::vector<double> want = expected.get<std::vector<double>>();
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << what << " [" << i << "]";
}

}  // namespace

// ---- printing ------------------------------------------------------------------------------

TEST(EverydayApi, ASharedPtrToAModulePrintsTheModuleNotAnAddress) {
  auto fc = std::make_shared<nn::Linear>(4, 2);
  EXPECT_EQ(printed(fc), "Linear(in_features=4, out_features=2, bias=true)");
  std::shared_ptr<nn::Module> base = fc;
  EXPECT_EQ(printed(base), printed(*fc));
  auto net = std::make_shared<Net>();
  EXPECT_EQ(printed(net), "Net(\n  (fc): Linear(in_features=3, out_features=2, bias=true)\n  (emb): Embedding(5, 3)\n)");
  EXPECT_EQ(printed(net->fc), printed(*net->fc));  // a ModuleHolder prints its module
  EXPECT_EQ(printed(std::shared_ptr<nn::Linear>()), "None");
}

TEST(EverydayApi, AStateDictPrintsAsPyTorchsOrderedDict) {
  nn::Linear lin(2, 2);
  {
    ag::NoGradGuard no_grad;
    lin.weight.copy_(ag::tensor({{1.0f, 2.0f}, {3.0f, 4.0f}}));
    lin.bias.copy_(ag::tensor({0.5f, -0.5f}));
  }
  EXPECT_EQ(printed(lin.state_dict()), reference().at("state_dict_repr").get<std::string>());
  EXPECT_EQ(printed(nn::ReLU().state_dict()), reference().at("empty_state_dict_repr").get<std::string>());
}

// ---- calling submodules ---------------------------------------------------------------------

TEST(EverydayApi, ARegisteredSubmoduleIsCalledLikeTheLayer) {
  ag::manual_seed(0);
  Net net;
  Tensor tokens = ag::tensor({{1, 2}, {3, 4}});
  Tensor direct = net.fc->forward(net.emb->forward(tokens).mean(1));
  EXPECT_TRUE(ag::equal(net(tokens), direct));
  // The holder converts to the shared_ptr it holds and to one of a base class.
  std::shared_ptr<nn::Linear> as_ptr = net.fc;
  std::shared_ptr<nn::Module> as_base = net.fc;
  EXPECT_EQ(as_ptr.get(), net.fc.get());
  EXPECT_EQ(as_base.get(), net.fc.get());
  EXPECT_EQ(net.fc->weight.shape(), ag::Shape({2, 3}));
  // The hooks run, since the holder calls the module's operator().
  int calls = 0;
  auto handle = net.fc->register_forward_hook([&](nn::Module&, const Tensor&, const Tensor&) {
    ++calls;
    return Tensor();
  });
  net(tokens);
  EXPECT_EQ(calls, 1);
  nn::ModuleHolder<nn::Linear> empty;
  EXPECT_FALSE(empty);
  testutil::expect_throw_with<std::logic_error>([&] { empty(tokens); }, {"ModuleHolder", "empty"});
}

// ---- loss modules ---------------------------------------------------------------------------

TEST(EverydayApi, LossModulesPrintAsPyTorchsAndTakeTheirOptions) {
  std::vector<std::string> names;
  for (const json& r : reference().at("loss_reprs")) names.push_back(r.get<std::string>());
  EXPECT_EQ(names, (std::vector<std::string>{nn::CrossEntropyLoss().str(), nn::NLLLoss().str(), nn::MSELoss().str(),
                                              nn::L1Loss().str(), nn::BCEWithLogitsLoss().str()}));
  nn::CrossEntropyLoss ce(ag::CrossEntropyOptions().label_smoothing(0.25));
  EXPECT_EQ(ce.options.label_smoothing_, 0.25);
  EXPECT_EQ(nn::MSELoss(ag::kSum).options.reduction_, ag::kSum);
  EXPECT_EQ(nn::L1Loss(nn::L1LossOptions().reduction(ag::kNone)).options.reduction_, ag::kNone);
}

TEST(EverydayApi, LossModulesMatchPyTorchsValuesAndGradients) {
  const json& ref = reference().at("losses");
  auto logits_of = [] {
    std::vector<double> flat;
    for (const json& row : reference().at("logits"))
      for (const json& v : row) flat.push_back(v.get<double>());
    return ag::tensor(flat, {4, 3}, ag::TensorOptions(ag::kFloat64).requires_grad(true));
  };
  Tensor target = ag::tensor(reference().at("target").get<std::vector<std::int64_t>>());
  auto check = [&](const char* name, const std::function<Tensor(const Tensor&)>& loss) {
    Tensor x = logits_of();
    Tensor value = loss(x);
    value.sum().backward();
    expect_values(value, ref.at(name).at("value"), name);
    expect_values(x.grad(), ref.at(name).at("grad"), name);
  };
  auto ce = std::make_shared<nn::CrossEntropyLoss>(
      ag::CrossEntropyOptions().weight(ag::tensor({1.0, 2.0, 0.5}, ag::kFloat64)).label_smoothing(0.1));
  nn::ModuleHolder<nn::CrossEntropyLoss> criterion(ce);  // called through a holder as well
  check("cross_entropy", [&](const Tensor& x) { return criterion(x, target); });
  nn::NLLLoss nll(ag::NLLLossOptions().ignore_index(1).reduction(ag::kSum));
  check("nll", [&](const Tensor& x) { return nll(ag::log_softmax(x, 1), target); });
  Tensor y = ag::tensor({0.5, 0.5, -1.0, 2.0}, ag::kFloat64);
  nn::MSELoss mse(ag::kSum);
  check("mse_sum", [&](const Tensor& x) { return mse(x.select(1, 0), y); });
  nn::L1Loss l1(ag::kNone);
  check("l1_none", [&](const Tensor& x) { return l1(x.select(1, 0), y); });
  nn::BCEWithLogitsLoss bce(ag::BCEWithLogitsOptions().pos_weight(ag::tensor({3.0}, ag::kFloat64)));
  Tensor b = ag::tensor({1.0, 0.0, 1.0, 0.0}, ag::kFloat64);
  check("bce_pos_weight", [&](const Tensor& x) { return bce(x.select(1, 1), b); });
}

// ---- tensors from user memory and back --------------------------------------------------------

TEST(EverydayApi, FromBlobWrapsUserMemoryWithoutACopy) {
  std::vector<float> buf = {1, 2, 3, 4, 5, 6};
  Tensor t = ag::from_blob(buf.data(), {2, 3});
  EXPECT_EQ(t.dtype(), ag::kFloat32);
  EXPECT_EQ(t.shape(), ag::Shape({2, 3}));
  EXPECT_EQ(t.data_ptr<float>(), buf.data());
  t.mul_(2);  // writes into buf
  EXPECT_EQ(buf, (std::vector<float>{2, 4, 6, 8, 10, 12}));
  buf[5] = 60;  // and buf's writes are t's
  EXPECT_EQ(t.at<float>({1, 2}), 60.0f);
  EXPECT_EQ(t.sum(0).tolist<float>(), (std::vector<float>{10, 14, 66}));
  Tensor column = t.select(1, 2);  // a view of the blob
  EXPECT_EQ(column.data_ptr<float>(), buf.data() + 2);

  int deleted = 0;
  {
    auto* owned = new std::int64_t[3]{7, 8, 9};
    Tensor u = ag::from_blob(
        owned, {3},
        [&](void* p) {
          ++deleted;
          delete[] static_cast<std::int64_t*>(p);
        },
        ag::kInt64);
    Tensor view = u.slice(0, 1, 3);
    u = Tensor();
    EXPECT_EQ(deleted, 0);  // the view still uses the memory
    EXPECT_EQ(view.tolist<std::int64_t>(), (std::vector<std::int64_t>{8, 9}));
  }
  EXPECT_EQ(deleted, 1);
}

TEST(EverydayApi, FromBlobRefusesNullMisalignedAndNegativeShapes) {
  testutil::expect_throw_with<std::invalid_argument>([] { ag::from_blob(nullptr, {2}); }, {"from_blob", "null"});
  EXPECT_EQ(ag::from_blob(nullptr, {0, 3}).numel(), 0);  // nothing to read
  alignas(8) unsigned char bytes[16] = {};
  testutil::expect_throw_with<std::invalid_argument>([&] { ag::from_blob(bytes + 1, {2}, ag::kFloat64); },
                                                     {"from_blob", "aligned", "8 bytes"});
  testutil::expect_throw_with<std::invalid_argument>([&] { ag::from_blob(bytes, {-1}); }, {"from_blob", "-1"});
}

TEST(EverydayApi, FromBlobTensorsTakePartInAutograd) {
  std::vector<double> buf = {1, 2, 3};
  Tensor w = ag::from_blob(buf.data(), {3}, ag::TensorOptions(ag::kFloat64).requires_grad(true));
  (w * w).sum().backward();
  EXPECT_EQ(w.grad().tolist<double>(), (std::vector<double>{2, 4, 6}));
}

TEST(EverydayApi, TolistFlattensRowMajorAndTensorTakesAVectorWithoutShape) {
  Tensor m = ag::tensor({{1, 2, 3}, {4, 5, 6}});
  EXPECT_EQ(m.tolist<std::int64_t>(), (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(m.t().tolist<std::int64_t>(), (std::vector<std::int64_t>{1, 4, 2, 5, 3, 6}));  // a view, row-major
  EXPECT_EQ(ag::scalar_tensor(2.5).tolist<double>(), std::vector<double>{2.5});

  Tensor f = ag::tensor(std::vector<float>{1, 2, 3});
  EXPECT_EQ(f.dtype(), ag::kFloat32);
  EXPECT_EQ(f.shape(), ag::Shape({3}));
  EXPECT_EQ(ag::tensor(std::vector<double>{1, 2}).dtype(), ag::kFloat64);
  EXPECT_EQ(ag::tensor(std::vector<std::int64_t>{4, 5}).dtype(), ag::kInt64);
  Tensor g = ag::tensor(std::vector<float>{1, 2}, ag::requires_grad());
  EXPECT_TRUE(g.requires_grad());
  EXPECT_EQ(ag::tensor(std::vector<float>{}).shape(), ag::Shape({0}));
  EXPECT_EQ(ag::tensor(std::vector<float>{1, 2, 3, 4}, {2, 2}).shape(), ag::Shape({2, 2}));  // with a shape, as before
}

// ---- optimizers -----------------------------------------------------------------------------

TEST(EverydayApi, SetLrChangesEveryGroupAsPyTorchsParamGroupsLoop) {
  Tensor w = ag::tensor({1.0f, -2.0f}, ag::requires_grad());
  Tensor b = ag::tensor({3.0f}, ag::requires_grad());
  optim::SGD opt({optim::ParamGroup({w}), optim::ParamGroup({b}, optim::SGDOptions(0.01))}, optim::SGDOptions(0.1));
  opt.set_lr(0.5);
  EXPECT_EQ(opt.lr(), 0.5);
  EXPECT_EQ(opt.param_groups()[1].options().get_lr(), 0.5);
  (w * w).sum().backward();
  opt.step();
  std::vector<double> want = reference().at("sgd_after_set_lr").get<std::vector<double>>();
  std::vector<float> got = w.tolist<float>();
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_FLOAT_EQ(got[i], static_cast<float>(want[i]));
  // A learning rate out of range is refused and changes no group.
  testutil::expect_throw_with<std::invalid_argument>([&] { opt.set_lr(-1); }, {"SGD", "learning rate", "-1"});
  EXPECT_EQ(opt.param_groups()[0].options().get_lr(), 0.5);
  EXPECT_EQ(opt.param_groups()[1].options().get_lr(), 0.5);
}

TEST(EverydayApi, AnOptimizerOfNoParametersThrowsAsPyTorchs) {
  nn::ReLU relu;
  testutil::expect_throw_with<std::invalid_argument>([&] { optim::SGD opt(relu.parameters(), optim::SGDOptions(0.1)); },
                                                     {"SGD", "empty parameter list"});
  testutil::expect_throw_with<std::invalid_argument>([] { optim::Adam opt(std::vector<Tensor>{}); },
                                                     {"Adam", "empty parameter list"});
}

// ---- errors ---------------------------------------------------------------------------------

TEST(EverydayApi, ADtypeMismatchInLinearOrMatmulSaysHowToFixIt) {
  nn::Linear lin(3, 2);
  Tensor x64 = ag::randn({4, 3}, ag::kFloat64);
  testutil::expect_throw_with<std::invalid_argument>(
      [&] { lin(x64); }, {"linear", "float64", "float32", "x.to(ag::kFloat32)", "model->to(ag::kFloat64)"});
  testutil::expect_throw_with<std::invalid_argument>(
      [&] { ag::matmul(ag::randn({2, 2}), x64.t()); }, {"matmul", "to(ag::kFloat32)"});
}
