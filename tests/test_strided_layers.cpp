// The layers above autograd with strided and bool tensors: every file format saves a view's
// values in row-major order and round-trips bool; optimizers and clipping give the same result on
// a strided parameter or gradient as on a contiguous one.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "ag/ag.h"
#include "test_util.h"

using namespace ag;
namespace optim = ag::optim;

namespace {

std::string temp_path(const std::string& name) {
  return "/tmp/ag_strided_" + std::to_string(::getpid()) + "_" + name;
}

/// A [3, 4] float tensor seen transposed, and a bool mask of it.
Tensor transposed() { return arange(12, kFloat32).reshape({3, 4}).t(); }

}  // namespace

TEST(StridedFiles, ArchivesSafetensorsAndNpySaveViewsInRowMajorOrder) {
  Tensor v = transposed(), mask = v > 5.0;
  for (const std::string ext : {"ag", "json"}) {
    SCOPED_TRACE(ext);
    Archive a;
    a.set("v", v);
    a.set("mask", mask);
    a.set("stepped", arange(10).slice(0, 1, 10, 3));
    const std::string path = temp_path("a." + ext);
    save_archive(a, path);
    Archive b = load_archive(path);
    std::remove(path.c_str());
    EXPECT_TRUE(equal(b.tensor("v"), v));
    EXPECT_EQ(b.tensor("mask").dtype(), kBool);
    EXPECT_TRUE(equal(b.tensor("mask"), mask));
    EXPECT_EQ(b.tensor("stepped").to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 4, 7}));
  }
  const std::string st = temp_path("t.safetensors");
  save_safetensors({{"v", v}, {"mask", mask}}, st);
  SafetensorsFile f = load_safetensors(st);
  std::remove(st.c_str());
  EXPECT_TRUE(equal(f.tensors.at(0).second, v));
  EXPECT_TRUE(equal(f.tensors.at(1).second, mask));
  const std::string np = temp_path("m.npy");
  save_npy(mask, np);
  EXPECT_TRUE(equal(load_npy(np), mask));
  save_npy(v, np);
  EXPECT_TRUE(equal(load_npy(np), v));
  std::remove(np.c_str());
}

TEST(StridedFiles, ABoolByteOtherThanZeroOrOneIsRefused) {
  std::string bytes = serialize::encode_npy(tensor({true, false, true}));
  bytes.back() = 2;
  const std::string np = temp_path("bad.npy");
  std::ofstream(np, std::ios::binary) << bytes;
  testutil::expect_throw_with<SerializeError>([&] { load_npy(np); }, {"bool", "element 2", "byte 2"});
  std::remove(np.c_str());
}

TEST(StridedOptimizers, AStridedParameterStepsAsAContiguousOne) {
  for (int kind = 0; kind < 2; ++kind) {
    SCOPED_TRACE(kind == 0 ? "SGD momentum" : "Adam");
    Tensor base = randn({4, 3});
    Tensor strided = base.t().contiguous().t().detach().requires_grad_(true);  // same values, transposed layout
    Tensor plain = base.clone().requires_grad_(true);
    ASSERT_FALSE(strided.is_contiguous());
    std::unique_ptr<optim::Optimizer> a, b;
    if (kind == 0) {
      a = std::make_unique<optim::SGD>(std::vector<Tensor>{strided}, optim::SGDOptions(0.1).momentum(0.9));
      b = std::make_unique<optim::SGD>(std::vector<Tensor>{plain}, optim::SGDOptions(0.1).momentum(0.9));
    } else {
      a = std::make_unique<optim::Adam>(std::vector<Tensor>{strided}, optim::AdamOptions(0.1));
      b = std::make_unique<optim::Adam>(std::vector<Tensor>{plain}, optim::AdamOptions(0.1));
    }
    for (int step = 0; step < 3; ++step) {
      for (auto [p, opt] : {std::pair{&strided, a.get()}, std::pair{&plain, b.get()}}) {
        opt->zero_grad();
        (p->tanh() * arange(12, kFloat32).reshape({4, 3})).sum().backward();
        opt->step();
      }
    }
    EXPECT_TRUE(allclose(strided, plain, 1e-6, 1e-7));
    EXPECT_FALSE(strided.is_contiguous());  // stepped in place, where it lies
  }
}

TEST(StridedOptimizers, ClippingAStridedGradientScalesItWhereItLies) {
  Tensor p = zeros({2, 3}).requires_grad_(true);
  p.set_grad(full({3, 2}, 3.0).t());
  nn::utils::clip_grad_norm_(std::vector<Tensor>{p}, 1.0);
  EXPECT_NEAR(p.grad().norm().item<double>(), 1.0, 1e-5);
  p.set_grad(full({3, 2}, 3.0).t());
  nn::utils::clip_grad_value_(std::vector<Tensor>{p}, 0.5);
  EXPECT_EQ(p.grad().to_vector<float>(), std::vector<float>(6, 0.5f));
}
