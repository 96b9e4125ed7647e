// sgemm throughput of ag::matmul next to a raw cblas_sgemm on the same square float32 sizes,
// one OpenBLAS thread. The gap is ag's wrapper cost: checks, the output allocation, the handle.
//
//     ./bench/matmul_bench --benchmark_min_time=1

#include <benchmark/benchmark.h>
#include <cblas.h>

#include <vector>

#include "ag/autograd/autograd.h"

namespace {

void set_flops(benchmark::State& state, std::int64_t n) {
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * n * n * static_cast<double>(state.iterations()),
                                                 benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

void BM_AgMatmul(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  ag::set_num_threads(1);
  ag::Generator gen(0);
  ag::Tensor a = ag::randn({n, n}, ag::kFloat32, &gen), b = ag::randn({n, n}, ag::kFloat32, &gen);
  for (auto _ : state) {
    ag::Tensor c = ag::matmul(a, b);
    benchmark::DoNotOptimize(c.data_ptr<float>());
  }
  set_flops(state, n);
}

void BM_RawSgemm(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  ag::set_num_threads(1);
  ag::Generator gen(0);
  ag::Tensor a = ag::randn({n, n}, ag::kFloat32, &gen), b = ag::randn({n, n}, ag::kFloat32, &gen);
  std::vector<float> c(static_cast<std::size_t>(n) * n);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data_ptr<float>(), n, b.data_ptr<float>(), n,
                0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  set_flops(state, n);
}

}  // namespace

BENCHMARK(BM_AgMatmul)->Arg(64)->Arg(256)->Arg(1024);
BENCHMARK(BM_RawSgemm)->Arg(64)->Arg(256)->Arg(1024);
