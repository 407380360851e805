"""The `inputpipe` command line (also `python -m inputpipe`).

    inputpipe inspect FILE     print the iterator state saved in FILE (the bytes of
                               Iterator.save()) as JSON: format version, pipeline, state tree

Exit status: 0 on success, 1 when the file cannot be read or is not a valid state (the error
is printed on stderr), 2 for a bad command line.
"""

import argparse
import sys

from inputpipe import _core


def _inspect(args):
    with open(args.file, "rb") as f:
        state = f.read()
    print(_core.inspect_state(state))


def _parser():
    parser = argparse.ArgumentParser(
        prog="inputpipe", description="Tools for inputpipe iterator states.")
    commands = parser.add_subparsers(dest="command", required=True)
    inspect = commands.add_parser(
        "inspect", help="print a saved iterator state as JSON",
        description="Print the iterator state saved in FILE (bytes of Iterator.save()) as JSON.")
    inspect.add_argument("file", metavar="FILE", help="a file holding a saved iterator state")
    inspect.set_defaults(run=_inspect)
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except (OSError, ValueError) as e:  # unreadable file; DataLossError is a ValueError
        print(f"inputpipe {args.command}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
