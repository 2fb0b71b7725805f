// Dtype and variant dispatch of the CPU kernels for one instruction set (SNNKERN_CPU_ISA, set by setup.py
// when it compiles this file; see lif_cpu_isa.h). Arguments are checked by the caller (lif_cpu.cpp).
#include <stdexcept>

#include "lif_cpu_kernel.h"  // first: it declares the inline namespace SNNKERN_CPU_ISA
#include "lif_cpu_isa.h"
#include "static_switch.h"

SNNKERN_NAMESPACE_BEGIN
namespace {

// Calls fn(S{}, A{}) with the storage type S and the compute type A of the dtype id.
template <typename Fn>
void dtype_switch(int dtype, Fn&& fn) {
  switch (dtype) {
    case kFloat32: return fn(float{}, float{});
    case kFloat64: return fn(double{}, double{});
    case kFloat16: return fn(f16{}, float{});
    case kBFloat16: return fn(bf16{}, float{});
    default: throw std::invalid_argument("dtype id must be in 0..3");
  }
}

}  // namespace

void lif_forward(const LifArgs& a) {
  dtype_switch(a.dtype, [&](auto s, auto c) {
    using S = decltype(s);
    using A = decltype(c);
    RESET_SWITCH(a.reset, kReset, [&] {
      BOOL_SWITCH(a.delay, kDelay, [&] {
        BOOL_SWITCH(a.z != 0, kStoreZ, [&] { lif_fwd_cpu<S, A, kReset, kDelay, kStoreZ>(a); });
      });
    });
  });
}

void lif_backward(const LifArgs& a) {
  dtype_switch(a.dtype, [&](auto s, auto c) {
    using S = decltype(s);
    using A = decltype(c);
    RESET_SWITCH(a.reset, kReset, [&] {
      BOOL_SWITCH(a.delay, kDelay, [&] {
        BOOL_SWITCH(a.detach, kDetach, [&] {
          SURROGATE_SWITCH(a.surrogate, kSg, [&] { lif_bwd_cpu<S, A, kReset, kDelay, kDetach, kSg>(a); });
        });
      });
    });
  });
}

SNNKERN_NAMESPACE_END
