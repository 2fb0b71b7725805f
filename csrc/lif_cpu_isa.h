// Entry points of the CPU kernels, one set per instruction set they were compiled for. setup.py compiles
// csrc/lif_cpu_kernels.cpp once for the compiler's baseline target and, on x86-64 where the compiler can,
// once more with -mavx2 -mf16c (then it defines SNNKERN_HAVE_AVX2); lif_cpu.cpp picks one at import.
// Results are bit-identical across them: no fused multiply-add, no approximate reciprocals.
#pragma once
#include "lif_args.h"

namespace snnkern {
namespace baseline {
void lif_forward(const LifArgs& a);
void lif_backward(const LifArgs& a);
}  // namespace baseline
namespace avx2 {
void lif_forward(const LifArgs& a);
void lif_backward(const LifArgs& a);
}  // namespace avx2
}  // namespace snnkern
