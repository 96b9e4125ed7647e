// The CPU's vector instruction set, asked once.
#include "ag/autograd/cpu.h"

#include <cstdlib>
#include <cstring>

#include "ag/autograd/ops.h"

namespace ag {

Isa kernel_isa() {
#if defined(__x86_64__)
  static const Isa best = [] {
    __builtin_cpu_init();
    Isa have = Isa::Default;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) have = Isa::Avx512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) have = Isa::Avx2;
    const char* want = std::getenv("AG_CPU_CAPABILITY");
    if (want && std::strcmp(want, "avx2") == 0 && have >= Isa::Avx2) return Isa::Avx2;
    if (want && std::strcmp(want, "sse2") == 0) return Isa::Default;
    return have;
  }();
  return best;
#else
  return Isa::Default;
#endif
}

const char* cpu_capability() {
  switch (kernel_isa()) {
    case Isa::Avx512: return "avx512f";
    case Isa::Avx2: return "avx2+fma";
    case Isa::Default: break;
  }
#if defined(__x86_64__)
  return "sse2";
#else
  return "scalar";
#endif
}

}  // namespace ag
