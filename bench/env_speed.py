"""`python -m bench.env_speed`: drone steps per second of the batched quadrotor env (torch API).

Each batch size runs ``step_tensors`` with uniform random actions in [-1, 1] (so drones crash and
autoreset as early in training) after a short warm-up; the time of ``steps`` consecutive steps is
repeated ``repeats`` times and the median reported. Steps per second counts drone steps:
batch x steps / seconds. Observation noise, reward terms, privileged observations and autoreset are
all included, as a trainer gets them.

On a shared machine, torch's OpenMP threads slow down badly when another process holds a core
(waiting threads spin); ``--threads 1`` shows the single-core speed, and the CPU-time column what
the process itself spent.
"""

import argparse
import platform
import statistics
import time

import torch

from rl.envs.vector import QuadrotorVectorEnv


def _default_steps(batch: int) -> int:
    return max(20, min(1000, 1_000_000 // batch))


def measure_env_speed(
    batch_sizes=(1, 1024, 65536),
    device: str = "cpu",
    steps: int | None = None,
    repeats: int = 3,
    threads: int | None = None,
) -> list[dict]:
    """Drone steps per second at each batch size: dicts with batch, steps, seconds, steps_per_second,
    and cpu_seconds, steps_per_cpu_second (process CPU time, all threads: on a busy shared machine
    the wall time also counts the time other processes held the cores).

    ``steps`` per timed run defaults to 1e6 / batch, clamped to [20, 1000]; ``threads`` sets torch's
    CPU threads for the measurement (restored afterwards).
    """
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        results = []
        for batch in batch_sizes:
            n_steps = steps or _default_steps(batch)
            env = QuadrotorVectorEnv(batch, device=device)
            env.reset_tensors(seed=0)
            generator = torch.Generator().manual_seed(0)
            actions = (torch.rand(batch, 4, generator=generator) * 2 - 1).to(device)
            for _ in range(5):
                env.step_tensors(actions)
            timings, cpu_timings = [], []
            for _ in range(repeats):
                _synchronize(device)
                start, cpu_start = time.perf_counter(), time.process_time()
                for _ in range(n_steps):
                    env.step_tensors(actions)
                _synchronize(device)
                timings.append(time.perf_counter() - start)
                cpu_timings.append(time.process_time() - cpu_start)
            seconds, cpu_seconds = statistics.median(timings), statistics.median(cpu_timings)
            results.append(
                {
                    "batch": batch,
                    "steps": n_steps,
                    "seconds": seconds,
                    "steps_per_second": batch * n_steps / seconds,
                    "cpu_seconds": cpu_seconds,
                    "steps_per_cpu_second": batch * n_steps / cpu_seconds,
                }
            )
        return results
    finally:
        torch.set_num_threads(previous_threads)


def _synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def markdown_table(results: list[dict]) -> str:
    lines = [
        "| batch | steps timed | seconds (median) | drone steps/s | drone steps per CPU-second |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['batch']} | {r['steps']} | {r['seconds']:.3f} | {r['steps_per_second']:,.0f} "
            f"| {r['steps_per_cpu_second']:,.0f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.env_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 1024, 65536])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=None, help="steps per timed run (default 1e6 / batch in [20, 1000])")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    results = measure_env_speed(args.batch_sizes, args.device, args.steps, args.repeats, args.threads)
    threads = args.threads or torch.get_num_threads()
    print(f"snnkern/Quadrotor-v0 step_tensors, device {args.device}, torch {torch.__version__}, {threads} thread(s), {platform.processor() or platform.machine()}")
    print()
    print(markdown_table(results))


if __name__ == "__main__":
    main()
