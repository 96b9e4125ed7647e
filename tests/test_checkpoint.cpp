// Checkpoints of models and training runs: round trips in both formats, key reports for a model
// that does not fit, resuming bit-identically, and damaged files.

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "ag/nn/nn.h"
#include "ag/optim/optim.h"
#include "ag/serialize/serialize.h"

using namespace ag;

namespace {

std::string temp_path(const std::string& name) { return ::testing::TempDir() + "ag_ckpt_" + name; }

std::shared_ptr<nn::Sequential> mlp(std::int64_t hidden, std::uint64_t seed) {
  manual_seed(seed);
  return std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(4, hidden), std::make_shared<nn::Tanh>(),
                                          std::make_shared<nn::Dropout>(0.2), std::make_shared<nn::Linear>(hidden, 2));
}

/// One training step on a fixed batch: dropout draws from the default generator.
void train_step(nn::Module& model, optim::Optimizer& opt, optim::LRScheduler& sched, const Tensor& x, const Tensor& y) {
  opt.zero_grad();
  cross_entropy(model.forward(x), y).backward();
  opt.step();
  sched.step();
}

template <class E, class F>
std::string message_of(F&& fn) {
  try {
    fn();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an exception";
  return "";
}

}  // namespace

TEST(Checkpoint, ModelRoundTripsInBothFormats) {
  for (const char* name : {"model.ag", "model.json"}) {
    auto a = mlp(8, 1), b = mlp(8, 2);
    a->eval();
    b->eval();
    Tensor x = randn({3, 4});
    ASSERT_FALSE(allclose(a->forward(x), b->forward(x)));
    std::string path = temp_path(name);
    save(*a, path);
    nn::IncompatibleKeys keys = load(*b, path);
    EXPECT_TRUE(keys.missing_keys.empty() && keys.unexpected_keys.empty());
    EXPECT_TRUE(equal(a->forward(x), b->forward(x))) << name;
    std::remove(path.c_str());
  }
}

TEST(Checkpoint, LoadingAnotherModelListsEveryKeyAndTheFile) {
  auto a = mlp(8, 1);
  std::string path = temp_path("other.ag");
  save(*a, path);
  nn::Sequential other(std::make_shared<nn::Linear>(4, 5), std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::Linear>(nn::LinearOptions(5, 2).bias(false)));
  std::string msg = message_of<std::invalid_argument>([&] { load(other, path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("3.weight"), std::string::npos) << msg;  // unexpected
  EXPECT_NE(msg.find("2.weight"), std::string::npos) << msg;  // missing
  EXPECT_NE(msg.find("[8, 4]"), std::string::npos) << msg;    // mis-shaped 0.weight
  std::remove(path.c_str());
}

TEST(Checkpoint, NonStrictLoadReturnsMissingAndUnexpectedKeys) {
  auto a = mlp(8, 1);
  std::string path = temp_path("nonstrict.ag");
  save(*a, path);
  nn::Sequential smaller(std::make_shared<nn::Linear>(4, 8));
  nn::IncompatibleKeys keys = load(smaller, path, false);
  EXPECT_TRUE(keys.missing_keys.empty());
  EXPECT_EQ(keys.unexpected_keys, (std::vector<std::string>{"3.weight", "3.bias"}));
  std::remove(path.c_str());
}

TEST(Checkpoint, ResumedTrainingIsBitIdentical) {
  Tensor x = randn({16, 4});
  Tensor y = randint(0, 2, {16});
  // 20 uninterrupted steps
  auto ref = mlp(8, 7);
  optim::Adam ref_opt(ref->parameters(), optim::AdamOptions(0.01).amsgrad(true));
  optim::StepLR ref_sched(ref_opt, 5, 0.5);
  manual_seed(100);
  for (int i = 0; i < 20; ++i) train_step(*ref, ref_opt, ref_sched, x, y);

  // 10 steps, a checkpoint, then 10 more in a fresh model, optimizer and scheduler
  std::string path = temp_path("resume.ag");
  {
    auto m = mlp(8, 7);
    optim::Adam opt(m->parameters(), optim::AdamOptions(0.01).amsgrad(true));
    optim::StepLR sched(opt, 5, 0.5);
    manual_seed(100);
    for (int i = 0; i < 10; ++i) train_step(*m, opt, sched, x, y);
    Archive meta;
    meta.set("step", 10);
    save_checkpoint(path, *m, &opt, &sched, meta);
  }
  manual_seed(12345);  // the checkpoint restores the generator
  auto m = mlp(8, 99);
  optim::Adam opt(m->parameters(), optim::AdamOptions(0.5));
  optim::StepLR sched(opt, 5, 0.5);
  Archive meta = load_checkpoint(path, *m, &opt, &sched);
  EXPECT_EQ(meta.get_int("step"), 10);
  for (int i = 0; i < 10; ++i) train_step(*m, opt, sched, x, y);

  auto want = ref->state_dict(), got = m->state_dict();
  for (const auto& [name, t] : want.items()) EXPECT_TRUE(equal(t, got.at(name))) << name;
  EXPECT_EQ(opt.param_groups()[0].options().get_lr(), ref_opt.param_groups()[0].options().get_lr());
  std::remove(path.c_str());
}

TEST(Checkpoint, AModelThatDoesNotFitIsLeftUnchanged) {
  auto a = mlp(8, 1);
  optim::SGD opt_a(a->parameters(), optim::SGDOptions(0.1).momentum(0.9));
  std::string path = temp_path("nofit.ag");
  save_checkpoint(path, *a, &opt_a);
  auto b = mlp(6, 2);
  auto before = b->state_dict();
  std::vector<Tensor> copies;
  for (const auto& [name, t] : before.items()) copies.push_back(t.clone());
  optim::SGD opt_b(b->parameters(), optim::SGDOptions(0.1));
  EXPECT_THROW(load_checkpoint(path, *b, &opt_b), std::invalid_argument);
  std::size_t i = 0;
  for (const auto& [name, t] : b->state_dict().items()) EXPECT_TRUE(equal(t, copies[i++])) << name;
  std::remove(path.c_str());
}

TEST(Checkpoint, MetadataKeepsItsTypes) {
  Checkpoint ck;
  ck.model = mlp(4, 3)->state_dict();
  ck.metadata.set("epoch", 3);
  ck.metadata.set("loss", 0.25);
  ck.metadata.set("note", "warm restart");
  std::string path = temp_path("meta.json");
  save_checkpoint(path, ck);
  Checkpoint back = load_checkpoint(path);
  EXPECT_EQ(back.metadata.get_int("epoch"), 3);
  EXPECT_EQ(back.metadata.get_double("loss"), 0.25);
  EXPECT_EQ(back.metadata.get_string("note"), "warm restart");
  EXPECT_FALSE(back.optimizer.has_value());
  EXPECT_FALSE(back.generator.has_value());
  EXPECT_THROW(back.metadata.get_double("epoch"), SerializeError);
  std::remove(path.c_str());
}

TEST(Checkpoint, DamagedOrForeignFilesAreSerializeErrors) {
  auto a = mlp(4, 1);
  std::string path = temp_path("damaged.ag");
  save_checkpoint(path, *a);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
  EXPECT_THROW(load_checkpoint(path), SerializeError);
  std::string model_only = temp_path("model_only.ag");
  save(*a, model_only);
  std::string msg = message_of<SerializeError>([&] { load_checkpoint(model_only); });
  EXPECT_NE(msg.find("not a file written by ag::save_checkpoint"), std::string::npos) << msg;
  std::remove(path.c_str());
  std::remove(model_only.c_str());
}

TEST(Safetensors, ModelRoundTripByName) {
  auto a = mlp(8, 1), b = mlp(8, 2);
  a->eval();
  b->eval();
  std::string path = temp_path("model.safetensors");
  save_safetensors(*a, path);
  load_safetensors(*b, path);
  Tensor x = randn({3, 4});
  EXPECT_TRUE(equal(a->forward(x), b->forward(x)));
  std::remove(path.c_str());
}

TEST(Safetensors, AStateDictWrittenByPyTorchLoadsIntoAModule) {
  // tests/data/torch_linear.safetensors: PyTorch's nn.Linear(4, 3) saved under the name "fc",
  // with an input and PyTorch's output for it
  struct Net : nn::Module {
    std::shared_ptr<nn::Linear> fc = register_module("fc", std::make_shared<nn::Linear>(4, 3));
  } net;
  nn::IncompatibleKeys keys = load_safetensors(net, std::string(AG_TEST_DATA_DIR) + "/torch_linear.safetensors", false);
  EXPECT_TRUE(keys.missing_keys.empty());
  EXPECT_EQ(keys.unexpected_keys.size(), 5u);  // input, output, target... are not parameters
  SafetensorsFile file = ag::load_safetensors(std::string(AG_TEST_DATA_DIR) + "/torch_linear.safetensors");
  Tensor input, output;
  for (const auto& [name, t] : file.tensors) {
    if (name == "input") input = t;
    if (name == "output") output = t;
  }
  EXPECT_TRUE(allclose((*net.fc)(input), output, 1e-6, 1e-6));
  EXPECT_THROW(load_safetensors(net, std::string(AG_TEST_DATA_DIR) + "/torch_linear.safetensors"), std::invalid_argument);
}
