"""The `snnkern` command: `snnkern info`, `snnkern slopes`."""
import argparse
import sys
from pathlib import Path

from .info import format_info, info


def positive_int(text: str) -> int:
    """argparse type: an int >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="snnkern", description="snnkern: fused LIF kernels for SNNs")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="versions and available backends (and why a backend is missing)")
    slopes = sub.add_parser("slopes", help="surrogate-slope gradient analysis of the paper's 4 x 64 LIF network "
                            "(mean |grad| and cosine similarity to k=100 per layer) and its figure")
    slopes.add_argument("--draws", type=positive_int, default=100, help="random input/target draws to average over")
    slopes.add_argument("--out", default="slopes.png", help="where to write the PNG")
    slopes.add_argument("--seed", type=int, default=0, help="seed of the weights and the draws")
    args = parser.parse_args(argv)
    if args.command == "info":
        print(format_info(info()))
    elif args.command == "slopes":
        if not Path(args.out).resolve().parent.is_dir():
            parser.error(f"--out {args.out}: its folder does not exist")
        from .analysis import (format_slope_analysis, gaussian_batches, paper_network, plot_slope_analysis,
                               slope_gradient_analysis)
        result = slope_gradient_analysis(paper_network(args.seed), gaussian_batches(63, 64), draws=args.draws,
                                         seed=args.seed)
        print(format_slope_analysis(result))
        plot_slope_analysis(result, args.out)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
