// Module machinery: registration, dotted names, traversal, train/eval, zero_grad, dtype
// conversion, Parameter assignment and the printer.
#include <gtest/gtest.h>

#include "ag/nn/nn.h"

namespace nn = ag::nn;
using ag::Tensor;

namespace {

// A block with its own parameter and buffer and one submodule.
struct Block : nn::Module {
  std::shared_ptr<nn::Linear> fc = register_module("fc", std::make_shared<nn::Linear>(4, 3));
  nn::Parameter& scale = register_parameter("scale", ag::ones({3}));
  Tensor& steps = register_buffer("steps", ag::zeros({1}));
  Tensor forward(const Tensor& x) override { return fc->forward(x) * scale; }
};

// Net: bias, block.{scale, steps, fc.*}, head.{0: ReLU, 1: Linear}.
struct Net : nn::Module {
  nn::Parameter& bias = register_parameter("bias", ag::zeros({3}));
  std::shared_ptr<Block> block = register_module("block", std::make_shared<Block>());
  std::shared_ptr<nn::Sequential> head = register_module(
      "head", std::make_shared<nn::Sequential>(std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(3, 2)));
  Tensor forward(const Tensor& x) override { return head->forward(block->forward(x) + bias); }
};

std::vector<std::string> keys(const std::vector<std::shared_ptr<nn::Module>>& modules) {
  std::vector<std::string> names;
  for (const auto& m : modules) names.push_back(m->name());
  return names;
}

}  // namespace

TEST(NnModule, NamedParametersAreDottedOwnFirstInRegistrationOrder) {
  Net net;
  std::vector<std::string> expected = {"bias",          "block.scale",   "block.fc.weight",
                                       "block.fc.bias", "head.1.weight", "head.1.bias"};
  EXPECT_EQ(net.named_parameters().keys(), expected);
  EXPECT_EQ(net.parameters().size(), 6u);
  EXPECT_TRUE(net.named_parameters()["block.fc.weight"].is_same(net.block->fc->weight));
  for (const Tensor& p : net.parameters()) EXPECT_TRUE(p.requires_grad() && p.is_leaf());
}

TEST(NnModule, NamedParametersWithoutRecursionAreTheModulesOwn) {
  Net net;
  EXPECT_EQ(net.named_parameters(/*recurse=*/false).keys(), std::vector<std::string>{"bias"});
  EXPECT_EQ(net.block->named_parameters(false).keys(), std::vector<std::string>{"scale"});
}

TEST(NnModule, BuffersAreNotParameters) {
  Net net;
  EXPECT_EQ(net.named_buffers().keys(), std::vector<std::string>{"block.steps"});
  EXPECT_FALSE(net.buffers()[0].requires_grad());
  for (const auto& name : net.named_parameters().keys()) EXPECT_EQ(name.find("steps"), std::string::npos);
}

TEST(NnModule, TiedParameterIsListedOnceButSavedUnderEachName) {
  auto lin = std::make_shared<nn::Linear>(3, 3);
  nn::Sequential seq(lin, lin);
  EXPECT_EQ(seq.named_parameters().keys(), (std::vector<std::string>{"0.weight", "0.bias"}));
  EXPECT_EQ(seq.state_dict().keys(), (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias"}));
}

TEST(NnModule, ChildrenAreTheDirectSubmodulesInOrder) {
  Net net;
  EXPECT_EQ(net.named_children().keys(), (std::vector<std::string>{"block", "head"}));
  EXPECT_EQ(keys(net.children()), (std::vector<std::string>{"Block", "Sequential"}));
  EXPECT_EQ(net.children()[0].get(), net.block.get());
}

TEST(NnModule, NamedModulesListSelfThenDescendantsDepthFirst) {
  auto net = std::make_shared<Net>();
  auto modules = net->named_modules();
  EXPECT_EQ(modules.keys(), (std::vector<std::string>{"", "block", "block.fc", "head", "head.0", "head.1"}));
  EXPECT_EQ(modules[""].get(), net.get());
  EXPECT_EQ(net.use_count(), 2);  // net, and the entry for "" in `modules`, which shares ownership
  EXPECT_EQ(keys(net->modules(/*include_self=*/false)), (std::vector<std::string>{"Block", "Linear", "Sequential", "ReLU", "Linear"}));
  EXPECT_EQ(net->named_modules("model").keys().at(2), "model.block.fc");
}

TEST(NnModule, NamedModulesWorksOnAStackModule) {
  Net net;  // not owned by a shared_ptr: self is returned as a non-owning pointer
  auto modules = net.named_modules();
  EXPECT_EQ(modules.size(), 6u);
  EXPECT_EQ(modules[""].get(), &net);
}

TEST(NnModule, ModuleNamesAreClassNames) {
  Net net;
  EXPECT_EQ(net.name(), "Net");
  EXPECT_EQ(net.block->fc->name(), "Linear");
  EXPECT_EQ(nn::Module("Custom").name(), "Custom");
}

TEST(NnModule, RegisterRejectsEmptyDottedAndDuplicateNames) {
  nn::Module m;
  m.register_parameter("w", ag::zeros({2}));
  EXPECT_THROW(m.register_parameter("w", ag::zeros({2})), std::invalid_argument);
  EXPECT_THROW(m.register_buffer("w", ag::zeros({2})), std::invalid_argument);
  EXPECT_THROW(m.register_module("w", std::make_shared<nn::ReLU>()), std::invalid_argument);
  EXPECT_THROW(m.register_parameter("", ag::zeros({2})), std::invalid_argument);
  try {
    m.register_parameter("a.b", ag::zeros({2}));
    FAIL() << "a dotted name was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("a.b"), std::string::npos) << e.what();
  }
  EXPECT_THROW(m.register_module("m", std::shared_ptr<nn::Linear>()), std::invalid_argument);
}

TEST(NnModule, RegisteredReferencesStayValidAsTheRegistryGrows) {
  nn::Module m;
  nn::Parameter& first = m.register_parameter("p0", ag::zeros({1}));
  for (int i = 1; i < 100; ++i) m.register_parameter("p" + std::to_string(i), ag::zeros({1}));
  EXPECT_TRUE(first.is_same(m.named_parameters()["p0"]));
}

TEST(NnModule, RegisterParameterMakesAFreshLeafSharingTheData) {
  nn::Module m;
  Tensor data = ag::tensor({1.0, 2.0});
  nn::Parameter& p = m.register_parameter("p", data);
  EXPECT_TRUE(p.requires_grad());
  EXPECT_FALSE(data.requires_grad());  // the source keeps its own flags
  {
    ag::NoGradGuard no_grad;
    data.mul_(10);
  }
  EXPECT_EQ(p.to_vector<float>(), (std::vector<float>{10, 20}));
  nn::Parameter& frozen = m.register_parameter("frozen", ag::ones({2}), /*requires_grad=*/false);
  EXPECT_FALSE(frozen.requires_grad());
  EXPECT_EQ(m.parameters().size(), 2u);  // frozen parameters are still parameters
}

TEST(NnModule, ReplaceModuleSwapsTheChild) {
  Net net;
  net.replace_module("head", std::make_shared<nn::Linear>(3, 7));
  EXPECT_EQ(net.named_parameters().keys().back(), "head.bias");
  EXPECT_EQ(net.named_parameters()["head.weight"].shape(), ag::Shape({7, 3}));
  EXPECT_THROW(net.replace_module("tail", std::make_shared<nn::ReLU>()), std::invalid_argument);
}

TEST(NnModule, TrainAndEvalPropagateToAllSubmodules) {
  Net net;
  for (const auto& m : net.modules()) EXPECT_TRUE(m->is_training());
  net.eval();
  for (const auto& m : net.modules()) EXPECT_FALSE(m->is_training()) << m->name();
  net.block->train();
  EXPECT_TRUE(net.block->fc->is_training());
  EXPECT_FALSE(net.is_training());
  EXPECT_FALSE(net.head->is_training());
}

TEST(NnModule, ZeroGradZeroesInPlaceByDefaultAndSetToNoneDropsTheGradients) {
  Net net;
  net(ag::randn({2, 4})).sum().backward();
  for (const auto& [name, p] : net.named_parameters()) EXPECT_TRUE(p.grad().defined()) << name;
  net.zero_grad();  // PyTorch 1.13's default: set_to_none=False
  for (const auto& [name, p] : net.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_EQ(p.grad().abs().sum().item<double>(), 0.0) << name;
  }
  net.zero_grad(/*set_to_none=*/true);
  for (const auto& [name, p] : net.named_parameters()) EXPECT_FALSE(p.grad().defined()) << name;
}

TEST(NnModule, ZeroGradWithoutSetToNoneFillsZerosInPlace) {
  Net net;
  net(ag::randn({2, 4})).sum().backward();
  Tensor g = net.block->fc->weight.grad();
  net.zero_grad(/*set_to_none=*/false);
  EXPECT_TRUE(net.block->fc->weight.grad().is_same(g));  // the same gradient tensor, zeroed
  for (const auto& [name, p] : net.named_parameters())
    for (float v : p.grad().to_vector<float>()) EXPECT_EQ(v, 0.0f) << name;
}

TEST(NnModule, ZeroGradDetachesAGradientWithHistory) {
  nn::Module m;
  nn::Parameter& w = m.register_parameter("w", ag::tensor({1.0, 2.0}));
  (w * w * w).sum().backward({}, false, /*create_graph=*/true);
  ASSERT_TRUE(w.grad().requires_grad());
  m.zero_grad(false);
  EXPECT_FALSE(w.grad().requires_grad());
  EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{0, 0}));
}

TEST(NnModule, ToFloat64ConvertsParametersBuffersAndGradients) {
  Net net;
  net(ag::randn({2, 4})).sum().backward();
  std::vector<double> before = net.block->fc->weight.to_vector<double>();
  net.to(ag::kFloat64);
  for (const auto& [name, p] : net.named_parameters()) {
    EXPECT_EQ(p.dtype(), ag::kFloat64) << name;
    EXPECT_TRUE(p.requires_grad() && p.is_leaf()) << name;
    EXPECT_EQ(p.grad().dtype(), ag::kFloat64) << name;
  }
  EXPECT_EQ(net.buffers()[0].dtype(), ag::kFloat64);
  // The layers' own members follow the conversion: they are the registered slots.
  EXPECT_EQ(net.block->fc->weight.dtype(), ag::kFloat64);
  EXPECT_EQ(net.block->fc->weight.to_vector<double>(), before);
  EXPECT_EQ(net.block->steps.dtype(), ag::kFloat64);
  EXPECT_EQ(net(ag::randn({2, 4}, ag::kFloat64)).dtype(), ag::kFloat64);
  EXPECT_THROW(net.to(ag::kInt64), std::invalid_argument);
}

TEST(NnModule, AssigningAParameterReplacesTheRegisteredOne) {
  nn::Linear lin(3, 5);
  nn::Parameter w(ag::rand({5, 3}));
  lin.weight = w;
  EXPECT_TRUE(lin.named_parameters()["weight"].is_same(w));
  EXPECT_TRUE(lin.state_dict()["weight"].to_vector<float>() == w.to_vector<float>());
  EXPECT_TRUE(lin.parameters()[0].is_same(w));
}

TEST(NnModule, AssigningAParameterOfAnotherShapeThrowsNamingBothShapes) {
  nn::Linear lin(3, 5);
  Tensor old = lin.weight;
  try {
    lin.weight = nn::Parameter(ag::rand({3, 5}));
    FAIL() << "a [3, 5] weight was accepted by Linear(3, 5)";
  } catch (const std::invalid_argument& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("Linear.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[3, 5]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[5, 3]"), std::string::npos) << msg;
  }
  EXPECT_TRUE(lin.weight.is_same(old));  // unchanged
}

TEST(NnModule, AnEmptySlotAcceptsAnyParameter) {
  nn::Linear lin(nn::LinearOptions(3, 5).bias(false));
  EXPECT_EQ(lin.named_parameters().keys(), std::vector<std::string>{"weight"});
  lin.bias = nn::Parameter(ag::ones({5}));
  EXPECT_EQ(lin.named_parameters().keys(), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(lin.extra_repr(), "in_features=3, out_features=5, bias=true");
}

TEST(NnModule, ACopiedParameterIsNotBoundToTheModule) {
  nn::Linear lin(3, 5);
  nn::Parameter copy = lin.weight;
  EXPECT_TRUE(copy.is_same(lin.weight));
  copy = nn::Parameter(ag::rand({2, 2}));  // a free handle: any shape, the module is untouched
  EXPECT_EQ(lin.weight.shape(), ag::Shape({5, 3}));
}

TEST(NnModule, ForwardAndBackwardLeaveNoGraphAlive) {
  ASSERT_EQ(ag::Node::live_count(), 0);
  {
    Net net;
    Tensor loss = net(ag::randn({2, 4})).sum();
    EXPECT_GT(ag::Node::live_count(), 0);
    loss.backward();
  }
  EXPECT_EQ(ag::Node::live_count(), 0);  // modules hold parameters, never graphs
}

TEST(NnModule, DefaultForwardThrowsLogicError) {
  nn::ModuleList list;
  EXPECT_THROW(list(ag::zeros({1})), std::logic_error);
}

TEST(NnModule, ApplyVisitsEverySubmoduleThenSelf) {
  Net net;
  std::vector<std::string> order;
  net.apply([&](nn::Module& m) { order.push_back(m.name()); });
  EXPECT_EQ(order, (std::vector<std::string>{"Linear", "Block", "ReLU", "Linear", "Sequential", "Net"}));
}

TEST(NnModule, PrinterNestsChildrenLikePyTorch) {
  Net net;
  EXPECT_EQ(net.str(),
            "Net(\n"
            "  (block): Block(\n"
            "    (fc): Linear(in_features=4, out_features=3, bias=true)\n"
            "  )\n"
            "  (head): Sequential(\n"
            "    (0): ReLU()\n"
            "    (1): Linear(in_features=3, out_features=2, bias=true)\n"
            "  )\n"
            ")");
  std::ostringstream os;
  os << *net.block->fc;
  EXPECT_EQ(os.str(), "Linear(in_features=4, out_features=3, bias=true)");
}

TEST(NnModule, PrinterShowsEachLayersSettings) {
  EXPECT_EQ(nn::Linear(nn::LinearOptions(3, 5).bias(false)).str(), "Linear(in_features=3, out_features=5, bias=false)");
  EXPECT_EQ(nn::Embedding(3, 5).str(), "Embedding(3, 5)");
  EXPECT_EQ(nn::Embedding(nn::EmbeddingOptions(4, 8).padding_idx(-1).max_norm(1.0).norm_type(1).scale_grad_by_freq(true)).str(),
            "Embedding(4, 8, padding_idx=3, max_norm=1.0, norm_type=1.0, scale_grad_by_freq=true)");
  EXPECT_EQ(nn::Dropout(0.25).str(), "Dropout(p=0.25)");
  EXPECT_EQ(nn::Softmax(1).str(), "Softmax(dim=1)");
  EXPECT_EQ(nn::LogSoftmax(-1).str(), "LogSoftmax(dim=-1)");
  EXPECT_EQ(nn::Flatten().str(), "Flatten(start_dim=1, end_dim=-1)");
  EXPECT_EQ(nn::Identity().str(), "Identity()");
  EXPECT_EQ(nn::GELU().str(), "GELU()");
  EXPECT_EQ(nn::LayerNorm(8).str(), "LayerNorm([8], eps=1e-05, elementwise_affine=true)");
}

TEST(NnModule, ParameterPrintsLikePyTorch) {
  nn::Parameter p(ag::tensor({1.0, 2.0}));
  std::ostringstream os;
  os << p;
  EXPECT_EQ(os.str().rfind("Parameter containing:\n", 0), 0u) << os.str();
  EXPECT_NE(os.str().find("requires_grad=True"), std::string::npos) << os.str();
}

TEST(NnOrderedDict, KeepsInsertionOrderAndRejectsDuplicates) {
  nn::OrderedDict<int> d;
  d.insert("b", 1);
  d.insert("a", 2);
  d.insert("c", 3);
  EXPECT_EQ(d.keys(), (std::vector<std::string>{"b", "a", "c"}));
  EXPECT_EQ(d.values(), (std::vector<int>{1, 2, 3}));
  EXPECT_THROW(d.insert("a", 9), std::invalid_argument);
  d.insert_or_assign("a", 9);
  EXPECT_EQ(d["a"], 9);
  EXPECT_TRUE(d.erase("b"));
  EXPECT_EQ(d.keys(), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(d.at("c"), 3);
  EXPECT_EQ(d.find("zz"), nullptr);
  try {
    d.at("zz");
    FAIL();
  } catch (const std::out_of_range& e) {
    EXPECT_NE(std::string(e.what()).find("zz"), std::string::npos) << e.what();
  }
}
