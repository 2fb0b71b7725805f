"""The `snnkern` command: `snnkern info`."""
import argparse
import sys

from .info import format_info, info


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="snnkern", description="snnkern: fused LIF kernels for SNNs")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="versions and available backends (and why a backend is missing)")
    args = parser.parse_args(argv)
    if args.command == "info":
        print(format_info(info()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
