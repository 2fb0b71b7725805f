"""`python -m bench <command>`: kernels (LIF kernel sweep beside the peers, bench/kernels.py) and training
(the drone recipe's spiking-actor update with snnkern and with snnTorch, environment steps/s,
bench/training.py)."""
import argparse
import sys


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc as it is (default: snnkern.keep_freed_memory(), for every "
                             "implementation alike, so that no run pays page faults for fresh memory)")
    sub = parser.add_subparsers(dest="command", required=True)

    from bench import kernels, training
    kernels.add_arguments(sub.add_parser("kernels", help="LIF forward / backward / both: ours vs reference and peers"))
    training.add_arguments(sub.add_parser("training", help="spiking-actor updates/s (snnkern vs snnTorch), env steps/s"))

    args = parser.parse_args(argv)
    import snnkern
    kept = not args.default_malloc and snnkern.keep_freed_memory()
    args.note = " ".join(filter(None, [getattr(args, "note", ""), "malloc: keeps freed memory "
                                       "(snnkern.keep_freed_memory)" if kept else "malloc: glibc default"]))
    {"kernels": kernels, "training": training}[args.command].run(args, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
