// state_dict and load_state_dict: dotted keys, round trips, and errors that list every problem.
#include <gtest/gtest.h>

#include "ag/nn/nn.h"

namespace nn = ag::nn;
using ag::Tensor;

namespace {

struct Encoder : nn::Module {
  std::shared_ptr<nn::Embedding> emb = register_module("emb", std::make_shared<nn::Embedding>(10, 4));
  std::shared_ptr<nn::Linear> fc = register_module("fc", std::make_shared<nn::Linear>(4, 3));
  Tensor& count = register_buffer("count", ag::zeros({1}, ag::kInt64));
  Tensor& scratch = register_buffer("scratch", ag::zeros({2}), /*persistent=*/false);
  Tensor forward(const Tensor& ids) override { return fc->forward(emb->forward(ids)).tanh(); }
};

std::shared_ptr<nn::Sequential> mlp() {
  return std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::Tanh>(),
                                          std::make_shared<nn::Linear>(8, 2));
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no std::invalid_argument thrown)";
}

}  // namespace

TEST(NnStateDict, KeysAreDottedParametersThenPersistentBuffersPerModule) {
  Encoder enc;
  EXPECT_EQ(enc.state_dict().keys(), (std::vector<std::string>{"count", "emb.weight", "fc.weight", "fc.bias"}));
  EXPECT_EQ(mlp()->state_dict().keys(), (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
}

TEST(NnStateDict, ValuesAreDetachedAndShareTheModulesData) {
  nn::Linear lin(3, 2);
  nn::StateDict sd = lin.state_dict();
  EXPECT_FALSE(sd["weight"].requires_grad());
  {
    ag::NoGradGuard no_grad;
    lin.weight.fill_(7);
  }
  for (float v : sd["weight"].to_vector<float>()) EXPECT_EQ(v, 7.0f);
}

TEST(NnStateDict, RoundTripBetweenTwoFreshModulesGivesIdenticalOutputs) {
  ag::manual_seed(3);
  auto a = mlp();
  auto b = mlp();
  Tensor x = ag::randn({5, 4});
  ASSERT_FALSE(ag::equal((*a)(x), (*b)(x)));  // different random init
  auto result = b->load_state_dict(a->state_dict());
  EXPECT_TRUE(result.missing_keys.empty());
  EXPECT_TRUE(result.unexpected_keys.empty());
  EXPECT_TRUE(ag::equal((*a)(x), (*b)(x)));
}

TEST(NnStateDict, RoundTripWithBuffersAndNestedModules) {
  Encoder a, b;
  {
    ag::NoGradGuard no_grad;
    a.count.fill_(42);
  }
  b.load_state_dict(a.state_dict());
  Tensor ids = ag::tensor({{1, 2, 3}, {9, 0, 4}});
  EXPECT_TRUE(ag::equal(a(ids), b(ids)));
  EXPECT_EQ(b.count.item<std::int64_t>(), 42);
}

TEST(NnStateDict, LoadCopiesInPlaceSoHeldParametersSeeTheNewValues) {
  auto a = mlp();
  auto b = mlp();
  std::vector<Tensor> held = b->parameters();  // what an optimizer would hold
  b->load_state_dict(a->state_dict());
  std::vector<Tensor> pa = a->parameters();
  for (std::size_t i = 0; i < held.size(); ++i) {
    EXPECT_TRUE(held[i].is_same(b->parameters()[i]));
    EXPECT_TRUE(ag::equal(held[i], pa[i]));
    EXPECT_TRUE(held[i].requires_grad() && held[i].is_leaf());
  }
}

TEST(NnStateDict, LoadConvertsTheDictsDtypeToTheModules) {
  auto a = mlp();
  a->to(ag::kFloat64);
  auto b = mlp();
  b->load_state_dict(a->state_dict());
  EXPECT_EQ(b->parameters()[0].dtype(), ag::kFloat32);
  EXPECT_TRUE(ag::allclose(b->parameters()[0], a->parameters()[0].to(ag::kFloat32)));
}

TEST(NnStateDict, StrictLoadListsEveryMissingUnexpectedAndMisshapedKeyInOneError) {
  auto model = mlp();
  nn::StateDict sd = model->state_dict();
  sd.erase("2.bias");
  sd.erase("0.bias");
  sd.insert("3.weight", ag::zeros({2, 2}));
  sd.insert_or_assign("0.weight", ag::zeros({4, 8}));  // transposed
  std::vector<float> before = model->parameters()[0].to_vector<float>();
  std::string msg = message_of([&] { model->load_state_dict(sd); });
  for (const char* needle : {"Sequential", "missing keys: \"0.bias\", \"2.bias\"", "unexpected keys: \"3.weight\"",
                             "size mismatch for \"0.weight\"", "[4, 8]", "[8, 4]"})
    EXPECT_NE(msg.find(needle), std::string::npos) << "no '" << needle << "' in:\n" << msg;
  EXPECT_EQ(model->parameters()[0].to_vector<float>(), before);  // nothing was loaded
}

TEST(NnStateDict, NonStrictLoadReturnsMissingAndUnexpectedKeysAndLoadsTheRest) {
  auto a = mlp();
  auto b = mlp();
  nn::StateDict sd = a->state_dict();
  sd.erase("2.weight");
  sd.insert("extra", ag::ones({1}));
  auto result = b->load_state_dict(sd, /*strict=*/false);
  EXPECT_EQ(result.missing_keys, std::vector<std::string>{"2.weight"});
  EXPECT_EQ(result.unexpected_keys, std::vector<std::string>{"extra"});
  EXPECT_TRUE(ag::equal(b->state_dict()["0.weight"], a->state_dict()["0.weight"]));
  EXPECT_TRUE(ag::equal(b->state_dict()["2.bias"], a->state_dict()["2.bias"]));
  EXPECT_FALSE(ag::equal(b->state_dict()["2.weight"], a->state_dict()["2.weight"]));
}

TEST(NnStateDict, ShapeMismatchFailsEvenWhenNotStrict) {
  auto model = mlp();
  nn::StateDict sd = model->state_dict();
  sd.insert_or_assign("2.bias", ag::zeros({3}));
  sd.erase("0.bias");
  std::string msg = message_of([&] { model->load_state_dict(sd, /*strict=*/false); });
  EXPECT_NE(msg.find("size mismatch for \"2.bias\""), std::string::npos) << msg;
  EXPECT_NE(msg.find("[3]"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("missing keys"), std::string::npos) << "not an error when not strict:\n" << msg;
}

TEST(NnStateDict, FloatValuesIntoAnIntegerBufferAreReported) {
  Encoder enc;
  nn::StateDict sd = enc.state_dict();
  sd.insert_or_assign("count", ag::zeros({1}));
  std::string msg = message_of([&] { enc.load_state_dict(sd); });
  EXPECT_NE(msg.find("dtype mismatch for \"count\""), std::string::npos) << msg;
}

TEST(NnStateDict, NonPersistentBuffersAreNotSavedOrExpected) {
  Encoder enc;
  nn::StateDict sd = enc.state_dict();
  EXPECT_FALSE(sd.contains("scratch"));
  EXPECT_EQ(enc.named_buffers().keys(), (std::vector<std::string>{"count", "scratch"}));
  EXPECT_NO_THROW(enc.load_state_dict(sd));
}
