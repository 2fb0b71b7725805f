"""cuda backend: not part of this build yet (GPU kernels are tracked separately)."""
DEVICE_TYPES = ("cuda",)


def status():
    return "the cuda kernels are not implemented in this version of snnkern"
