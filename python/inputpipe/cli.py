"""The `inputpipe` command line (also `python -m inputpipe`).

    inputpipe inspect FILE     print the iterator state saved in FILE (the bytes of
                               Iterator.save()) as JSON: format version, pipeline, state tree;
                               for a checkpoint file of CheckpointInputPipelineHook
                               (input.ckpt-<step>), its step, epoch (the hook's
                               epoch=, or null), the iterators that had ended, and every
                               iterator's state
    inspect DIR                a hook's checkpoint directory (or its index file
                               checkpoint_<prefix>): every checkpoint file in it, oldest first,
                               each decoded or with the reason it does not decode, and the one
                               the index names as the latest (null, with latest_error, when
                               the index itself does not decode)

Exit status: 0 on success, 1 when the file cannot be read or is not a valid state (the error
is printed on stderr, naming the file, and the iterator for a state inside a checkpoint file),
2 for a bad command line.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from typing import Sequence

from inputpipe import _core
from inputpipe.hook import latest_input_checkpoint


# The first bytes of a hook checkpoint file (docs/hook.md).
_CHECKPOINT_MAGIC = b"IPCK"
_STATE_MAGIC = b"IPST"  # of Iterator.save()'s bytes (docs/state_format.md)


def _checkpoint_doc(path: str, contents: bytes) -> dict:
    step, states, epoch, ended = _core.decode_checkpoint_file(contents, path)
    # epoch: the hook's epoch= (null without one); ended: the iterators that had reached the
    # end of their data when saved (all of them: restoring delivers nothing, docs/hook.md).
    return {"checkpoint": path, "step": step, "epoch": epoch,
            "ended": [name for (name, _), e in zip(states, ended) if e],
            "at_end": bool(ended) and all(ended) and len(ended) == len(states),
            "iterators": {name: _iterator_doc(path, name, state) for name, state in states}}


def _iterator_doc(path: str, name: str, state: bytes) -> dict:
    try:
        return json.loads(_core.inspect_state(state))
    except ValueError as e:  # the file's checksum holds, one state inside it does not decode
        raise ValueError(f"{path}: iterator {name!r}: {e}") from None


def _step_of(name: str) -> int:
    digits = name.split(".ckpt-", 1)[1].split(".", 1)[0]
    return int(digits) if digits.isdigit() else -1


def _inspect_directory(directory: str, prefix: str) -> dict:
    names = sorted((n for n in os.listdir(directory)
                    if n.startswith(prefix + ".ckpt-") and _step_of(n) >= 0
                    and not n.endswith(".tmp")),
                   key=lambda n: (_step_of(n), n))
    checkpoints = []
    for name in names:
        path = os.path.join(directory, name)
        try:
            with open(path, "rb") as f:
                checkpoints.append(_checkpoint_doc(path, f.read()))
        except (OSError, ValueError) as e:  # a corrupt or unreadable one: say why, go on
            checkpoints.append({"checkpoint": path, "error": str(e)})
    doc = {"checkpoint_dir": directory, "prefix": prefix, "latest": None}
    try:
        doc["latest"] = latest_input_checkpoint(directory, prefix)
    except (OSError, ValueError) as e:  # a torn index: the checkpoints are still listed
        doc["latest_error"] = str(e)
    doc["checkpoints"] = checkpoints
    return doc


def _inspect(args: argparse.Namespace) -> None:
    path = args.file
    index_head = "checkpoint_"
    if os.path.isdir(path):
        print(json.dumps(_inspect_directory(path, args.prefix), indent=2))
        return
    if not os.path.exists(path):  # an index name that names nothing is not an empty listing
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    if os.path.basename(path).startswith(index_head):  # the index file: its directory
        prefix = os.path.basename(path)[len(index_head):].split(".rank-", 1)[0]
        print(json.dumps(_inspect_directory(os.path.dirname(path) or ".", prefix), indent=2))
        return
    with open(path, "rb") as f:
        # The magic first: a foreign file (or /dev/zero) is refused without reading it whole.
        head = f.read(len(_STATE_MAGIC))
        if head not in (_STATE_MAGIC, _CHECKPOINT_MAGIC):
            starts = f"it starts with {head!r}" if head else "it is empty"
            raise ValueError(f"{path}: neither an inputpipe state nor a hook checkpoint file: "
                             f"{starts}, not {_STATE_MAGIC!r} or {_CHECKPOINT_MAGIC!r}")
        contents = head + f.read()
    if not contents.startswith(_CHECKPOINT_MAGIC):
        print(_core.inspect_state(contents))
        return
    print(json.dumps(_checkpoint_doc(path, contents), indent=2))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inputpipe", description="Tools for inputpipe iterator states.")
    commands = parser.add_subparsers(dest="command", required=True)
    inspect = commands.add_parser(
        "inspect", help="print a saved iterator state as JSON",
        description="Print the iterator state saved in FILE (bytes of Iterator.save()), every "
                    "iterator state of a hook checkpoint file, or every checkpoint of a hook's "
                    "directory (or of its index file), as JSON.")
    inspect.add_argument("file", metavar="FILE",
                         help="a saved iterator state, a checkpoint file input.ckpt-<step>, a "
                              "checkpoint directory, or its index file checkpoint_<prefix>")
    inspect.add_argument("--prefix", default="input",
                         help="the hook's file-name prefix, for a directory (default: input)")
    inspect.set_defaults(run=_inspect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except (OSError, ValueError) as e:  # unreadable file; DataLossError is a ValueError
        message = str(e)
        if args.file not in message:  # a state's own errors do not know its file
            message = f"{args.file}: {message}"
        print(f"inputpipe {args.command}: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
