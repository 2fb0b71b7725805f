"""`python -m bench <command>`: kernels (LIF kernel sweep beside the peers). See bench/kernels.py."""
import argparse
import sys


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    from bench import kernels
    kernels.add_arguments(sub.add_parser("kernels", help="LIF forward / backward / both: ours vs reference and peers"))
    # training: the RL training benchmark registers its subcommand here (added with the RL recipe).

    args = parser.parse_args(argv)
    if args.command == "kernels":
        kernels.run(args, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
