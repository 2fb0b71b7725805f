"""Build snnkern: the pybind11 CPU kernels always (if a C++ compiler works), the CUDA kernels when nvcc is
found. The kernels take raw pointers, so neither build includes torch headers or depends on the installed
torch version. A failed or skipped build still installs the package; snnkern falls back to the reference
backend and `snnkern info` says why.

Switches (environment variables):
  SNNKERN_SKIP_CPU=1     do not build the C++ extension
  SNNKERN_SKIP_CUDA=1    do not build the CUDA library even when nvcc is found
  SNNKERN_CPU_FLAGS=...  extra C++ flags, e.g. "-march=native"
  SNNKERN_BUILD_DEBUG=1  build with -O0 -g
  CUDA_HOME              where to look for bin/nvcc (else PATH)
"""
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent
CSRC = ROOT / "csrc"
KERNELS = "csrc/lif_cpu_kernels.cpp"  # compiled once per instruction set, see _compile_kernels
DEBUG = os.environ.get("SNNKERN_BUILD_DEBUG") == "1"
BUILD_LOG = "_build_log.txt"  # written into the package: what was built, what was skipped and why


OPENMP_PROBE = "#include <omp.h>\nint main() { return omp_get_max_threads() > 0 ? 0 : 1; }\n"
# Instruction sets the CPU kernels are compiled for besides the baseline (x86-64 only; csrc/lif_cpu_isa.h)
X86_ISAS = {"avx2": ["-mavx2", "-mf16c"]}


def _compiles(compiler, flags, source="int main() { return 0; }\n"):
    """Whether the C++ compiler compiles and links source with flags (used to detect OpenMP and -mavx2)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "probe.cpp"
        src.write_text(source)
        try:
            objs = compiler.compile([str(src)], output_dir=tmp, extra_postargs=flags)
            compiler.link_executable(objs, str(Path(tmp) / "probe"), extra_postargs=flags)
            return True
        except Exception:
            return False


def _find_nvcc():
    cuda_home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if cuda_home and (Path(cuda_home) / "bin" / "nvcc").exists():
        return str(Path(cuda_home) / "bin" / "nvcc")
    return shutil.which("nvcc") or (
        "/usr/local/cuda/bin/nvcc" if Path("/usr/local/cuda/bin/nvcc").exists() else None
    )


class OptionalBuildExt(build_ext):
    """Builds each extension if it can; records what happened instead of failing the install."""

    def run(self):
        self.log_lines = []
        super().run()
        self._build_cuda()
        self._write_log()

    def build_extension(self, ext):
        if os.environ.get("SNNKERN_SKIP_CPU") == "1":
            self.log_lines.append("cpu: skipped (SNNKERN_SKIP_CPU=1)")
            return
        omp = ["-fopenmp"] if _compiles(self.compiler, ["-fopenmp"], OPENMP_PROBE) else []
        ext.extra_compile_args += omp
        ext.extra_link_args += omp
        try:
            isas = self._compile_kernels(ext)
            super().build_extension(ext)
            threads = "OpenMP" if omp else "no OpenMP: single thread"
            self.log_lines.append(f"cpu: built ({threads}; instruction sets: {', '.join(isas)})")
        except Exception as error:  # no compiler, missing headers: install anyway
            compiler = (getattr(self.compiler, "compiler_so", None) or ["?"])[0]
            reason = (f"build failed: the C++ compiler {compiler!r} did not compile csrc/ (set CXX to a C++17 "
                      f"compiler and reinstall); {type(error).__name__}: {str(error).splitlines()[-1][-200:]}")
            self.log_lines.append(f"cpu: {reason}")
            print(f"snnkern: C++ extension not built, the torch reference will be used: {reason}", file=sys.stderr)

    def _compile_kernels(self, ext):
        """Compiles csrc/lif_cpu_kernels.cpp once per instruction set the compiler can target (in parallel),
        adds the objects to ext and returns the instruction sets' names."""
        isas = {"baseline": []}
        if platform.machine().lower() in ("x86_64", "amd64"):
            isas.update({name: flags for name, flags in X86_ISAS.items() if _compiles(self.compiler, flags)})

        def compile_for(name):
            return self.compiler.compile(
                [KERNELS], output_dir=str(Path(self.build_temp) / name), include_dirs=ext.include_dirs,
                macros=[("SNNKERN_CPU_ISA", name)], extra_postargs=[*ext.extra_compile_args, *isas[name]])

        with ThreadPoolExecutor(len(isas)) as pool:
            ext.extra_objects += [obj for objs in pool.map(compile_for, isas) for obj in objs]
        ext.define_macros += [(f"SNNKERN_HAVE_{name.upper()}", "1") for name in isas if name != "baseline"]
        return list(isas)

    def _build_cuda(self):
        if os.environ.get("SNNKERN_SKIP_CUDA") == "1":
            self.log_lines.append("cuda: skipped (SNNKERN_SKIP_CUDA=1)")
            return
        sources = sorted(CSRC.glob("*.cu"))
        nvcc = _find_nvcc()
        if not sources:
            self.log_lines.append("cuda: no CUDA sources")
            return
        if nvcc is None:
            self.log_lines.append("cuda: nvcc not found (set CUDA_HOME or put nvcc on PATH)")
            return
        out = Path(self.get_ext_fullpath("snnkern._cpu")).parent / "_cuda_kernels.so"
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [nvcc, *map(str, sources), "-o", str(out), *cuda_flags()]
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True)
            self.log_lines.append("cuda: built (" + " ".join(a for a in cuda_flags() if "arch" in a) + ")")
        except (subprocess.CalledProcessError, OSError) as error:
            detail = getattr(error, "stderr", "") or str(error)
            self.log_lines.append(f"cuda: nvcc failed: {detail.strip()[-2000:]}")
            print(f"snnkern: CUDA kernels not built: {detail[-2000:]}", file=sys.stderr)

    def _write_log(self):
        path = Path(self.get_ext_fullpath("snnkern._cpu")).parent / BUILD_LOG
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(self.log_lines) + "\n")


def cuda_flags():
    """nvcc flags for the CUDA shared library: sm_80, sm_90 and PTX for newer GPUs."""
    opt = ["-O0", "-g"] if DEBUG else ["-O3"]
    return [
        *opt, "-shared", "-Xcompiler", "-fPIC", "-std=c++17", "--fmad=false", "-lineinfo",
        "-gencode=arch=compute_80,code=sm_80",
        "-gencode=arch=compute_90,code=sm_90",
        "-gencode=arch=compute_90,code=compute_90",
    ]


cpu_flags = (["-O0", "-g"] if DEBUG else ["-O3"]) + [
    "-ffp-contract=off",  # no fused multiply-add: spikes match the reference bit for bit
    "-fno-math-errno",
    "-fno-trapping-math",  # lets the compiler turn selects into SIMD blends (results unchanged)
    *os.environ.get("SNNKERN_CPU_FLAGS", "").split(),
]

setup(
    ext_modules=[
        Pybind11Extension(
            "snnkern._cpu",
            sources=["csrc/lif_cpu.cpp"],
            include_dirs=[str(CSRC)],
            extra_compile_args=cpu_flags,
            cxx_std=17,
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
