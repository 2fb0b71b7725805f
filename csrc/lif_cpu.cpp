// Host side of the CPU LIF kernels: argument checks, the choice of instruction set, pybind11 binding.
// The Python launcher (snnkern/backends/cpu.py) validates user input; these checks guard the
// contract between launcher and kernel and raise ValueError through pybind11.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <climits>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "lif_cpu_isa.h"

namespace py = pybind11;
using snnkern::LifArgs;

namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(message);
}

void check_common(const LifArgs& a) {
  require(a.T >= 1 && a.B >= 1 && a.N >= 1, "T, B and N must be positive");
  require(a.beta != 0 && a.theta != 0, "beta and theta pointers must be set");
  require(a.beta_sn == 0 || a.beta_sn == 1, "beta_sn must be 0 or 1");
  require(a.theta_sn == 0 || a.theta_sn == 1, "theta_sn must be 0 or 1");
  require(a.reset >= 0 && a.reset <= 2, "reset id must be 0, 1 or 2");
  require(a.surrogate >= 0 && a.surrogate <= 3, "surrogate id must be in 0..3");
  require(a.threads >= 1, "threads must be >= 1");
}

// The kernels of the best instruction set this CPU runs (see lif_cpu_isa.h); SNNKERN_CPU_ISA=baseline in
// the environment forces the baseline build, and use_isa() switches at run time (tests compare them).
struct Kernels {
  const char* name;
  void (*forward)(const LifArgs&);
  void (*backward)(const LifArgs&);
};

std::vector<Kernels> available_isas() {
  std::vector<Kernels> isas{{"baseline", snnkern::baseline::lif_forward, snnkern::baseline::lif_backward}};
#if defined(SNNKERN_HAVE_AVX2)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c"))
    isas.push_back({"avx2", snnkern::avx2::lif_forward, snnkern::avx2::lif_backward});
#endif
  return isas;
}

Kernels& active() {
  static Kernels kernels = [] {
    const auto isas = available_isas();
    const char* forced = std::getenv("SNNKERN_CPU_ISA");
    if (forced != nullptr && std::string(forced) == "baseline") return isas.front();
    return isas.back();
  }();
  return kernels;
}

void use_isa(const std::string& name) {
  for (const auto& k : available_isas())
    if (name == k.name) {
      active() = k;
      return;
    }
  throw std::invalid_argument("instruction set " + name + " is not available on this CPU or in this build");
}

std::vector<std::string> isa_names() {
  std::vector<std::string> names;
  for (const auto& k : available_isas()) names.push_back(k.name);
  return names;
}

void lif_forward(const LifArgs& a) {
  check_common(a);
  require(a.x != 0 && a.spikes != 0 && a.v_out != 0, "x, spikes and v_out pointers must be set");
  require(a.dtype >= 0 && a.dtype <= 3, "dtype id must be in 0..3");
  active().forward(a);
}

void lif_backward(const LifArgs& a) {
  check_common(a);
  require(a.z != 0 && a.grad_x != 0 && a.grad_spikes != 0, "z, grad_x and grad_spikes pointers must be set");
  require(a.dtype >= 0 && a.dtype <= 3, "dtype id must be in 0..3");
  active().backward(a);
}

// glibc's malloc hands large blocks to the kernel as fresh mappings and gives freed heap memory back to
// the kernel, so every call's large outputs page-fault again (several times the kernel's own time for
// 16 MB tensors). This keeps freed memory in the process for reuse instead: process-wide, opt-in.
bool keep_freed_memory() {
#if defined(__GLIBC__)
  return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1;
#else
  return false;
#endif
}

bool has_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "snnkern fused LIF kernels for the CPU (raw pointers, no torch headers)";
  py::class_<LifArgs>(m, "LifArgs")
      .def(py::init<>())
#define FIELD(name) .def_readwrite(#name, &LifArgs::name)
      FIELD(T) FIELD(B) FIELD(N)
      FIELD(x) FIELD(spikes) FIELD(z) FIELD(v0) FIELD(v_out) FIELD(beta) FIELD(theta)
      FIELD(grad_spikes) FIELD(grad_state) FIELD(grad_x) FIELD(grad_v0) FIELD(grad_beta) FIELD(grad_theta)
      FIELD(x_st) FIELD(x_sb) FIELD(s_st) FIELD(s_sb) FIELD(z_st) FIELD(z_sb)
      FIELD(gs_st) FIELD(gs_sb) FIELD(gx_st) FIELD(gx_sb) FIELD(beta_sn) FIELD(theta_sn)
      FIELD(slope) FIELD(reset) FIELD(surrogate) FIELD(dtype) FIELD(delay) FIELD(detach) FIELD(threads);
#undef FIELD
  m.def("lif_forward", &lif_forward, py::call_guard<py::gil_scoped_release>(), "LIF forward over all T");
  m.def("lif_backward", &lif_backward, py::call_guard<py::gil_scoped_release>(), "LIF backward over all T");
  m.def("isa", [] { return std::string(active().name); }, "instruction set of the kernels in use");
  m.def("isas", &isa_names, "instruction sets this build has and this CPU runs (the last is the default)");
  m.def("use_isa", &use_isa, "use the kernels of one instruction set (process-wide)");
  m.def("has_openmp", &has_openmp, "whether this build runs threads with OpenMP");
  m.def("keep_freed_memory", &keep_freed_memory, "glibc malloc: keep freed memory for reuse (process-wide)");
}
