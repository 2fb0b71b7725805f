"""Benchmarks of snnkern: `python -m bench kernels` (LIF kernels beside the reference and the peer libraries).
Recorded results live in bench/results/<machine>-<date>/; `bench/gpu_check.sh` runs the GPU side."""
