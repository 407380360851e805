"""Files are identified by their contents: a state saved here restores in a fresh process over a
copy of the data in another directory, from another working directory, through relative paths,
with new modification times; a file whose bytes changed is refused, naming it (docs/readers.md).

The child process imports this module (tests/python is on its path) and builds the same
pipelines over its own copy, so nothing but the state file crosses the process boundary.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import inputpipe

HERE = os.path.dirname(os.path.abspath(__file__))


def pipeline(name, root):
    """The pipelines of the test over the files in directory `root` (relative or absolute)."""
    join = lambda f: os.path.join(root, f)  # noqa: E731
    if name == "text":
        return inputpipe.TextLineDataset([join("a.txt"), join("b.txt")])
    if name == "tfrecord":
        return inputpipe.TFRecordDataset([join("r.tfrecord")])
    if name == "csv":
        return inputpipe.CsvDataset([join("a.csv"), join("b.csv")], [np.int64, ""], header=True)
    if name == "csv_global_shuffle":
        return (inputpipe.CsvDataset([join("a.csv"), join("b.csv")], [np.int64, ""], header=True,
                                     index=True)
                .shuffle(seed=5).repeat(2))
    if name == "list_files":
        files = inputpipe.Dataset.list_files(join("*.txt"), shuffle=True, seed=3)
        return inputpipe.TextLineDataset(files).shuffle(16, seed=4)
    raise ValueError(name)


PIPELINES = ["text", "tfrecord", "csv", "csv_global_shuffle", "list_files"]


def plain(value):
    """An element as JSON can hold it."""
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    value = np.asarray(value).tolist()
    return value.decode("latin-1") if isinstance(value, bytes) else value


def write_data(root):
    os.makedirs(root, exist_ok=True)
    for name, tag, n in (("a.txt", "a", 30), ("b.txt", "b", 25)):
        with open(os.path.join(root, name), "w") as f:
            f.writelines(f"{tag}{i}{'.' * (i % 5)}\n" for i in range(n))
    with inputpipe.TFRecordWriter(os.path.join(root, "r.tfrecord")) as w:
        for i in range(20):
            w.write(f"record {i} " + "x" * (i % 6))
    for name, n in (("a.csv", 24), ("b.csv", 17)):
        with open(os.path.join(root, name), "w") as f:
            f.write("id,name\n" + "".join(f"{i},n{i * 3 % 7}\n" for i in range(n)))


def copy_data(src, dst):
    """The same bytes elsewhere, each file with a later mtime."""
    os.makedirs(dst)
    for name in os.listdir(src):
        target = os.path.join(dst, name)
        shutil.copyfile(os.path.join(src, name), target)
        st = os.stat(os.path.join(src, name))
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 7_000_000_000))


CHILD = r"""
import json, sys, warnings
sys.path.insert(0, sys.argv[1])
import inputpipe, test_file_identity as t
name, state_path, allow = sys.argv[2], sys.argv[3], sys.argv[4] == "1"
it = iter(t.pipeline(name, "."))               # relative paths, from the copy's directory
with open(state_path, "rb") as f:
    state = f.read()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        it.restore(state, allow_changes=allow)
    except inputpipe.PipelineMismatchError as e:
        print(json.dumps({"refused": str(e)}))
        sys.exit(0)
print(json.dumps({"rest": [t.plain(e) for e in it],
                  "warnings": [str(w.message) for w in caught]}))
"""


def restore_in_child(name, state, cwd, tmp_path, allow_changes=False):
    state_path = tmp_path / f"{name}.state"
    state_path.write_bytes(state)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, HERE, name, str(state_path), "1" if allow_changes else "0"],
        cwd=cwd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def saved_after(ds, steps):
    it = iter(ds)
    for _ in range(steps):
        next(it)
    return it.save(), [plain(e) for e in it]


@pytest.mark.parametrize("name", PIPELINES)
def test_restores_in_a_fresh_process_over_a_copy_in_another_directory(name, tmp_path):
    original, copy = str(tmp_path / "data"), str(tmp_path / "staged" / "elsewhere")
    write_data(original)
    copy_data(original, copy)
    for steps in (0, 7, 19):
        state, rest = saved_after(pipeline(name, original), steps)  # absolute paths
        got = restore_in_child(name, state, copy, tmp_path)
        assert "refused" not in got, got
        assert got["rest"] == rest
        assert got["warnings"] == []


def test_same_bytes_under_a_new_mtime_restore(tmp_path):
    """`cp f x && mv x f`."""
    root = str(tmp_path / "data")
    write_data(root)
    state, rest = saved_after(pipeline("text", root), 5)
    for f in ("a.txt", "b.txt"):
        path = os.path.join(root, f)
        shutil.copyfile(path, path + ".x")
        os.replace(path + ".x", path)
        st = os.stat(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 3_000_000_000))
    it = iter(pipeline("text", root))
    it.restore(state)
    assert [plain(e) for e in it] == rest


def flip_middle_byte(path):
    """Changes the digit nearest the middle to another digit: the same size, still parseable."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    i = len(data) // 2
    while not chr(data[i]).isdigit():
        i += 1
    data[i] = ord("0") + (data[i] - ord("0") + 1) % 10
    with open(path, "wb") as f:
        f.write(bytes(data))


def test_a_changed_byte_is_refused_naming_the_file(tmp_path):
    original, copy = str(tmp_path / "data"), str(tmp_path / "copy")
    write_data(original)
    copy_data(original, copy)
    flip_middle_byte(os.path.join(copy, "b.txt"))
    state, _ = saved_after(pipeline("text", original), 4)  # reading a.txt; b.txt not open yet
    got = restore_in_child("text", state, copy, tmp_path)
    assert "b.txt" in got["refused"] and "file 2 of 2" in got["refused"]
    assert "the same size" in got["refused"], got
    # allow_changes restores past it, saying so.
    got = restore_in_child("text", state, copy, tmp_path, allow_changes=True)
    assert len(got["warnings"]) == 1 and "b.txt" in got["warnings"][0]
    # Indexed under a global shuffle, which reads by index: the files' content digest is in the
    # fingerprint.
    flip_middle_byte(os.path.join(copy, "a.csv"))
    state, _ = saved_after(pipeline("csv_global_shuffle", original), 3)
    got = restore_in_child("csv_global_shuffle", state, copy, tmp_path)
    assert "csv(files=2 (content " in got["refused"], got


def test_a_file_whose_size_changed_is_refused(tmp_path):
    original, copy = str(tmp_path / "data"), str(tmp_path / "copy")
    write_data(original)
    copy_data(original, copy)
    with open(os.path.join(copy, "r.tfrecord"), "ab") as f:
        f.write(b"\0" * 16)
    state, _ = saved_after(pipeline("tfrecord", original), 2)
    got = restore_in_child("tfrecord", state, copy, tmp_path)
    assert "r.tfrecord" in got["refused"] and "when saved" in got["refused"], got


def test_list_files_refuses_another_set_of_names(tmp_path):
    original, copy = str(tmp_path / "data"), str(tmp_path / "copy")
    write_data(original)
    copy_data(original, copy)
    os.rename(os.path.join(copy, "b.txt"), os.path.join(copy, "c.txt"))
    state, _ = saved_after(pipeline("list_files", original), 3)
    got = restore_in_child("list_files", state, copy, tmp_path)
    assert "list_files" in got["refused"], got
