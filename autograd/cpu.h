#pragma once
// Which vector instruction set ag's kernels run on. The library is compiled for baseline x86-64
// (as a Debian package must be); its vectorised math and its optimizer steps also come compiled
// for AVX2 and AVX-512, and the best one this CPU has is picked once, at first use.
// ag::cpu_capability() (ops.h) names it.

namespace ag {

/// The instruction sets ag's kernels are compiled for.
enum class Isa {
  Default,  // baseline: SSE2 on x86-64, plain loops elsewhere
  Avx2,     // AVX2 and FMA
  Avx512,   // AVX-512F and FMA
};

/// The one the kernels run on here: the best this CPU has, or a lower one named by the
/// environment variable AG_CPU_CAPABILITY (avx2, sse2: to compare them, as PyTorch's
/// ATEN_CPU_CAPABILITY); a name this CPU cannot run is ignored.
///
///     if (ag::kernel_isa() == ag::Isa::Avx512) ...
Isa kernel_isa();

}  // namespace ag
