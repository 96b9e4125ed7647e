// Resuming a run mid-epoch: a checkpoint holding the model, the optimizer, the default generator
// and the DataLoader's state continues with the same batches and the same dropout masks as the
// run that never stopped, bit for bit.
#include <gtest/gtest.h>

#include "ag/data/data.h"
#include "ag/nn/nn.h"
#include "ag/optim/optim.h"
#include "ag/serialize/serialize.h"

namespace nn = ag::nn;
namespace data = ag::data;
using ag::Tensor;

namespace {

struct Net : nn::Module {
  std::shared_ptr<nn::Linear> fc1 = register_module("fc1", std::make_shared<nn::Linear>(4, 8));
  std::shared_ptr<nn::Dropout> drop = register_module("drop", std::make_shared<nn::Dropout>(0.5));
  std::shared_ptr<nn::Linear> fc2 = register_module("fc2", std::make_shared<nn::Linear>(8, 3));
  Tensor mask;  // where the last forward's dropout kept a value (tanh is never exactly 0 here)
  Tensor forward(const Tensor& x) override {
    Tensor h = (*drop)(ag::tanh((*fc1)(x)));
    mask = (h.detach() != 0);
    return (*fc2)(h);
  }
};

/// What a run saw: each step's samples, dropout mask and loss.
struct Trace {
  std::vector<std::vector<std::int64_t>> samples;
  std::vector<Tensor> masks;
  std::vector<float> losses;
};

struct Training {
  Net model;
  ag::optim::SGD opt{model.parameters(), ag::optim::SGDOptions(0.1).momentum(0.9)};
  data::DataLoader<data::TensorDataset<3>> loader;
  explicit Training(const data::TensorDataset<3>& ds) : loader(ds, data::DataLoaderOptions().batch_size(6).shuffle(true)) {}

  /// Trains from `epoch` until `epochs`, stopping after `stop_at` steps in all (if given).
  bool train(std::int64_t& epoch, std::int64_t epochs, std::int64_t& step, Trace& trace, std::int64_t stop_at = -1) {
    for (; epoch < epochs; ++epoch) {
      for (auto& [x, y, index] : loader) {
        opt.zero_grad();
        Tensor loss = ag::cross_entropy(model(x), y);
        loss.backward();
        opt.step();
        trace.samples.push_back(index.to_vector<std::int64_t>());
        trace.masks.push_back(model.mask);
        trace.losses.push_back(loss.item<float>());
        if (++step == stop_at) return false;
      }
    }
    return true;
  }
};

data::TensorDataset<3> dataset() {
  ag::Generator g(77);
  return data::TensorDataset(ag::randn({20, 4}, {}, &g), ag::randint(0, 3, {20}, ag::kInt64, &g), ag::arange(20));
}

}  // namespace

TEST(DataResume, AResumedRunDrawsTheSameBatchesAndDropoutMasksAsTheUnbrokenRun) {
  const std::int64_t epochs = 3;  // 4 batches each (6, 6, 6, 2)
  data::TensorDataset<3> ds = dataset();

  Trace straight;
  ag::manual_seed(0);
  Training a(ds);
  std::int64_t epoch = 0, step = 0;
  ASSERT_TRUE(a.train(epoch, epochs, step, straight));
  ASSERT_EQ(straight.losses.size(), 12u);

  // The same run, stopped in the middle of its second epoch and saved.
  Trace first;
  ag::manual_seed(0);
  Training b(ds);
  epoch = 0;
  step = 0;
  ASSERT_FALSE(b.train(epoch, epochs, step, first, /*stop_at=*/6));
  ag::Archive meta;
  meta.set("epoch", epoch);
  meta.set("step", step);
  meta.set("loader", b.loader.state());
  const std::string path = ::testing::TempDir() + "ag_data_resume.ckpt";
  ag::save_checkpoint(path, b.model, &b.opt, nullptr, meta);

  // Another process: other weights, another default stream, until the checkpoint is loaded.
  ag::manual_seed(12345);
  Training c(ds);
  ag::randn({100});
  ag::Archive back = ag::load_checkpoint(path, c.model, &c.opt);
  c.loader.load_state(back.tensor("loader"));
  epoch = back.get_int("epoch");
  step = back.get_int("step");
  Trace rest;
  ASSERT_TRUE(c.train(epoch, epochs, step, rest));

  ASSERT_EQ(first.losses.size() + rest.losses.size(), straight.losses.size());
  for (std::size_t i = 0; i < straight.losses.size(); ++i) {
    const Trace& t = i < first.losses.size() ? first : rest;
    std::size_t j = i < first.losses.size() ? i : i - first.losses.size();
    EXPECT_EQ(t.samples[j], straight.samples[i]) << "step " << i + 1;
    EXPECT_TRUE(ag::equal(t.masks[j], straight.masks[i])) << "dropout mask of step " << i + 1;
    EXPECT_EQ(t.losses[j], straight.losses[i]) << "loss of step " << i + 1;
  }
  auto pa = a.model.parameters(), pc = c.model.parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(ag::equal(pa[i], pc[i])) << "parameter " << i;
  std::remove(path.c_str());
}

TEST(DataResume, ALoaderStateSavedBetweenEpochsStartsTheNextPassFresh) {
  data::TensorDataset<3> ds = dataset();
  ag::manual_seed(4);
  data::DataLoader loader(ds, data::DataLoaderOptions().batch_size(8).shuffle(true));
  for (auto& batch : loader) (void)batch;
  Tensor between = loader.state();
  EXPECT_EQ(between.to_vector<std::int64_t>()[1], 0);  // no pass in progress
  ag::GeneratorState rng = ag::default_generator().get_state();
  std::vector<std::int64_t> want;
  for (auto& [x, y, i] : loader) want.push_back(i[0].item<std::int64_t>());

  data::DataLoader again(ds, data::DataLoaderOptions().batch_size(8).shuffle(true));
  again.load_state(between);
  ag::default_generator().set_state(rng);
  std::vector<std::int64_t> got;
  for (auto& [x, y, i] : again) got.push_back(i[0].item<std::int64_t>());
  EXPECT_EQ(got, want);
}
