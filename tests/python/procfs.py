"""Processes seen through /proc, for the worker-process tests: who is below whom, who is alive."""

import os


def _live_parents():
    """{parent pid: [live child pids]} of every process not yet reaped as a zombie."""
    parents: dict = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents.setdefault(int(fields[1]), []).append(int(entry))
    return parents


def children_of(pid):
    """The live children of pid."""
    return _live_parents().get(pid, [])


def descendants(pid):
    """Every live process below pid (children, grandchildren: fork server and workers)."""
    parents = _live_parents()
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def alive(pid):
    """pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
