"""How a function is identified in a pipeline's fingerprint: name= pins it (two callables of
one name restore into each other, another name is refused; every op and reader takes name=,
which only an op with functions puts in its fingerprint); a function of the main script has
one name whether the script is run (`python train.py`, `python -m train`) or imported (`import
train`), in fresh processes both ways, and states of older versions naming it "__main__.f"
still restore into the script; a lambda is named by its source, not its bytecode (which every
Python minor version changes), still telling apart operators and captured values."""
import functools
import inspect
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import inputpipe
from inputpipe import Dataset
from inputpipe import _fingerprint


def take(it, n):
    return [_as_list(next(it)) for _ in range(n)]


def _as_list(element):
    if isinstance(element, inputpipe.RaggedArray):
        return element.to_list()
    return np.asarray(element).tolist()


def pipeline_entries(state):
    return json.loads(inputpipe.inspect_state(state))["pipeline"]


def saved_after(ds, n=3):
    it = iter(ds)
    take(it, n)
    return it.save()


def double(x):
    return x * 2


def double_again(x):  # another function, same output
    return 2 * x


# ---- name= pins a function's identity ------------------------------------------------------

def test_name_is_the_functions_identity_in_the_fingerprint():
    state = saved_after(Dataset.range(10).map(double, name="decode"))
    assert "map(fn=decode)" in pipeline_entries(state)
    # Another callable of the same name (a renamed, moved or rewritten function, a lambda)
    # restores; the positions continue with the new function.
    for fn in (double_again, lambda x: x + x, functools.partial(np.multiply, 2)):
        it = iter(Dataset.range(10).map(fn, name="decode"))
        it.restore(state)
        assert take(it, 2) == [6, 8]
    with pytest.raises(inputpipe.PipelineMismatchError, match="fn=decode"):
        iter(Dataset.range(10).map(double, name="parse")).restore(state)
    # Without a name the function is named by module.qualname: not "decode".
    with pytest.raises(inputpipe.PipelineMismatchError, match="fn=decode"):
        iter(Dataset.range(10).map(double)).restore(state)
    # allow_changes restores past a renamed function, as past any changed function.
    it = iter(Dataset.range(10).map(double, name="parse"))
    with pytest.warns(UserWarning, match="fn=decode"):
        it.restore(state, allow_changes=True)
    assert take(it, 1) == [6]


def _function_ops(name=None):
    """Each op with a function, built with two different callables under one name."""
    n = {} if name is None else {"name": name}
    return {
        "map": lambda f: Dataset.range(20).map(f, **n),
        "filter": lambda f: Dataset.range(20).filter(lambda x: f(x) % 4 != 2, **n),
        "flat_map": lambda f: Dataset.range(5).flat_map(
            lambda x: Dataset.range(2).map(lambda y: y + f(x)), **n),
        "interleave": lambda f: Dataset.range(5).interleave(
            lambda x: Dataset.range(2).map(lambda y: y + f(x)), cycle_length=2, **n),
        "group_by_window": lambda f: Dataset.range(20).group_by_window(
            lambda x: f(x) % 3, lambda k, w: w.batch(2), window_size=2, **n),
        "group_by_window(window_size_func)": lambda f: Dataset.range(20).group_by_window(
            lambda x: f(x) % 3, lambda k, w: w.batch(2), window_size_func=lambda k: 2, **n),
        "bucket_by_sequence_length": lambda f: Dataset.range(20).map(
            lambda x: np.zeros(int(x) % 5, np.int64)).bucket_by_sequence_length(
            lambda x: len(x), [2, 4], [2, 2, 2], **n),
    }


@pytest.mark.parametrize("op", list(_function_ops()))
def test_name_pins_the_function_of_every_function_op(op):
    build = _function_ops("pinned")[op]
    state = saved_after(build(double))
    it = iter(build(double_again))
    it.restore(state)
    take(it, 1)
    with pytest.raises(inputpipe.PipelineMismatchError):
        iter(_function_ops("other")[op](double)).restore(state)


def test_a_name_must_be_a_non_empty_str_on_one_line():
    for bad in (3, b"decode"):
        with pytest.raises(TypeError, match="map: name"):
            Dataset.range(3).map(double, name=bad)  # type: ignore[arg-type]
    for bad_name in ("", "two\nlines"):  # the fingerprint holds one entry per line
        with pytest.raises(ValueError, match="interleave: name"):
            Dataset.range(3).interleave(lambda x: Dataset.range(x), name=bad_name)


# Minimal arguments of every public method of Dataset that builds an op.
_SMALL = Dataset.range(12)
_OP_CALLS: dict = {  # op -> a builder taking name=, or None
    "range": lambda n: Dataset.range(12, name=n),
    "from_tensor_slices": lambda n: Dataset.from_tensor_slices(np.arange(12), name=n),
    "from_tensors": lambda n: Dataset.from_tensors(np.arange(6), name=n).repeat(6),
    "counter": lambda n: Dataset.counter(name=n).take(6),
    "from_generator": None,  # name= is its function's identity; tested below
    "list_files": None,  # needs files; tested with the readers
    "zip": lambda n: Dataset.zip((_SMALL, _SMALL), name=n),
    "random": lambda n: Dataset.random(seed=1, name=n).take(6),
    "sample_from_datasets": lambda n: Dataset.sample_from_datasets([_SMALL, _SMALL], seed=1,
                                                                   name=n),
    "choose_from_datasets": lambda n: Dataset.choose_from_datasets(
        [_SMALL, _SMALL], Dataset.range(2).repeat(3), name=n),
    "map": lambda n: _SMALL.map(double, name=n),
    "filter": lambda n: _SMALL.filter(lambda x: x > 1, name=n),
    "flat_map": lambda n: _SMALL.flat_map(lambda x: Dataset.from_tensors(x), name=n),
    "interleave": lambda n: _SMALL.interleave(lambda x: Dataset.from_tensors(x), cycle_length=2,
                                              name=n),
    "batch": lambda n: _SMALL.batch(2, name=n),
    "padded_batch": lambda n: _SMALL.map(lambda x: np.zeros(int(x), np.int64)).padded_batch(
        2, name=n),
    "ragged_batch": lambda n: _SMALL.map(lambda x: np.zeros(int(x), np.int64)).ragged_batch(
        2, name=n),
    "unbatch": lambda n: _SMALL.batch(2).unbatch(name=n),
    "repeat": lambda n: _SMALL.repeat(2, name=n),
    "take": lambda n: _SMALL.take(4, name=n),
    "skip": lambda n: _SMALL.skip(1, name=n),
    "shard": lambda n: _SMALL.shard(2, 0, name=n),
    "enumerate": lambda n: _SMALL.enumerate(name=n),
    "concatenate": lambda n: _SMALL.concatenate(_SMALL, name=n),
    "window": lambda n: _SMALL.window(2, name=n).flat_map(lambda w: w),
    "shuffle": lambda n: _SMALL.shuffle(4, seed=1, name=n),
    "prefetch": lambda n: _SMALL.prefetch(2, name=n),
    "group_by_window": lambda n: _SMALL.group_by_window(lambda x: x % 2, lambda k, w: w.batch(2),
                                                        window_size=2, name=n),
    "bucket_by_sequence_length": lambda n: _SMALL.map(
        lambda x: np.zeros(int(x), np.int64)).bucket_by_sequence_length(
        lambda x: len(x), [3], [2, 2], name=n),
    "unique": lambda n: _SMALL.unique(name=n),
    "ignore_errors": lambda n: _SMALL.ignore_errors(name=n),
    "distribute": lambda n: _SMALL.batch(2).distribute(num_ranks=2, rank=0, name=n),
    "take_while": lambda n: _SMALL.take_while(lambda x: x < 10, name=n),
    "scan": lambda n: _SMALL.scan(np.int64(0), lambda s, x: (s + x, x), name=n),
    "rebatch": lambda n: _SMALL.batch(3).rebatch(2, name=n),
    "cache": lambda n: _SMALL.cache(name=n),
    # Options are transparent to the state: only its signature is checked.
    "with_options": None,
}
# Public methods that build no op: apply runs the user's transformation (whose ops take
# name=); the others are properties, iteration and the options in force.
_NOT_OPS = {"apply", "cardinality", "is_random_access", "as_numpy_iterator", "options",
            "element_spec", "reduce", "get_single_element"}
_FUNCTION_OPS = {"map", "filter", "flat_map", "interleave", "group_by_window",
                 "bucket_by_sequence_length", "take_while", "scan"}


def test_every_op_method_is_covered():
    public = {m for m in dir(Dataset) if not m.startswith("_")}
    assert public - _NOT_OPS == set(_OP_CALLS)


@pytest.mark.parametrize("op", sorted(_OP_CALLS))
def test_every_op_takes_name(op):
    if _OP_CALLS[op] is None:
        assert "name" in inspect.signature(getattr(Dataset, op)).parameters
        return
    state = saved_after(_OP_CALLS[op]("step"), 2)
    expected = take(iter(_OP_CALLS[op]("step")), 4)
    if op in _FUNCTION_OPS:
        return  # name= is the function's identity (the tests above)
    # Elsewhere it enters nothing: a state saved without a name restores with one, and the
    # other way round, continuing exactly.
    plain = saved_after(_OP_CALLS[op](None), 2)
    assert pipeline_entries(plain) == pipeline_entries(state)
    it = iter(_OP_CALLS[op]("another"))
    it.restore(plain)
    assert take(it, 2) == expected[2:]


def test_readers_take_name(tmp_path):
    (tmp_path / "a.csv").write_text("1,x\n2,y\n3,z\n")
    (tmp_path / "a.txt").write_text("one\ntwo\nthree\n")
    with inputpipe.TFRecordWriter(str(tmp_path / "a.tfrecord")) as w:
        for r in (b"r1", b"r2", b"r3"):
            w.write(r)
    files = Dataset.list_files(str(tmp_path / "a.txt"), name="files")
    readers = {
        "csv": lambda n: inputpipe.CsvDataset([str(tmp_path / "a.csv")], [np.int64, "?"],
                                              name=n),
        "csv_batch": lambda n: inputpipe.CsvDataset([str(tmp_path / "a.csv")], [np.int64, "?"],
                                                    name=n).batch(2, name=n),
        "text": lambda n: inputpipe.TextLineDataset(files, name=n),
        "text_parallel": lambda n: inputpipe.TextLineDataset([str(tmp_path / "a.txt")] * 2,
                                                             num_parallel_reads=2, name=n),
        "tfrecord": lambda n: inputpipe.TFRecordDataset([str(tmp_path / "a.tfrecord")], name=n),
    }
    for what, build in readers.items():
        plain = saved_after(build(None), 1)
        named = saved_after(build("reader"), 1)
        assert pipeline_entries(plain) == pipeline_entries(named), what
        it = iter(build("reader"))
        it.restore(plain)
        rest = take(it, 1)
        assert rest == take(_after(build(None), 1), 1), what
    # The CSV reader's fused batch stays fused with a name.
    fused = pipeline_entries(saved_after(readers["csv_batch"]("b"), 1))
    assert not any(e.lstrip().startswith("batch(") for e in fused), fused


def _after(ds, n):
    it = iter(ds)
    take(it, n)
    return it


def test_from_generator_name_is_its_identity():
    def gen():
        yield from range(5)

    assert "from_generator(fn=numbers)" in repr(Dataset.from_generator(gen, name="numbers"))


# ---- The main script run and imported ------------------------------------------------------

TRAIN = '''
import sys
import numpy as np
import inputpipe


def decode(x):
    return x * 3


class Scale:
    def __call__(self, x):
        return x + 100


def pipeline(old_name=False):
    ds = inputpipe.Dataset.range(50).shuffle(10, seed=4)
    # old_name: a map named as versions before the script's module name wrote it.
    ds = ds.map(decode, name="__main__.decode") if old_name else ds.map(decode)
    return ds.map(lambda x: x + 1).map(Scale()).batch(2)


def run(mode, path, old_name=False):
    if mode == "save":
        it = iter(pipeline(old_name))
        for _ in range(3):
            next(it)
        with open(path, "wb") as f:
            f.write(it.save())
        print([np.asarray(next(it)).tolist() for _ in range(3)])
    else:
        it = iter(pipeline())
        with open(path, "rb") as f:
            it.restore(f.read())
        print([np.asarray(next(it)).tolist() for _ in range(3)])


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], len(sys.argv) > 3)
'''


def _python(tmp_path, *args):
    result = subprocess.run([sys.executable, *args], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _imported(mode, path, old_name=False):
    return ["-c", f"import train; train.run({mode!r}, {str(path)!r}, {old_name})"]


@pytest.mark.parametrize("saver,restorer", [
    ("script", "import"), ("import", "script"), ("module", "import"), ("script", "module")])
def test_the_script_run_and_imported_restore_into_each_other(tmp_path, saver, restorer):
    (tmp_path / "train.py").write_text(TRAIN)
    state = tmp_path / "state.bin"

    def args(who, mode):
        return {"script": ["train.py", mode, str(state)],
                "module": ["-m", "train", mode, str(state)],
                "import": _imported(mode, state)}[who]

    expected = _python(tmp_path, *args(saver, "save"))
    assert _python(tmp_path, *args(restorer, "restore")) == expected
    entries = pipeline_entries(state.read_bytes())
    assert not any("__main__" in e for e in entries), entries
    assert any("fn=train.decode" in e for e in entries), entries
    assert any("fn=train.pipeline.<locals>.<lambda>#" in e for e in entries), entries
    assert any("fn=train.Scale" in e for e in entries), entries


def test_a_state_naming_main_as_older_versions_did_restores_into_the_script(tmp_path):
    (tmp_path / "train.py").write_text(TRAIN)
    state = tmp_path / "state.bin"
    # The saved entry is "map(fn=__main__.decode)", as older versions wrote it for the script.
    expected = _python(tmp_path, "train.py", "save", str(state), "old")
    assert any("fn=__main__.decode" in e for e in pipeline_entries(state.read_bytes()))
    assert _python(tmp_path, "train.py", "restore", str(state)) == expected
    assert _python(tmp_path, "-m", "train", "restore", str(state)) == expected


def test_main_module_name():
    code = "import inputpipe._fingerprint as f; print(f.main_module_name())"
    assert _python(".", "-c", code).strip() == "None"  # no file: stays "__main__"
    assert _fingerprint.module_name("pkg.mod") == "pkg.mod"


# ---- Lambdas are named by their source -----------------------------------------------------

def _digest_part(fn):
    return _fingerprint.callable_name(fn).rsplit("#", 1)[1]


def test_a_lambdas_name_does_not_depend_on_its_bytecode():
    # Each Python minor version compiles one source to other bytecode. Give a lambda another
    # bytecode (that of x - 1: same names and constants) under its unchanged source: its name
    # stays, as it does under another Python version.
    plain = lambda x: x + 1  # noqa: E731
    other = lambda x: x + 1  # noqa: E731
    other.__code__ = other.__code__.replace(co_code=(lambda x: x - 1).__code__.co_code)
    assert other.__code__.co_code != plain.__code__.co_code
    assert _fingerprint.callable_name(other) == _fingerprint.callable_name(plain)
    # So does one without source (exec / eval): its fallback holds no bytecode either.
    evaluated = eval("lambda x: x + 1")
    rebuilt = eval("lambda x: x + 1")
    rebuilt.__code__ = rebuilt.__code__.replace(
        co_code=eval("lambda x: x - 1").__code__.co_code)
    assert _fingerprint.callable_name(rebuilt) == _fingerprint.callable_name(evaluated)


def test_lambdas_of_one_source_in_other_files_and_lines_are_alike(tmp_path, monkeypatch):
    (tmp_path / "fa.py").write_text("f = lambda x: x * 3 + 1\n")
    (tmp_path / "fb.py").write_text("\n\n\ndef g():\n    pass\n\n\nf = (lambda x:\n"
                                    "     x*3+1)  # spacing, lines and comments do not count\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import fa  # type: ignore[import-not-found]  # written into tmp_path above
    import fb  # type: ignore[import-not-found]
    assert _digest_part(fa.f) == _digest_part(fb.f)
    assert _fingerprint.callable_name(fa.f) == "fa.<lambda>#" + _digest_part(fa.f)


def test_lambdas_differing_in_an_operator_or_value_are_told_apart():
    pair = [lambda x: x + 1, lambda x: x * 2, lambda x: x + 2, lambda y: y + 1]  # one line
    assert len({_fingerprint.callable_name(f) for f in pair}) == 4

    def adder(k):
        return lambda x: x + k

    assert _digest_part(adder(1)) == _digest_part(adder(1))
    assert _digest_part(adder(1)) != _digest_part(adder(2))
    defaults = [lambda x, k=k: x + k for k in (1, 2)]
    assert _digest_part(defaults[0]) != _digest_part(defaults[1])
    # functools.partial keeps its naming.
    assert _fingerprint.callable_name(functools.partial(double, 1)).startswith(
        f"functools.partial({__name__}.double)#")


def test_a_lambda_whose_file_changed_is_never_named_by_the_new_source(tmp_path, monkeypatch):
    (tmp_path / "fc.py").write_text("f = lambda x: x + 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import fc  # type: ignore[import-not-found]  # written into tmp_path above
    (tmp_path / "fc.py").write_text("f = lambda x: x * 2 + 1\n")
    (tmp_path / "fd.py").write_text("f = lambda x: x * 2 + 1\n")
    import fd  # type: ignore[import-not-found]
    assert _digest_part(fc.f) != _digest_part(fd.f)


def test_lambda_names_are_the_same_in_a_fresh_process(tmp_path):
    (tmp_path / "fe.py").write_text(textwrap.dedent("""
        import inputpipe._fingerprint as f
        fns = [lambda x: x + 1, lambda x, k=3: (x, k)]
        print([f.callable_name(fn) for fn in fns])
    """))
    runs = {_python(tmp_path, "fe.py") for _ in range(2)}
    runs.add(_python(tmp_path, "-c", "import fe"))
    assert len(runs) == 1 and "fe.<lambda>#" in runs.pop()


def test_a_process_spawned_by_the_script_names_its_functions_alike(tmp_path):
    # multiprocessing's spawn runs the script again as "__mp_main__" (a data-loading worker).
    (tmp_path / "spawner.py").write_text(textwrap.dedent("""
        import multiprocessing
        import inputpipe._fingerprint as f

        def decode(x):
            return x

        def child(q):
            q.put(f.callable_name(decode))

        if __name__ == "__main__":
            q = multiprocessing.get_context("spawn").Queue()
            p = multiprocessing.get_context("spawn").Process(target=child, args=(q,))
            p.start()
            print(f.callable_name(decode), q.get())
            p.join()
    """))
    assert _python(tmp_path, "spawner.py").split() == ["spawner.decode", "spawner.decode"]
