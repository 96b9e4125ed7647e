// Micro-benchmarks per op family, so that a regression in one of them is visible:
//   build/bench/ops_bench [--benchmark_filter=...]

#include <benchmark/benchmark.h>
#include <malloc.h>

#include <vector>

#include "ag/autograd/autograd.h"
#include "ag/data/data.h"
#include "ag/nn/nn.h"
#include "ag/optim/optim.h"

using namespace ag;

namespace {

void set_elements(benchmark::State& state, std::int64_t n) {
  state.SetItemsProcessed(state.iterations() * n);
}

// Elementwise ---------------------------------------------------------------------------------

void BM_MulAdd_NoGrad(benchmark::State& state) {
  std::int64_t n = state.range(0);
  Tensor x = randn({n}), y = randn({n});
  for (auto _ : state) benchmark::DoNotOptimize(x * y + 1.0);
  set_elements(state, n);
}
BENCHMARK(BM_MulAdd_NoGrad)->Arg(10)->Arg(1 << 20);

void BM_Broadcast_Add(benchmark::State& state) {
  Tensor x = randn({256, 256}), b = randn({256});
  for (auto _ : state) benchmark::DoNotOptimize(x + b);
  set_elements(state, 256 * 256);
}
BENCHMARK(BM_Broadcast_Add);

// One tiny op recorded and differentiated: the per-op overhead of the engine.
void BM_TinyOp_ForwardBackward(benchmark::State& state) {
  Tensor x = randn({2, 5}, requires_grad());
  for (auto _ : state) {
    Tensor y = x;
    for (int i = 0; i < 50; ++i) y = y * 0.999 + 0.001;
    y.sum().backward();
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BM_TinyOp_ForwardBackward);

void BM_Unary_Tanh(benchmark::State& state) {
  std::int64_t n = state.range(0);
  Tensor x = randn({n});
  for (auto _ : state) benchmark::DoNotOptimize(tanh(x));
  set_elements(state, n);
}
BENCHMARK(BM_Unary_Tanh)->Arg(10)->Arg(1 << 20);

// Views ---------------------------------------------------------------------------------------
// transpose, expand, select and a stepped slice of an n x n matrix, n = 4 and 1024: the same time
// and the same heap bytes per view at both sizes (a handle, no data), where they used to copy.

template <class F>
void view_bench(benchmark::State& state, F make) {
  const std::int64_t n = state.range(0);
  Tensor x = randn({n, n});
  for (auto _ : state) benchmark::DoNotOptimize(make(x));
  // Heap growth while 1000 views are alive, per view: the handle only, whatever the matrix size.
  const std::size_t before = mallinfo2().uordblks;
  std::vector<Tensor> alive;
  for (int i = 0; i < 1000; ++i) alive.push_back(make(x));
  state.counters["heap_bytes_per_view"] = static_cast<double>(mallinfo2().uordblks - before) / 1000.0;
  state.counters["matrix_bytes"] = static_cast<double>(n * n * 4);
}
void BM_View_Transpose(benchmark::State& state) { view_bench(state, [](const Tensor& x) { return x.t(); }); }
void BM_View_Expand(benchmark::State& state) {
  view_bench(state, [](const Tensor& x) { return x.unsqueeze(0).expand({4, -1, -1}); });
}
void BM_View_Select(benchmark::State& state) { view_bench(state, [](const Tensor& x) { return x.select(1, 1); }); }
void BM_View_SteppedSlice(benchmark::State& state) {
  view_bench(state, [](const Tensor& x) { return x.slice(1, 0, std::nullopt, 2); });
}
BENCHMARK(BM_View_Transpose)->Arg(4)->Arg(1024);
BENCHMARK(BM_View_Expand)->Arg(4)->Arg(1024);
BENCHMARK(BM_View_Select)->Arg(4)->Arg(1024);
BENCHMARK(BM_View_SteppedSlice)->Arg(4)->Arg(1024);

// Reductions ----------------------------------------------------------------------------------

void BM_Sum_All(benchmark::State& state) {
  std::int64_t n = state.range(0);
  Tensor x = randn({n});
  for (auto _ : state) benchmark::DoNotOptimize(x.sum());
  set_elements(state, n);
}
BENCHMARK(BM_Sum_All)->Arg(10)->Arg(1 << 20);

void BM_Sum_Dim(benchmark::State& state) {
  Tensor x = randn({32, 6, 8});
  for (auto _ : state) benchmark::DoNotOptimize(x.sum(1));
  set_elements(state, 32 * 6 * 8);
}
BENCHMARK(BM_Sum_Dim);

void BM_Softmax_CrossEntropy(benchmark::State& state) {
  Tensor logits = randn({state.range(0), 10}, requires_grad());
  Tensor target = randint(0, 10, {state.range(0)});
  for (auto _ : state) {
    Tensor loss = cross_entropy(logits, target);
    loss.backward();
  }
  set_elements(state, state.range(0) * 10);
}
BENCHMARK(BM_Softmax_CrossEntropy)->Arg(32)->Arg(4096);

// Embedding -------------------------------------------------------------------------------------

void BM_Embedding_Forward(benchmark::State& state) {
  Tensor w = randn({50000, 64});
  Tensor idx = randint(0, 50000, {256, 16});
  for (auto _ : state) benchmark::DoNotOptimize(embedding(w, idx));
  set_elements(state, 256 * 16 * 64);
}
BENCHMARK(BM_Embedding_Forward);

void BM_Embedding_ForwardBackward(benchmark::State& state) {
  Tensor w = randn({50000, 64}, requires_grad());
  Tensor idx = randint(0, 50000, {256, 16});
  for (auto _ : state) {
    w.set_grad(Tensor());
    embedding(w, idx).sum().backward();
  }
  set_elements(state, 256 * 16 * 64);
}
BENCHMARK(BM_Embedding_ForwardBackward);

// Optimizer steps ---------------------------------------------------------------------------------

void BM_Adam_Step(benchmark::State& state) {
  std::int64_t n = state.range(0);
  Tensor p = randn({n}, requires_grad());
  p.set_grad(randn({n}));
  optim::Adam opt({p}, optim::AdamOptions(1e-3));
  for (auto _ : state) opt.step();
  set_elements(state, n);
}
BENCHMARK(BM_Adam_Step)->Arg(50)->Arg(3200000);

void BM_SGD_Momentum_Step(benchmark::State& state) {
  std::int64_t n = state.range(0);
  Tensor p = randn({n}, requires_grad());
  p.set_grad(randn({n}));
  optim::SGD opt({p}, optim::SGDOptions(0.01).momentum(0.9));
  for (auto _ : state) opt.step();
  set_elements(state, n);
}
BENCHMARK(BM_SGD_Momentum_Step)->Arg(50)->Arg(669706);

// Random numbers and batching -------------------------------------------------------------------

void BM_Rand(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(rand({state.range(0)}));
  set_elements(state, state.range(0));
}
BENCHMARK(BM_Rand)->Arg(16)->Arg(1 << 20);

void BM_Randn(benchmark::State& state) {  // 16 and more: PyTorch's 16-value blocks; fewer: one at a time
  for (auto _ : state) benchmark::DoNotOptimize(randn({state.range(0)}));
  set_elements(state, state.range(0));
}
BENCHMARK(BM_Randn)->Arg(8)->Arg(1 << 20);

void BM_Dropout(benchmark::State& state) {
  Tensor x = ones({state.range(0)});
  for (auto _ : state) benchmark::DoNotOptimize(nn::functional::dropout(x, 0.5, true));
  set_elements(state, state.range(0));
}
BENCHMARK(BM_Dropout)->Arg(1 << 20);

void BM_DataLoader_ShuffledPass(benchmark::State& state) {  // 1024 examples of 16 floats, batches of 32
  data::TensorDataset ds(randn({1024, 16}), arange(1024));
  data::DataLoader loader(ds, data::DataLoaderOptions().batch_size(32).shuffle(true));
  for (auto _ : state)
    for (auto& [x, y] : loader) benchmark::DoNotOptimize(x);
  set_elements(state, 1024);
}
BENCHMARK(BM_DataLoader_ShuffledPass);

}  // namespace
