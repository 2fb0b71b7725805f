"""Id tables shared with the kernels (csrc/lif_common.h and the Triton kernels): keep them in sync."""
import torch

RESETS = {"subtract": 0, "zero": 1, "none": 2}
SURROGATES = {"fast_sigmoid": 0, "sigmoid": 1, "arctan": 2, "triangle": 3}
DTYPES = {torch.float32: 0, torch.float64: 1, torch.float16: 2, torch.bfloat16: 3}


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """State and accumulator dtype for a storage dtype: float32 for half precision, else the dtype."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
