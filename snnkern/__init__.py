"""snnkern: fused LIF kernels for surrogate-gradient training of spiking neural networks."""
from . import nn, schedules
from ._validate import set_debug
from .backends.cpu import keep_freed_memory
from .functional import lif
from .info import info
from .nn import set_slope
from .reference import lif_ref

__version__ = "0.1.0"
__all__ = ["lif", "lif_ref", "nn", "schedules", "set_slope", "set_debug", "keep_freed_memory", "info",
           "__version__"]
