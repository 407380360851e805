"""The `inputpipe` command line (also `python -m inputpipe`).

    inputpipe inspect FILE     print the iterator state saved in FILE (the bytes of
                               Iterator.save()) as JSON: format version, pipeline, state tree;
                               for a checkpoint file of CheckpointInputPipelineHook
                               (input.ckpt-<step>), its step and every iterator's state

Exit status: 0 on success, 1 when the file cannot be read or is not a valid state (the error
is printed on stderr), 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from inputpipe import _core


# The first bytes of a hook checkpoint file (docs/hook.md).
_CHECKPOINT_MAGIC = b"IPCK"


def _inspect(args: argparse.Namespace) -> None:
    with open(args.file, "rb") as f:
        contents = f.read()
    if not contents.startswith(_CHECKPOINT_MAGIC):
        print(_core.inspect_state(contents))
        return
    step, states = _core.decode_checkpoint_file(contents, args.file)
    doc = {"checkpoint": args.file, "step": step,
           "iterators": {name: json.loads(_core.inspect_state(state)) for name, state in states}}
    print(json.dumps(doc, indent=2))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inputpipe", description="Tools for inputpipe iterator states.")
    commands = parser.add_subparsers(dest="command", required=True)
    inspect = commands.add_parser(
        "inspect", help="print a saved iterator state as JSON",
        description="Print the iterator state saved in FILE (bytes of Iterator.save()), or every "
                    "iterator state of a hook checkpoint file, as JSON.")
    inspect.add_argument("file", metavar="FILE",
                         help="a saved iterator state, or a checkpoint file input.ckpt-<step>")
    inspect.set_defaults(run=_inspect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except (OSError, ValueError) as e:  # unreadable file; DataLossError is a ValueError
        print(f"inputpipe {args.command}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
