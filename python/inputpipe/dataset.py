"""inputpipe.Dataset: the tf.data-style API over the C++ engine.

    ds = (inputpipe.Dataset.range(1000)
          .shuffle(seed=7)                        # global shuffle: range is random-access
          .map(lambda x: x * 2, num_parallel_calls=inputpipe.AUTOTUNE)
          .batch(32, drop_remainder=True)
          .prefetch(inputpipe.AUTOTUNE))
    for batch in ds: ...                          # numpy arrays

Elements. An element is a tensor, or a tuple / dict of elements, or (inside window) a
Dataset. Out of an iterator, a tensor is a numpy array (a fresh copy), a scalar a numpy scalar,
a scalar string `bytes`, a string array a numpy object array of bytes. Python values going in
(from_tensor_slices, from_tensors, what map returns) go through numpy.asarray, so dtypes follow
numpy, not TensorFlow: a Python int is int64, a float float64, str and bytes are strings (str
encoded as UTF-8), lists are tensors (not structures). Strings are byte-exact both ways: a
list of bytes / str is converted as an object array, never numpy's fixed-width 'S' / 'U'
dtypes, which drop trailing NULs (a numpy 'S' array passed as such keeps numpy's values, its
trailing NULs being padding); out of an iterator they are bytes and object arrays of bytes, as
tf's .numpy() gives. Supported dtypes: bool, int8, int16,
int32, int64, uint8, uint16, uint32, uint64, float16, bfloat16 (ml_dtypes), float32, float64,
complex64, complex128, string. Tuples and dicts are structures; dict
keys must be str and come out sorted, as tf.nest orders them.

Functions. map / filter / flat_map / interleave functions receive a tuple element unpacked as
positional arguments (tf.data's convention), any other element as one argument. A function is
identified in the pipeline fingerprint by its name= when given ("map(fn=decode)"), else by
"module.qualname" (the main script's functions by the script's module name, so that `python
train.py` and `import train` agree; a lambda also by a digest of its source, so that two
different lambdas are told apart; see inputpipe._fingerprint); it is assumed pure unless passed
with stateful=True, which makes its op external state (see Iterator.save). Functions may run on
the engine's worker threads (num_parallel_calls, prefetch); they take the GIL while they run.
An exception raised by a function reaches the caller of next() with its original type.

Names. Every op takes name= as tf.data's do. On an op with functions (map, filter, flat_map,
interleave, group_by_window, bucket_by_sequence_length, from_generator) it is the functions'
identity in the fingerprint; on the others (batch, shuffle, ...) it is accepted and enters
nothing, so naming an op never invalidates a checkpoint.
"""

from __future__ import annotations

import numbers
import operator
from typing import TYPE_CHECKING, Any, Callable, Sequence, SupportsIndex

from inputpipe import _core, _recipes
from inputpipe._paths import filenames as _filenames
from inputpipe._typing import Function, Path, Structure

if TYPE_CHECKING:
    from inputpipe.options import Options

AUTOTUNE = _core.AUTOTUNE
INFINITE_CARDINALITY = _core.INFINITE_CARDINALITY
UNKNOWN_CARDINALITY = _core.UNKNOWN_CARDINALITY


def _count(value):
    """None -> -1 (forever), as the C++ ops take it."""
    return -1 if value is None else int(value)


def _parallelism(num_parallel_calls):
    """None -> 0 (in the caller's thread); AUTOTUNE (-1) and N > 0 are passed on."""
    return 0 if num_parallel_calls is None else int(num_parallel_calls)


def _deterministic(deterministic):
    return True if deterministic is None else bool(deterministic)


def _function_name(name, op):
    """An op's name= when it has a function: None, or the function's identity (a str)."""
    if name is None:
        return None
    if not isinstance(name, str):
        raise TypeError(f"{op}: name must be a str, got {type(name).__name__}")
    if not name or "\n" in name or "\r" in name:  # a fingerprint is one entry per line
        raise ValueError(f"{op}: name must be a non-empty str on one line, got {name!r}")
    return name


def _is_shape(value):
    """A padded shape: a list, or a tuple of ints / None (the empty tuple is a scalar shape)."""
    if isinstance(value, list):
        return True
    return isinstance(value, tuple) and all(d is None or isinstance(d, int) for d in value)


def _flatten(structure, is_leaf):
    """Leaves of a tuple / dict structure in the engine's order (dicts by sorted key)."""
    if is_leaf(structure):
        return [structure]
    if isinstance(structure, tuple):
        return [leaf for item in structure for leaf in _flatten(item, is_leaf)]
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in _flatten(structure[key], is_leaf)]
    return [structure]


def _padded_shape(shape):
    dims = []
    for d in shape:
        if d is None or int(d) == -1:
            dims.append(-1)
        elif int(d) < 0:
            raise ValueError(f"padded_batch: padded shape {list(shape)} has a negative dimension")
        else:
            dims.append(int(d))
    return dims



def _integer_dtype_name(dtype: Any, what: str) -> str:
    """The engine's dtype name of range's output_type / counter's dtype: None is int64; else any
    spelling numpy accepts (np.dtype(dtype): "int32", "i4", "<i4", np.int32) or a tf.DType, of an
    integer dtype, float32 or float64. Another dtype is a ValueError, a non-dtype a TypeError,
    both naming `what`."""
    if dtype is None:
        return "int64"
    from inputpipe.generator import numpy_dtype  # noqa: PLC0415
    resolved = numpy_dtype(dtype, what)
    if resolved.kind in "iu" or resolved.name in ("float32", "float64"):
        return resolved.name
    shown = "object (strings)" if resolved.kind in "OSU" else resolved.name
    raise ValueError(f"{what} must be an integer dtype, float32 or float64; got {shown} "
                     f"(from {dtype!r})")


def _with_prefix(what: str, make: Callable[[], _core.DatasetHandle]) -> _core.DatasetHandle:
    """make(), its ValueError (an unknown dtype name) prefixed with `what` when it does not
    name the op already (range's "range: step must not be 0" is not about output_type)."""
    try:
        return make()
    except ValueError as e:
        if str(e).startswith(what.split(":", 1)[0] + ":"):
            raise
        raise ValueError(f"{what}: {e}") from None


def _int64_arg(value: Any, what: str, integral_floats: bool = False) -> int:
    """An int64 argument of range / counter. The engine takes int64: a value outside it was
    nanobind's "incompatible function arguments". integral_floats: counter(1.0) stays
    counter(1), but counter(0, 0.5) is refused (its values are int64 converted to dtype, so a
    fractional step was truncated to 0: a constant counter)."""
    if integral_floats and not hasattr(value, "__index__") and isinstance(value, numbers.Real):
        if not float(value).is_integer():
            raise TypeError(f"{what} must be an integer (the values are computed in int64, then "
                            f"converted to the dtype); got {value!r}")
        value = int(value)
    try:
        value = operator.index(value)
    except TypeError:  # operator.index's own message names neither the op nor the argument
        raise TypeError(f"{what} must be an integer; got {type(value).__name__} "
                        f"{value!r:.60}") from None
    if not -2**63 <= value < 2**63:
        raise ValueError(f"{what} must fit in int64; got {value}")
    return value

class Dataset:
    """A sequence of elements, built by the static factories and transformed by the methods.

    Datasets are immutable descriptions: every method returns a new Dataset. `iter(ds)` gives
    an inputpipe.Iterator whose position can be saved and restored exactly.
    """

    __slots__ = ("_handle", "_recipe")  # _recipe: how another process rebuilds it (_recipes.py)

    def __init__(self, handle: _core.DatasetHandle) -> None:
        if not isinstance(handle, _core.DatasetHandle):
            raise TypeError("Dataset is built by its factories (Dataset.range, "
                            "Dataset.from_tensor_slices, ...), not directly")
        self._handle = handle

    @classmethod
    def _from_handle(cls, handle: _core.DatasetHandle) -> Dataset:
        """Wraps a `_core.DatasetHandle` (what every C++ binding returns)."""
        return cls(handle)

    # ---- Sources ------------------------------------------------------------------------

    @staticmethod
    def range(*args: SupportsIndex, output_type: Any = None,
              name: str | None = None) -> Dataset:
        """range(stop), range(start, stop) or range(start, stop, step): int64 scalars, or
        `output_type` ones (tf.data's argument: a tf.DType, a numpy dtype or a dtype name; an
        integer dtype, float32 or float64), computed in int64 and converted."""
        if not 1 <= len(args) <= 3:
            raise TypeError(f"range expects 1 to 3 arguments (start, stop, step), got {len(args)}")
        start, stop, step = 0, None, 1
        if len(args) == 1:
            (stop,) = args
        elif len(args) == 2:
            start, stop = args
        else:
            start, stop, step = args
        # operator.index: integers only (numpy's too); range(2.5) is a TypeError, not range(2).
        start, stop, step = (_int64_arg(a, f"range: {k}")
                             for a, k in zip((start, stop, step), ("start", "stop", "step")))
        what = "range: output_type"
        dtype = _integer_dtype_name(output_type, what)
        return Dataset(_with_prefix(what, lambda: _core.range(start, stop, step, dtype)))

    @staticmethod
    def from_tensor_slices(tensors: Structure, name: str | None = None) -> Dataset:
        """Slices of `tensors` along their first dimension (a structure of arrays; a
        RaggedArray gives its rows).

        A writeable numpy array is copied, so later writes to it do not change the dataset
        (tf.data's semantics). A read-only array is referenced, not copied: a memory-mapped file
        (`np.load(path, mmap_mode='r')`) is read through its mapping, and a large in-memory
        array can be shared by passing a read-only view (`v = x.view();
        v.setflags(write=False)`), taken as the caller's promise not to change `x` while the
        dataset lives (a change would not be detected by the state's fingerprint, which hashes
        the contents when the dataset is built)."""
        return Dataset(_core.from_tensor_slices(tensors))

    @staticmethod
    def from_tensors(tensors: Structure, name: str | None = None) -> Dataset:
        """The single element `tensors`."""
        return Dataset(_core.from_tensors(tensors))

    @staticmethod
    def counter(start: int = 0, step: int = 1, dtype: Any = None,
                name: str | None = None) -> Dataset:
        """start, start + step, ... forever: int64 scalars, or `dtype` ones (as range's
        output_type)."""
        what = "counter: dtype"
        dtype_name = _integer_dtype_name(dtype, what)
        start = _int64_arg(start, "counter: start", integral_floats=True)
        step = _int64_arg(step, "counter: step", integral_floats=True)
        return Dataset(_with_prefix(what, lambda: _core.counter(start, step, dtype_name)))

    @staticmethod
    def from_generator(generator: Callable[..., Any], output_types: Any = None,
                       output_shapes: Any = None, args: Sequence[Any] | None = None,
                       output_signature: Any = None, name: str | None = None) -> Dataset:
        """The values of `generator(*args)` (a callable, as in tf.data); checkpointed through
        the generator's get_state() / set_state() when it has them, else external state.
        output_signature, or tf.data's older output_types / output_shapes pair, convert and
        check the values. See inputpipe.generator."""
        from inputpipe.generator import from_generator
        return from_generator(generator, output_types=output_types, output_shapes=output_shapes,
                              args=args, output_signature=output_signature, name=name)

    @staticmethod
    def list_files(file_pattern: Path | Sequence[Path], shuffle: bool | None = None,
                   seed: int | None = None, name: str | None = None) -> Dataset:
        """The files matching the glob pattern(s) as scalar bytes (tf.data.Dataset.list_files):
        shuffled by default; sorted by name with shuffle=False. A pattern matching nothing is a
        ValueError. The readers (inputpipe.CsvDataset, TFRecordDataset, TextLineDataset) take
        such a dataset of names."""
        patterns = _filenames(file_pattern, "list_files")
        shuffle = True if shuffle is None else bool(shuffle)
        return Dataset(_core.list_files(patterns, shuffle, None if seed is None else int(seed)))

    @staticmethod
    def zip(*args: Any, datasets: Any = None, name: str | None = None) -> Dataset:
        """Elements of several datasets together, up to the shortest.

        zip((a, b)), zip(a, b) and zip(datasets=(a, b)) give tuples; zip({"x": a, "y": b})
        gives dicts; nested tuples / dicts of datasets give nested elements.
        """
        if datasets is not None and args:
            raise TypeError("zip: pass the datasets either positionally or as datasets=, not both")
        if datasets is None:
            if not args:
                raise TypeError("zip: no datasets given")
            datasets = args[0] if len(args) == 1 else tuple(args)
        return Dataset._zip_structure(datasets)

    @staticmethod
    def _zip_structure(structure: Any) -> Dataset:
        if isinstance(structure, Dataset):
            return structure
        if isinstance(structure, dict):
            keys = sorted(structure)
            for key in keys:
                if not isinstance(key, str):
                    raise TypeError(f"zip: dict keys must be str, got {key!r}")
            inputs = [Dataset._zip_structure(structure[key])._handle for key in keys]
            return Dataset(_core.zip(inputs, keys))
        if isinstance(structure, (tuple, list)):
            inputs = [Dataset._zip_structure(item)._handle for item in structure]
            return Dataset(_core.zip(inputs, []))
        raise TypeError(f"zip: expected a Dataset or a tuple / dict of them, "
                        f"got {type(structure).__name__}")

    @staticmethod
    def random(seed: int | None = None, name: str | None = None,
               rerandomize_each_iteration: bool | None = None) -> Dataset:
        """Random int64 scalars forever; seed=None picks one (saved with the state).
        rerandomize_each_iteration=True: each iteration (each epoch under repeat) draws
        another stream, as tf.data's; by default every iteration draws the same."""
        return Dataset(_core.random(None if seed is None else int(seed),
                                    bool(rerandomize_each_iteration)))

    @staticmethod
    def sample_from_datasets(datasets: Sequence[Dataset],
                             weights: Sequence[float] | Dataset | None = None,
                             seed: int | None = None, stop_on_empty_dataset: bool = False,
                             rerandomize_each_iteration: bool | None = None,
                             name: str | None = None) -> Dataset:
        """Elements of `datasets`, each drawn from input i with probability weights[i].
        weights may be a Dataset of weight vectors (float32 / float64, one weight per dataset):
        draw k then uses its element k, and the stream ends with it, as tf.data's.
        rerandomize_each_iteration=True: other draws each iteration (epoch under repeat)."""
        handles = [d._handle for d in datasets]
        seed_value = None if seed is None else int(seed)
        if isinstance(weights, Dataset):
            return Dataset(_core.sample_from_datasets_by_weights(
                handles, weights._handle, seed_value, bool(stop_on_empty_dataset),
                bool(rerandomize_each_iteration)))
        weights = [] if weights is None else [float(w) for w in weights]
        return Dataset(_core.sample_from_datasets(
            handles, weights, seed_value, bool(stop_on_empty_dataset),
            bool(rerandomize_each_iteration)))

    @staticmethod
    def choose_from_datasets(datasets: Sequence[Dataset], choice_dataset: Dataset,
                             stop_on_empty_dataset: bool = True,
                             name: str | None = None) -> Dataset:
        """Each element comes from datasets[c], c being the next element of `choice_dataset`
        (int64 scalars in [0, len(datasets))). The stream ends when the choices end. When the
        chosen dataset has ended: stop_on_empty_dataset=True (the default, as tf.data's) ends
        the stream; False skips that choice, and the stream ends once every dataset has ended."""
        return Dataset(_core.choose_from_datasets(
            [d._handle for d in datasets], choice_dataset._handle, bool(stop_on_empty_dataset)))

    # ---- Transformations ----------------------------------------------------------------

    def map(self, map_func: Function, num_parallel_calls: int | None = None,
            deterministic: bool | None = None, stateful: bool = False, seed: int | None = None,
            name: str | None = None, processes: bool = False,
            timeout: float | None = None) -> Dataset:
        """map_func applied to every element.

        num_parallel_calls: None = in the caller's thread; N or AUTOTUNE = worker threads.
        processes=True runs map_func in worker processes instead, N of them (AUTOTUNE: one per
        CPU of the affinity mask; None: one, as num_parallel_calls=1), so that Python
        functions run truly in parallel. The output, the state and the fingerprint are those of
        map(map_func) with threads or none: a state saved with any number of processes
        restores with any other, with threads or sequentially, and back. map_func is shipped
        with cloudpickle (lambdas, closures, partials, bound methods and __main__ functions
        work); large numpy arrays travel through shared memory. With deterministic=False
        results come as they finish, and a restore delivers every element exactly once across
        the save, in an order that depends on timing. A worker that dies raises
        inputpipe.WorkerProcessError (its index, pid, signal and the element's position); the
        iterator is then unusable and its last checkpoint restores. timeout=T (seconds, with
        processes=True): a call that runs longer than T raises inputpipe.WorkerTimeoutError (a
        WorkerProcessError and a TimeoutError) naming the op, the worker's pid and the element's
        position; that worker is killed and the iterator is unusable, as after a death: restore
        its last checkpoint into a new iterator. See docs/processes.md.
        deterministic=False lets elements come in completion order. stateful=True declares
        that map_func has state of its own, which a save cannot capture (external state).
        name="decode" is map_func's identity in the state's fingerprint ("map(fn=decode)"), in
        place of its module.qualname or a lambda's source digest: a state restores into a map
        of any function of that name, so that a function may be renamed, moved or edited; a
        state saved under another name is a PipelineMismatchError (allow_changes=True restores
        past it). Every op takes name= as tf.data's do; only an op's function is named by it.

        seed=S (an int) is for random augmentation: map_func(element, rng) gets, as its last
        argument, a numpy.random.Generator that is a pure function of (S, the element's
        position in map's input since the iterator began), so the draws are the same on
        replay, with any num_parallel_calls and after a restore, in this process or another.
        Place the map after repeat() for new draws every epoch (its positions count on across
        repetitions); a map before repeat() draws the same numbers each epoch. The seed is part
        of the pipeline's identity. The exact rule is in docs/random_augmentation.md.

        A map_func that draws from global random state (np.random.rand, random.random, a
        Generator created outside it) is external state: a save cannot capture that state, so
        a restored run draws other numbers than the uninterrupted one, silently. Use seed= and
        the rng argument instead.
        """
        if processes:
            map_func, num_parallel_calls, name = _in_processes(map_func, num_parallel_calls,
                                                               name, "map", self, seed, timeout)
        elif timeout is not None:
            raise ValueError("map: timeout= goes with processes=True (a call in this process "
                             "cannot be stopped)")
        return Dataset(_core.map(self._handle, map_func, bool(stateful),
                                 _parallelism(num_parallel_calls),
                                 None if deterministic is None else bool(deterministic),
                                 None if seed is None else int(seed),
                                 name=_function_name(name, "map")))

    def filter(self, predicate: Function, stateful: bool = False, name: str | None = None,
               num_parallel_calls: int | None = None, deterministic: bool | None = None,
               processes: bool = False, timeout: float | None = None) -> Dataset:
        """The elements for which predicate returns True (a bool or a numpy bool scalar).

        processes=True runs predicate in num_parallel_calls worker processes (as map's
        processes=True; num_parallel_calls needs processes=True). It runs as a map of the
        predicate in the processes, then a filter on its result in this process, so its state
        is that op chain's: it restores with any number of processes (the count is not part of
        the identity), but not into filter(predicate) without processes, nor the other way.
        timeout=T: as map's (processes=True only).
        """
        if processes:
            return _filter_in_processes(self, predicate, stateful, name, num_parallel_calls,
                                        deterministic, timeout)
        if num_parallel_calls is not None or deterministic is not None or timeout is not None:
            raise ValueError("filter: num_parallel_calls, deterministic and timeout go with "
                             "processes=True (a Python predicate gains nothing from threads)")
        return Dataset(_core.filter(self._handle, predicate, bool(stateful),
                                    name=_function_name(name, "filter")))

    def flat_map(self, map_func: Callable[..., Dataset], stateful: bool = False,
                 name: str | None = None, processes: bool = False) -> Dataset:
        """The elements of the datasets map_func returns, one dataset after the other.

        processes=True is refused (ValueError): map_func returns a Dataset, an engine object
        that lives in one process. Compute in processes with map(..., processes=True) returning
        a batch of elements, then .unbatch() (or flat_map over that map's output)."""
        if processes:
            raise ValueError("flat_map: processes=True is not supported: the function returns "
                             "a Dataset, which cannot leave its process; use "
                             "map(fn, num_parallel_calls=N, processes=True) returning a batch "
                             "of elements, then .unbatch()")
        return Dataset(_core.flat_map(self._handle, map_func, bool(stateful),
                                      name=_function_name(name, "flat_map")))

    def interleave(self, map_func: Callable[..., Dataset], cycle_length: int | None = None,
                   block_length: int | None = None, num_parallel_calls: int | None = None,
                   deterministic: bool | None = None, stateful: bool = False,
                   name: str | None = None) -> Dataset:
        """The datasets map_func returns, cycle_length at a time, block_length elements each,
        in tf.data's order.

        num_parallel_calls: None = in the caller's thread; N or AUTOTUNE = worker threads that
        read the open datasets ahead (the same order, state and identity as without them).
        deterministic=False (with num_parallel_calls; None: the pipeline's
        Options.deterministic, else True) lets an element of another open dataset come first
        when the current one has none ready. Each dataset's own elements still come in order,
        so a restore delivers every element exactly once across the save (none lost, none
        repeated), but the order after it depends on timing, as before it. deterministic=False
        is part of the pipeline's identity. Without num_parallel_calls, deterministic has no
        effect (as tf.data)."""
        return Dataset(_core.interleave(
            self._handle, map_func, AUTOTUNE if cycle_length is None else int(cycle_length),
            1 if block_length is None else int(block_length), _parallelism(num_parallel_calls),
            None if deterministic is None else bool(deterministic), bool(stateful),
            name=_function_name(name, "interleave")))

    def batch(self, batch_size: int, drop_remainder: bool = False,
              num_parallel_calls: int | None = None, deterministic: bool | None = None,
              name: str | None = None) -> Dataset:
        """batch_size consecutive elements stacked (the last batch smaller unless dropped).

        num_parallel_calls and deterministic are accepted for tf.data's signature and change
        nothing: a batch is stacked in the caller's thread, in order (stacking is a copy, which
        threads would not speed up here; parallelise the map before it instead). Neither is part
        of the pipeline's identity."""
        if num_parallel_calls is not None:
            n = operator.index(num_parallel_calls)
            if n != AUTOTUNE and n <= 0:
                raise ValueError(f"batch: num_parallel_calls must be positive or AUTOTUNE, "
                                 f"got {n}")
        return Dataset(_core.batch(self._handle, int(batch_size), bool(drop_remainder)))

    # ---- ragged batches ----
    def ragged_batch(self, batch_size: int, drop_remainder: bool = False,
                     row_splits_dtype: Any = "int64", name: str | None = None) -> Dataset:
        """batch for elements whose tensors differ in their first dimension
        (tf.data's ragged_batch): each tensor of rank >= 1 becomes an inputpipe.RaggedArray
        (values concatenated, row_splits), scalars are stacked, and a RaggedArray component
        gains a ragged dimension (each element's one row: ragged_rank + 1). The dimensions
        after the ragged ones must agree within a batch. Saves and restores as batch does.
        row_splits_dtype: int64 (tf.data's default) or int32, for every ragged dimension made
        (a RaggedArray component must have the same)."""
        import numpy as np
        splits = np.dtype(getattr(row_splits_dtype, "as_numpy_dtype", row_splits_dtype))
        if splits not in (np.int64, np.int32):
            raise ValueError(f"ragged_batch: row_splits_dtype must be int64 or int32, got {splits}")
        return Dataset(_core.ragged_batch(self._handle, int(batch_size), bool(drop_remainder),
                                          splits.name))

    def padded_batch(self, batch_size: int, padded_shapes: Any = None, padding_values: Any = None,
                     drop_remainder: bool = False, name: str | None = None) -> Dataset:
        """batch, padding each tensor to padded_shapes (None / -1 = the batch's longest).

        padded_shapes and padding_values follow the element's structure; a shape is a list
        or a tuple of ints / None. A padding value must have its tensor's dtype (numpy rules:
        a Python int is int64, so pad an int32 tensor with np.int32(-1)). Defaults: every
        dimension to the batch's longest, padded with 0 / b"" / False.
        """
        shapes = []
        if padded_shapes is not None:
            shapes = [_padded_shape(s) for s in _flatten(padded_shapes, _is_shape)]
        values = []
        if padding_values is not None:
            values = _flatten(padding_values, lambda v: not isinstance(v, (tuple, dict)))
        return Dataset(_core.padded_batch(self._handle, int(batch_size), shapes, values,
                                          bool(drop_remainder)))

    def unbatch(self, name: str | None = None) -> Dataset:
        """The slices of each element along its first dimension."""
        return Dataset(_core.unbatch(self._handle))

    def repeat(self, count: int | None = None, name: str | None = None) -> Dataset:
        """The dataset count times (None or -1: forever)."""
        return Dataset(_core.repeat(self._handle, _count(count)))

    def take(self, count: int, name: str | None = None) -> Dataset:
        """The first count elements (-1: all)."""
        return Dataset(_core.take(self._handle, int(count)))

    def skip(self, count: int, name: str | None = None) -> Dataset:
        """All but the first count elements (-1: skip all; refused on an infinite dataset).
        Over a random-access source (range, from_tensor_slices, from_source), and through
        take, skip, a global shuffle, enumerate, zip and a map not declared stateful of them, the
        skipped elements are not read: a seek (a map's function is not called for them, nor
        are their read errors raised); through other ops they are read."""
        return Dataset(_core.skip(self._handle, int(count)))

    def shard(self, num_shards: int | None, index: int | None, name: str | None = None,
              elastic: bool = False) -> Dataset:
        """Every num_shards-th element, starting at index.

        elastic=True (docs/distributed.md, sharded-input mode): rank `index` of `num_shards`
        takes its part of the input, and a checkpoint of every rank (the hook's) continues on
        another number of ranks, each element consumed before it never again and every other
        once. num_shards / index None: from inputpipe.distributed.rank_and_world(). Not part
        of the fingerprint; not random-access (put a global shuffle before it)."""
        if elastic:
            from inputpipe import distributed  # noqa: PLC0415
            index, num_shards = distributed.resolve(index, num_shards, "shard(elastic=True)")
            return Dataset(_core.elastic_shard(self._handle, num_shards, index))
        return Dataset(_core.shard(self._handle, int(num_shards), int(index)))

    def distribute(self, num_ranks: int | None = None, rank: int | None = None,
                   name: str | None = None) -> Dataset:
        """Global-batch mode (docs/distributed.md): this dataset yields global batches
        (batch(B)); rank r of num_ranks gets rows [r*B/W, (r+1)*B/W) of each. The state is the
        global position, the same on every rank, so a checkpoint continues on any rank count
        that divides B. After batch() of a random-access dataset each rank computes only its
        own rows. num_ranks / rank None: from inputpipe.distributed.rank_and_world()."""
        from inputpipe import distributed  # noqa: PLC0415
        rank, num_ranks = distributed.resolve(rank, num_ranks, "distribute")
        return Dataset(_core.distribute(self._handle, num_ranks, rank))

    def enumerate(self, start=0, name=None):
        """(index, element) tuples, index counting from start."""
        return Dataset(_core.enumerate(self._handle, int(start)))

    def concatenate(self, dataset: Dataset, name: str | None = None) -> Dataset:
        """This dataset's elements, then dataset's (same structure and dtypes)."""
        return Dataset(_core.concatenate(self._handle, dataset._handle))

    def window(self, size: int, shift: int | None = None, stride: int = 1,
               drop_remainder: bool = False, name: str | None = None) -> Dataset:
        """Windows of `size` elements as nested Datasets (a structure of them for structured
        elements), each starting `shift` (default size) after the previous one and taking
        every stride-th element."""
        # The engine reads shift 0 as "not given"; an explicit 0 is an error, as in tf.data.
        if shift is not None and int(shift) <= 0:
            raise ValueError(f"window: shift must be positive, got {int(shift)}")
        return Dataset(_core.window(self._handle, int(size), 0 if shift is None else int(shift),
                                    int(stride), bool(drop_remainder)))

    def shuffle(self, buffer_size: int | None = None, seed: int | None = None,
                reshuffle_each_iteration: bool = True, name: str | None = None) -> Dataset:
        """Elements in random order.

        Without buffer_size: a global shuffle of a random-access dataset (a permutation of the
        indices per epoch, nothing buffered; a ValueError naming the op that is not
        random-access otherwise). With buffer_size: tf.data's buffered shuffle. seed=None picks
        a seed, which is saved with the state.
        """
        seed = None if seed is None else int(seed)
        if buffer_size is None:
            return Dataset(_core.global_shuffle(self._handle, seed,
                                                bool(reshuffle_each_iteration)))
        return Dataset(_core.shuffle(self._handle, int(buffer_size), seed,
                                     bool(reshuffle_each_iteration)))

    def prefetch(self, buffer_size: int = AUTOTUNE, name: str | None = None) -> Dataset:
        """Produces up to buffer_size elements ahead in a background thread (0: none, in the
        caller's thread). AUTOTUNE (the default): 16 elements ahead, doubling up to 256 when a
        full buffer still ran dry before the consumer's next step, and never more than 64 MiB
        of element data (docs/guide/performance.md). The size changes neither the output nor
        the state."""
        return Dataset(_core.prefetch(self._handle, int(buffer_size)))

    def group_by_window(self, key_func: Function, reduce_func: Callable[[Any, Dataset], Dataset],
                        window_size: int | None = None,
                        window_size_func: Callable[[Any], int] | None = None,
                        stateful: bool = False, name: str | None = None) -> Dataset:
        """Groups elements by key_func (an integer scalar key) into windows of window_size
        elements, or of window_size_func(key) elements for that key (called once per key, as
        tf.data; a size <= 0 is an error), and replaces each full window by the elements of
        reduce_func(key, window_dataset), a Dataset. At the end of the input the partial
        windows are reduced in increasing key order. Give exactly one of window_size and
        window_size_func."""
        if (window_size is None) == (window_size_func is None):
            raise ValueError("group_by_window: give exactly one of window_size and "
                             "window_size_func")
        return Dataset(_core.group_by_window(
            self._handle, key_func, reduce_func,
            None if window_size is None else int(window_size), window_size_func, bool(stateful),
            name=_function_name(name, "group_by_window")))

    def bucket_by_sequence_length(self, element_length_func: Function,
                                  bucket_boundaries: Sequence[int],
                                  bucket_batch_sizes: Sequence[int], padded_shapes: Any = None,
                                  padding_values: Any = None,
                                  pad_to_bucket_boundary: bool = False, no_padding: bool = False,
                                  drop_remainder: bool = False,
                                  name: str | None = None) -> Dataset:
        """Batches elements of similar length together, as tf.data's, from group_by_window and
        padded_batch.

        Bucket i holds lengths in [bucket_boundaries[i-1], bucket_boundaries[i]) and is batched
        by bucket_batch_sizes[i] (len(bucket_boundaries) + 1 sizes): group_by_window with a
        window of bucket_batch_sizes[i] elements per bucket, as tf.data builds it, so the
        batches and their order are tf.data's.

        pad_to_bucket_boundary=True pads bucket i's batches to bucket_boundaries[i] - 1 in the
        None dimensions of padded_shapes. Without padded_shapes, tf.data pads the dimensions
        its static element shapes leave unknown; elements have no static shapes here, so the
        first dimension of every non-scalar component (its sequence dimension) is padded to the
        boundary and the others to the batch's longest. Pass padded_shapes for other layouts.
        """
        boundaries = [int(b) for b in bucket_boundaries]
        sizes = [int(s) for s in bucket_batch_sizes]
        if len(sizes) != len(boundaries) + 1:
            raise ValueError(
                f"bucket_by_sequence_length: len(bucket_batch_sizes) must be "
                f"len(bucket_boundaries) + 1 = {len(boundaries) + 1}, got {len(sizes)}")
        if boundaries != sorted(boundaries):
            raise ValueError(f"bucket_by_sequence_length: bucket_boundaries must be sorted, "
                             f"got {boundaries}")
        if any(s <= 0 for s in sizes):
            raise ValueError(f"bucket_by_sequence_length: bucket_batch_sizes must be > 0, "
                             f"got {sizes}")
        length_name = _function_name(name, "bucket_by_sequence_length") or getattr(
            element_length_func, "__qualname__", type(element_length_func).__qualname__)

        def bucket_id(*args):
            length = int(element_length_func(*args))
            for i, boundary in enumerate(boundaries):
                if length < boundary:
                    return i
            return len(boundaries)

        # The fingerprint names the user's function and the bucketing parameters.
        bucket_id.__module__ = getattr(element_length_func, "__module__", None) or __name__
        bucket_id.__qualname__ = (f"bucket_by_sequence_length[{length_name}, "
                                  f"boundaries={boundaries}, sizes={sizes}]")

        def batch_bucket(key, window):
            key = int(key)
            if no_padding:
                return window.batch(sizes[key], drop_remainder=drop_remainder)
            shapes = padded_shapes
            if pad_to_bucket_boundary:
                if key >= len(boundaries):
                    raise ValueError("bucket_by_sequence_length: with pad_to_bucket_boundary="
                                     "True, elements must have length < max(bucket_boundaries)")
                fill = boundaries[key] - 1
                if shapes is None:
                    # tf.data pads the dimensions its static shapes leave unknown; without
                    # static shapes, the first (sequence) dimension of each component.
                    shapes = _sequence_shapes(next(iter(window)), fill)
                else:
                    shapes = _replace_none(shapes, fill)
            return window.padded_batch(sizes[key], shapes, padding_values,
                                       drop_remainder=drop_remainder)

        batch_bucket.__module__ = bucket_id.__module__
        batch_bucket.__qualname__ = (f"bucket_by_sequence_length.batch[padded_shapes="
                                     f"{padded_shapes!r}, padding_values={padding_values!r}, "
                                     f"pad_to_bucket_boundary={pad_to_bucket_boundary}, "
                                     f"no_padding={no_padding}, "
                                     f"drop_remainder={drop_remainder}]")

        def bucket_batch_size(key):
            return sizes[int(key)]

        bucket_batch_size.__module__ = bucket_id.__module__
        bucket_batch_size.__qualname__ = f"bucket_by_sequence_length.size[sizes={sizes}]"
        return self.group_by_window(bucket_id, batch_bucket, window_size_func=bucket_batch_size)

    def unique(self, name: str | None = None) -> Dataset:
        """Each distinct element once, in order of first appearance.

        Elements must be one tensor (any shape) of an integer, bool or string dtype, as
        tf.data's unique takes int32, int64 or string: a float tensor (no exact equality: 0.0
        and -0.0, NaN) or a tuple / dict element is a ValueError."""
        return Dataset(_core.unique(self._handle))

    def ignore_errors(self, log_warning: bool = False, name: str | None = None) -> Dataset:
        """Skips elements whose production raised a data error (malformed record, missing file)
        and counts them: inputpipe.ignored_error_count(iterator)."""
        return Dataset(_core.ignore_errors(self._handle, bool(log_warning)))

    # ---- More of tf.data's API: element_spec, take_while, scan, rebatch, cache, reduce,
    # get_single_element (docs/api_ops.md) -------------------------------------------------

    @property
    def element_spec(self) -> Any:
        """The structure, dtypes and shapes of the elements: inputpipe.TensorSpec(shape, dtype)
        leaves (shape None-dimensioned where elements differ, dtype a numpy dtype, object for
        strings), inputpipe.RaggedTensorSpec for ragged components (ragged_batch's),
        inputpipe.DatasetSpec for nested datasets, in tuples and dicts.

        Elements carry no static types here: the spec follows each op's rule where it has one
        (sources, take / filter / shuffle / ... pass their input's through, batch gives its
        first dimension as None unless drop_remainder, ragged_batch its rows and ragged
        dimension, unbatch, enumerate, zip, concatenate),
        and is otherwise that of the first element (map, flat_map, from_generator, readers):
        element 0 for a random-access dataset, else the first element of a fresh iterator, which
        runs the pipeline that far (a cost, and a call of the functions and generators on the
        way). Such a spec has the first element's exact shapes. A dataset with no element and
        no rule (a map of an empty dataset) is a ValueError."""
        from inputpipe._spec import from_engine
        return from_engine(_core.element_spec(self._handle))

    def take_while(self, predicate: Function, stateful: bool = False,
                   name: str | None = None) -> Dataset:
        """The elements up to (excluding) the first one for which predicate is False; the
        input is not read past it. The state is the input's, then an "exhausted" flag."""
        return Dataset(_core.take_while(self._handle, predicate, bool(stateful),
                                        name=_function_name(name, "take_while")))

    def scan(self, initial_state: Any, scan_func: Callable[..., Any], stateful: bool = False,
             name: str | None = None) -> Dataset:
        """scan_func(state, element) -> (new_state, output_element) over the elements, the
        state starting at initial_state (tf.data's scan; state and element are passed as two
        arguments, each a whole structure). Every new state must keep initial_state's structure
        and dtypes (a Python int is int64: use np.int32(0) for an int32 state); shapes may
        change.

        Checkpoints: the saved state holds the scan state itself, the one op whose state
        holds values rather than positions (the state depends on every element before it).
        A saved state is as large as the scan state: keep it to counters and small
        accumulators, not to buffers of elements. initial_state (by a digest of its value) and
        scan_func (by name, as map's) are part of the pipeline's identity."""
        return Dataset(_core.scan(self._handle, initial_state, scan_func, bool(stateful),
                                  name=_function_name(name, "scan")))

    def rebatch(self, batch_size: int | Sequence[int], drop_remainder: bool = False,
                name: str | None = None) -> Dataset:
        """The input's batches re-cut into batches of batch_size rows, across input batch
        boundaries: what unbatch().batch(batch_size, drop_remainder) gives, without slicing
        single rows. batch_size may be a list of sizes, cycled (tf.data's vector form:
        range(7).batch(4).rebatch([2, 1, 1]) gives [0, 1], [2], [3], [4, 5], [6]). Every
        component must have a first dimension; a RaggedArray's is its rows, so
        ds.ragged_batch(n).rebatch(m) is ds.ragged_batch(m)."""
        if isinstance(batch_size, (list, tuple)) or getattr(batch_size, "ndim", 0) == 1:
            sizes = [operator.index(s) for s in batch_size]
        else:
            sizes = [operator.index(batch_size)]
        return Dataset(_core.rebatch(self._handle, sizes, bool(drop_remainder)))

    def cache(self, filename: Path = "", name: str | None = None) -> Dataset:
        """The elements, kept after the first complete pass and read back by later passes
        (later iterators, the epochs of a repeat() after it) instead of the input: in memory
        when filename is "" (the default), else in the file `filename` (any registered file
        system: "memory://...", a Python one), which later runs of the same pipeline reuse.

        The file is written under a temporary name ("<filename>.tmp-<id>") and renamed at the
        end of the pass, so a pass that is interrupted never leaves a file that reads as
        complete (an iterator dropped mid-way deletes its temporary file). Several iterators
        before a cache is complete each read the input; the first to end its pass commits.
        A cache file written by another pipeline is a RuntimeError (delete it).

        Checkpoints hold the position in the pass, and the input's state while the pass
        reads the input: a restore mid-way through the first pass goes on reading the input
        (that pass then caches nothing: it lacks the elements before the restore, so the next
        pass writes the cache); a restore in a later pass reads the cache at the position, or,
        where the cache is gone (a memory cache, in a new process), reads the input again up to
        it. Exact as long as the input is deterministic, which caching assumes (as tf.data)."""
        import os
        return Dataset(_core.cache(self._handle, os.fspath(filename)))

    def reduce(self, initial_state: Any, reduce_func: Callable[..., Any],
               name: str | None = None) -> Any:
        """reduce_func(state, element) -> new_state over every element, from initial_state;
        returns the last state (initial_state for an empty dataset). Runs a fresh iterator to
        the end; an infinite dataset is a ValueError. Every state must keep initial_state's
        structure and dtypes."""
        return _core.reduce(self._handle, initial_state, reduce_func)

    def get_single_element(self, name: str | None = None) -> Any:
        """The dataset's only element; a ValueError when it has none or more than one."""
        return _core.get_single_element(self._handle)

    def apply(self, transformation_func):
        """transformation_func(self), which must return a Dataset."""
        result = transformation_func(self)
        if not isinstance(result, Dataset):
            raise TypeError(f"apply: the transformation must return a Dataset, "
                            f"got {type(result).__name__}")
        return result

    # ---- Properties and iteration -------------------------------------------------------

    def cardinality(self) -> int:
        """The number of elements, INFINITE_CARDINALITY or UNKNOWN_CARDINALITY."""
        return self._handle.cardinality()

    def is_random_access(self) -> bool:
        """True when every element can be produced directly by index (O(1) restore, global
        shuffle)."""
        return self._handle.is_random_access()

    def __len__(self) -> int:
        n = self.cardinality()
        if n == INFINITE_CARDINALITY:
            raise TypeError("The dataset is infinite.")
        if n == UNKNOWN_CARDINALITY:
            raise TypeError("The dataset length is unknown.")
        return n

    def __bool__(self) -> bool:
        return True  # not len(): an infinite dataset is still a dataset

    def __iter__(self) -> _core.Iterator:
        """A fresh inputpipe.Iterator at the first element."""
        return self._handle.make_iterator()

    def as_numpy_iterator(self) -> _core.Iterator:
        """An iterator of numpy elements (what __iter__ gives: elements are always numpy)."""
        return self._handle.make_iterator()

    # ---- Options (tf.data's with_options / options) -------------------------------------

    def with_options(self, options: Options, name: str | None = None) -> Dataset:
        """This dataset with `options` (an inputpipe.Options) in force for it and every op
        below it; merged with options set further down, these winning per option. Only
        deterministic=False is part of the pipeline's identity: docs/guide/options.md."""
        from inputpipe.options import Options as _Options
        if not isinstance(options, _Options):
            raise TypeError(f"with_options: expected an inputpipe.Options, got "
                            f"{type(options).__name__}")
        return Dataset(_core.with_options(self._handle, **options._engine_kwargs()))

    def options(self) -> Options:
        """The options in force at the top of this dataset (every with_options below merged,
        the outer winning); a fresh Options with nothing set when there are none."""
        from inputpipe.options import Options as _Options
        return _Options._from_engine(_core.pipeline_options(self._handle))

    def __repr__(self) -> str:
        """The whole pipeline, one op per line from the last to the sources, nested ops
        indented: what a saved state is checked against (one line for a single op)."""
        lines = self._handle.pipeline()
        if len(lines) == 1:
            return f"<inputpipe.Dataset {lines[0]}>"
        return "<inputpipe.Dataset\n" + "\n".join("  " + line for line in lines) + ">"


def _in_processes(fn, num_parallel_calls, name, op, upstream=None, seed=None, timeout=None):
    """(the process-running stand-in for fn, the engine's num_parallel_calls, fn's name): the
    name is fn's own identity (name= or module.qualname / lambda digest), never the proxy's,
    so the fingerprint is that of the op without processes. `upstream`: map's input, which the
    workers rebuild and read themselves when it is random-access (_processes.py)."""
    from inputpipe import _fingerprint, _processes
    if not callable(fn):
        raise TypeError(f"{op}: expected a callable, got {type(fn).__name__}")
    count = _processes.worker_count(num_parallel_calls)
    timeout = _processes.checked_timeout(timeout, op)
    name = _function_name(name, op) or _fingerprint.callable_name(fn)
    readable = _processes.readable_upstream(upstream, count)
    if op == "filter" and readable is not None:
        # The workers read the element (upstream is zip((ds,))) and send it back with the
        # predicate's result: the parent never computes it.
        proxy = _processes.ProcessFunction(
            _processes.KeepAndElement(_processes.call_unpacked(fn)), count,
            f"filter(predicate={name})", upstream=readable, timeout=timeout)
    elif op == "filter":
        proxy = _processes.ProcessFunction(_processes.call_unpacked(fn), count,
                                           f"filter(predicate={name})", mode="filter",
                                           timeout=timeout)
    else:
        proxy = _processes.ProcessFunction(fn, count, f"{op}(fn={name})", upstream=readable,
                                           seed=seed, timeout=timeout)
    # Always on the engine's threads, one per process, never on the caller's: a Ctrl-C then
    # interrupts a wait of the engine's, which loses nothing, rather than the call itself,
    # which would lose its element.
    return proxy, count, name


def _filter_keep(keep, element):
    return keep


def _filter_element(keep, element):
    return element


def _filter_in_processes(ds, predicate, stateful, name, num_parallel_calls, deterministic,
                         timeout=None):
    """filter(predicate, processes=True): zip((ds,)) hands each element whole to a map that
    returns (predicate's result, element), the predicate running in the processes (which read
    the elements themselves when zip((ds,)) has a recipe); a filter and a map in this process
    keep the elements and drop the flag."""
    zipped = Dataset.zip((ds,))
    proxy, parallel, name = _in_processes(predicate, num_parallel_calls, name, "filter",
                                          upstream=zipped, timeout=timeout)
    marked = Dataset(_core.map(zipped._handle, proxy, bool(stateful),
                               _parallelism(parallel), _deterministic(deterministic), None,
                               name=f"filter_in_processes({name})"))
    kept = Dataset(_core.filter(marked._handle, _filter_keep, False,
                                name="filter_in_processes.keep"))
    return Dataset(_core.map(kept._handle, _filter_element, False, 0, True, None,
                             name="filter_in_processes.element"))


def _sequence_shapes(element, fill):
    """The padded_shapes of bucket_by_sequence_length's boundary padding without padded_shapes:
    for each component of `element`, `fill` for its first dimension, None (the batch's longest)
    for the others; [] for a scalar."""
    if isinstance(element, tuple):
        return tuple(_sequence_shapes(e, fill) for e in element)
    if isinstance(element, dict):
        return {k: _sequence_shapes(v, fill) for k, v in element.items()}
    ndim = getattr(element, "ndim", 0)
    return [fill] + [None] * (ndim - 1) if ndim > 0 else []


def _replace_none(shapes, fill):
    if _is_shape(shapes):
        return [fill if d is None or d == -1 else d for d in shapes]
    if isinstance(shapes, tuple):
        return tuple(_replace_none(s, fill) for s in shapes)
    if isinstance(shapes, dict):
        return {k: _replace_none(v, fill) for k, v in shapes.items()}
    return shapes


# Recipes: the random-access factories record how a worker process rebuilds their dataset.
_recipes.install(Dataset)
