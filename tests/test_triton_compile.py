"""The Triton kernels compiled for an H100/H200 (sm_90) without a GPU, in a process where TRITON_INTERPRET is
unset: what the interpreter cannot check (types in compiled loops, the layout hints, FMA contraction)."""
import json
import subprocess
import sys

import pytest
import torch

pytest.importorskip("triton")

# Compiles kernels for an H100/H200 (sm_90) without a GPU, in a process where TRITON_INTERPRET is unset;
# prints {name: PTX} as JSON.
_COMPILE_SM90 = r"""
import itertools, json, sys
import triton.language as tl
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource, compile
from snnkern.backends import _triton_kernels as backend
TL = {"fp32": tl.float32, "fp64": tl.float64, "fp16": tl.float32, "bf16": tl.float32}
LIMITS = {"fp16": (65504.0, 2.0**-14), "bf16": (3.3895313892515355e38, 2.0**-126)}


def build(kernel, storage, layout, **flags):
    acc = "fp64" if storage == "fp64" else "fp32"
    constexprs = dict(ACC=TL[storage], FLAT=layout != "strided", ALIGN=16 if layout == "aligned" else 1, BLOCK=512,
                      **flags)
    signature, attrs = {}, {}
    for i, name in enumerate(kernel.arg_names):
        if name in constexprs:
            signature[name] = "constexpr"
        elif name.endswith("_ptr"):
            signature[name] = "*" + (storage if name in ("x_ptr", "s_ptr", "z_ptr", "gs_ptr", "gx_ptr") else acc)
            attrs[(i,)] = [["tt.divisibility", 16]]
        else:
            signature[name] = "i32"
    src = ASTSource(kernel, signature, constexprs=constexprs, attrs=attrs)
    return compile(src, target=GPUTarget("cuda", 90, 32), options=dict(num_warps=4, enable_fp_fusion=False)).asm["ptx"]


out = {}
cases = [("fp32", reset, delay, "aligned") for reset, delay in itertools.product(range(3), (False, True))]
cases += [(s, 0, True, "aligned") for s in ("fp64", "fp16", "bf16")] + [("fp32", 1, False, "strided")]
for i, (s, reset, delay, layout) in enumerate(cases):
    limits = LIMITS.get(s, (0.0, 0.0))
    out[f"fwd-{s}-{reset}-{delay}-{layout}"] = build(
        backend._lif_fwd_kernel, s, layout, RESET=reset, DELAY=delay, STORE_Z=i % 2 == 0, HAS_V0=i % 3 != 1,
        Z_MAX=limits[0], Z_TINY=limits[1])
    for detach in (False, True):
        given = (i + detach) % 3 != 1
        out[f"bwd-{s}-{reset}-{delay}-{detach}-{layout}"] = build(
            backend._lif_bwd_kernel, s, layout, RESET=reset, DELAY=delay, DETACH=detach, SG=(i + detach) % 4,
            HAS_V0=given, HAS_GSTATE=not given, NEED_V0=given, NEED_BETA=True, NEED_THETA=not given)
json.dump(out, sys.stdout)
"""


@pytest.mark.skipif(torch.cuda.is_available(), reason="the GPU tests compile the kernels for their GPU")
def test_kernels_compile_for_sm90(monkeypatch):
    """Every variant axis and storage dtype compiles for sm_90 (what the interpreter cannot check: types in
    compiled loops, the layout hints). No multiply-add is contracted into an FMA, so spikes equal the
    reference's (float64's backward calls the correctly rounded libdevice division and exp, which use FMA
    inside); with ALIGN = 16 the time loop streams 16-byte vector loads and stores."""
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    done = subprocess.run([sys.executable, "-c", _COMPILE_SM90], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    ptx = json.loads(done.stdout)
    assert len(ptx) == 30
    for name, code in ptx.items():
        if not name.startswith("bwd-fp64"):
            assert "fma." not in code, name
        if "-fp32-" in name and name.endswith("aligned"):
            loop = code[code.index("Loop Header"):]  # the time loop: x or z and dL/ds in, spikes or dL/dx out
            assert "ld.global.v4.b32" in loop and "st.global.v4.b32" in loop, name
