"""`python -m bench <command>`: kernels (LIF kernel sweep beside the peers, bench/kernels.py) and training
(the drone recipe's spiking-actor update with snnkern and with snnTorch, environment steps/s,
bench/training.py)."""
import argparse
import importlib
import sys

COMMANDS = {
    "kernels": "LIF forward / backward / both: ours vs reference and peers",
    "training": "spiking-actor updates/s (snnkern vs snnTorch), env steps/s",
}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc as it is (default: snnkern.keep_freed_memory(), for every "
                             "implementation alike, so that no run pays page faults for fresh memory)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in COMMANDS.items():
        command = sub.add_parser(name, help=help_text)
        try:  # a command whose dependencies are missing (training needs the rl extra) leaves the others working
            module = importlib.import_module(f"bench.{name}")
        except ImportError as error:
            command.set_defaults(module=None, missing=error.name.split(".")[0] if error.name else str(error))
            continue
        module.add_arguments(command)
        command.set_defaults(module=module)

    args, _ = parser.parse_known_args(argv)
    if args.module is None:
        parser.error(f"`python -m bench {args.command}` needs the module {args.missing!r}, which is not "
                     "installed (pip install -e \".[bench,rl]\")")
    args = parser.parse_args(argv)
    import snnkern
    kept = not args.default_malloc and snnkern.keep_freed_memory()
    args.note = " ".join(filter(None, [getattr(args, "note", ""), "malloc: keeps freed memory "
                                       "(snnkern.keep_freed_memory)" if kept else "malloc: glibc default"]))
    args.module.run(args, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
