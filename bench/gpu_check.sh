#!/usr/bin/env bash
# GPU check of snnkern on one CUDA machine without internet (made for an H200 with torch 2.11, Triton 3.6 and
# nvcc 13.0), in under 10 minutes:
#   1. installs the pure-Python peers that travel as wheels in bench/wheels/ (see bench/wheels/README.md)
#   2. builds the extensions in place (CUDA kernels with nvcc)
#   3. runs the GPU tests: python -m pytest -m 'gpu or triton' tests (the Triton tests compiled on the GPU)
#   4. benchmarks LIF forward+backward with CUDA events: ours (triton, cuda), the torch reference, snnTorch,
#      SpikingJelly (each implementation it has), Norse; T x B*N x fp32/bf16, retained memory at T=4096, and
#      the Open Neuromorphic shape (B=16, T=500, N=16384, Linear+LIF)
#   5. the quadrotor environment's drone steps/s on the GPU (python -m bench.env_speed --device cuda)
# and prints a short table last. Usage, from anywhere:
#   bash bench/gpu_check.sh OUT_DIR          (PYTHON=... to pick the interpreter; python3 by default)
#   GPU_CHECK_DRY_RUN=1 bash bench/gpu_check.sh OUT_DIR    every stage on the CPU, benchmark at smoke size
# Everything is written under OUT_DIR: env.txt, wheels.log, build.log, gpu_tests.log, bench/ (results.md,
# results.json, machine.json, time_vs_T.png, summary.txt), bench.log, env_speed.log.
# Through the device tool (which returns at most 8 files from $OUT), pack the folder into one file:
#   bash bench/gpu_check.sh /tmp/gpu_check; tar -C /tmp -czf $OUT/gpu_check.tar.gz gpu_check
set -uo pipefail

OUT_DIR=${1:?usage: bash bench/gpu_check.sh OUT_DIR}
PYTHON=${PYTHON:-python3}  # the H200 image: python3 is the interpreter that holds torch
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
cd "$(dirname "$0")/.."
unset TRITON_INTERPRET
START=$SECONDS
status=()  # one line per stage, printed at the end

stage() {  # stage NAME SECONDS LOG -- command...: run with a timeout, log, record the outcome
  local name=$1 limit=$2 log=$3
  shift 4
  echo "== $name (limit ${limit}s, log $log)"
  timeout --kill-after=10 "$limit" "$@" >"$OUT_DIR/$log" 2>&1
  local rc=$?
  case $rc in
    0) status+=("$name: ok") ;;
    124|137) status+=("$name: TIMED OUT after ${limit}s (see $log)") ;;
    *) status+=("$name: exit $rc (see $log)") ;;
  esac
  tail -n 3 "$OUT_DIR/$log"
  return $rc
}

# ---- 0. what is on the machine -------------------------------------------------------------------------
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.memory --format=csv 2>&1 || true
  command -v nvcc && nvcc --version | tail -n 2
  "$PYTHON" - <<'EOF'
import importlib.metadata as md, platform, torch
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda,
      "device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
for p in ("triton", "setuptools", "pybind11", "pytest", "numpy", "matplotlib", "snntorch", "spikingjelly",
          "norse", "loguru", "gymnasium"):
    try:
        print(f"{p} {md.version(p)}")
    except md.PackageNotFoundError:
        print(f"{p} MISSING")
EOF
} >"$OUT_DIR/env.txt" 2>&1
cat "$OUT_DIR/env.txt"

# ---- 1. peers from bench/wheels ------------------------------------------------------------------------
if compgen -G "bench/wheels/*.whl" >/dev/null; then
  stage "install wheels" 90 wheels.log -- "$PYTHON" -m pip install --no-index --no-deps bench/wheels/*.whl
else
  status+=("install wheels: none in bench/wheels/ (peers that are not installed are reported unavailable)")
fi

# ---- 2. build ------------------------------------------------------------------------------------------
# setup.py needs setuptools>=77 (pyproject's SPDX license string) and pybind11 (the CPU extension). Without
# them, only the CUDA library is built, with nvcc and the flags of setup.py's cuda_flags().
if "$PYTHON" - <<'EOF' 2>>"$OUT_DIR/build.log"
import sys, setuptools, pybind11
sys.exit(0 if int(setuptools.__version__.split(".")[0]) >= 77 else 1)
EOF
then
  stage "build (setup.py build_ext --inplace)" 200 build.log -- "$PYTHON" setup.py build_ext --inplace
else
  echo "!! setuptools>=77 and pybind11 are needed to build with setup.py; one is missing or too old (build.log):"
  echo "!! building only the CUDA kernels with nvcc; the cpu backend stays unbuilt here"
  stage "build (nvcc only: setuptools>=77 or pybind11 missing)" 200 build.log -- "$PYTHON" - <<'EOF'
import ast, glob, pathlib, shutil, subprocess
tree = ast.parse(pathlib.Path("setup.py").read_text())
ns = {"DEBUG": False}
exec(compile(ast.Module([n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "cuda_flags"], []),
             "setup.py", "exec"), ns)
nvcc = shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
cmd = [nvcc, *sorted(glob.glob("csrc/*.cu")), "-o", "snnkern/_cuda_kernels.so", *ns["cuda_flags"]()]
print(" ".join(cmd), flush=True)
subprocess.run(cmd, check=True)
pathlib.Path("snnkern/_build_log.txt").write_text("cpu: not built by gpu_check.sh (setuptools>=77 / pybind11 missing)\ncuda: built\n")
EOF
fi
"$PYTHON" -m snnkern.cli info 2>&1 | tee -a "$OUT_DIR/build.log"

# ---- 3. GPU tests --------------------------------------------------------------------------------------
# The tests marked gpu and the Triton kernel tests, compiled on CUDA tensors. On a bare machine Triton
# compiles every kernel variant they meet (about 0.2 s each here, some 300 of them): with pytest-xdist (on
# the H200 image) they run in 8 processes.
xdist=()
"$PYTHON" -c "import xdist" 2>/dev/null && xdist=(-n 8)
stage "GPU tests (pytest -m 'gpu or triton' tests ${xdist[*]})" 300 gpu_tests.log -- \
  "$PYTHON" -m pytest -m "gpu or triton" "${xdist[@]}" -q -rs --durations=10 --continue-on-collection-errors \
    -p no:cacheprovider tests

# ---- 4. benchmark --------------------------------------------------------------------------------------
left=$(( 570 - 50 - (SECONDS - START) ))  # 50 s stay for the environment's speed
(( left > 330 )) && left=330
if (( left < 60 )); then
  status+=("benchmark: not run, only ${left}s left of the 10 minutes")
else
  grid=(--device cuda --T 16,128,1024 --BN '2**16,2**20,2**22' --dtypes float32,bfloat16 --modes fwdbwd
        --budget 0.25 --min-runs 5 --max-runs 50 --retained-T 4096 --on-shape 16,500,16384)
  [[ ${GPU_CHECK_DRY_RUN:-0} == 1 ]] && grid=(--device cpu --quick --modes fwdbwd)
  stage "benchmark (python -m bench kernels ${grid[*]:0:2})" "$left" bench.log -- \
    "$PYTHON" -m bench kernels "${grid[@]}" --out "$OUT_DIR/bench" --deadline $(( left - 45 )) \
      --note "bench/gpu_check.sh"
fi

# ---- 5. environment speed -----------------------------------------------------------------------------
env_args=(--device cuda --batch-sizes 1 1024 65536 1048576)
[[ ${GPU_CHECK_DRY_RUN:-0} == 1 ]] && env_args=(--device cpu --batch-sizes 1 1024 --steps 20)
left=$(( 570 - (SECONDS - START) ))
if (( left < 20 )); then
  status+=("environment speed: not run, only ${left}s left of the 10 minutes")
else
  stage "environment speed (python -m bench.env_speed ${env_args[*]:0:2})" "$left" env_speed.log -- \
    "$PYTHON" -m bench.env_speed "${env_args[@]}"
fi

# ---- short table last ----------------------------------------------------------------------------------
echo
echo "== gpu_check.sh finished in $(( SECONDS - START ))s; results in $OUT_DIR"
printf '%s\n' "${status[@]}"
grep -E "^(FAILED|ERROR)|[0-9]+ (passed|failed)|no tests ran" "$OUT_DIR/gpu_tests.log" | tail -n 12
[[ -f "$OUT_DIR/bench/summary.txt" ]] && cat "$OUT_DIR/bench/summary.txt"
[[ -f "$OUT_DIR/env_speed.log" ]] && grep -E "^\|" "$OUT_DIR/env_speed.log"
exit 0
