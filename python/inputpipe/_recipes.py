"""How a Dataset is rebuilt in another process: the recipe a worker process of
map(fn, num_parallel_calls=N, processes=True) follows to make its own copy of map's input, so
that it reads its elements itself instead of having the parent ship them.

    ds = Dataset.range(1000).shuffle(seed=7)     # each records (factory, args, kwargs)
    data = cloudpickle.dumps(ds)                 # a recipe, not the elements
    copy = pickle.loads(data)                    # the same pipeline, built again here

A Dataset made by one of RECORDED's factories, from inputs that have recipes themselves,
pickles as its recipe; any other Dataset refuses to pickle (TypeError), and the map then ships
the elements as before. A recipe references what the factory was given, never a copy of it:
from_tensor_slices records its tensors only when that costs no memory (every array read-only:
the dataset already references them) or they are small; a memory-mapped array (np.load(path,
mmap_mode='r')) pickles as its file, offset, dtype and shape, so each worker maps the file
itself (the page cache is shared; nothing is copied). A map records its function only without
processes=True. from_source records its source object (pickled as cloudpickle pickles it: a
source holding open files or locks does not pickle, and the map then ships its elements),
ParquetDataset and ArrowDataset their files and options (each worker opens the files), and
their fused batch its size (local files only: a memory:// file or a registered store is this
process's). A map records its function's name here (a lambda's digest is of its source, which
a rebuilt lambda lacks). A recipe that pickles to more than MAX_BYTES (a large in-memory
source) is not used: it would be copied to every worker for every iterator.
"""


import functools

# Factories whose result pickles as (factory, args, kwargs): the random-access ones a worker
# may have to rebuild. Each method's own arguments decide whether it records (_records).
RECORDED = ("range", "from_tensor_slices", "from_tensors", "shuffle", "map", "batch", "take",
            "skip", "repeat", "enumerate", "concatenate", "zip")
# from_tensor_slices / from_tensors of writeable arrays are copied by the engine; a recipe
# would keep the caller's arrays alive beside the copy, so it records only this much of them.
SMALL_BYTES = 1 << 20
# The most a recipe may pickle to (readable_upstream in _processes.py): each iterator's stream
# sends it to every worker (its OPEN frame).
MAX_BYTES = 16 << 20


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def _records(name, args, kwargs):
    """Whether a call of factory `name` with these arguments records its recipe."""
    if name == "map":
        return not kwargs.get("processes") and not kwargs.get("stateful")
    if name in ("from_tensor_slices", "from_tensors"):
        import numpy as np
        total = 0
        for leaf in _leaves(args[0] if args else kwargs.get("tensors")):
            if isinstance(leaf, np.ndarray):
                if not leaf.flags.writeable:
                    continue
                total += leaf.nbytes
            else:
                total += 64  # a Python scalar, string or bytes: small unless a long list
        return total <= SMALL_BYTES
    return True


def _named(factory, args, kwargs):
    """kwargs, a map's with name= its function's name here: the rebuilt map then has this
    process's fingerprint. A lambda's name holds a digest of its source, which a function
    cloudpickle rebuilt elsewhere has not (only its code), and the workers restore this
    process's states."""
    if factory != "map" or kwargs.get("name") is not None:
        return kwargs
    fn = args[1] if len(args) > 1 else kwargs.get("map_func")
    if fn is None:
        return kwargs
    from inputpipe import _fingerprint
    return {**kwargs, "name": _fingerprint.callable_name(fn)}


def rebuild(name, args, kwargs):
    """Dataset.<name>(*args, **kwargs), or name(*args, **kwargs) for a factory recorded as
    itself (from_source, ParquetDataset, ArrowDataset, a fused batch: inputpipe.arrow)."""
    if callable(name):
        return name(*args, **kwargs)
    from inputpipe.dataset import Dataset
    return getattr(Dataset, name)(*args, **kwargs)


def _memmap_reduce(array):
    import numpy as np
    # np.load(mmap_mode='r') gives a memmap whose .offset is the data's offset in the file.
    return (_open_memmap, (array.filename, array.dtype.str, array.shape, array.offset,
                           np.isfortran(array)))


def _open_memmap(filename, dtype, shape, offset, fortran):
    import numpy as np
    return np.memmap(filename, dtype=dtype, mode="r", shape=shape, offset=offset,
                     order="F" if fortran else "C")


def reducer_override(obj):
    """For a cloudpickle Pickler: a read-only np.memmap of a whole file mapping as its file.
    A view of one (a slice, a column, a transpose) is a memmap too, with the mapping's offset
    but not its start or strides: its base is the memmap it views, not the mapping, and it
    pickles as its data."""
    import mmap

    import numpy as np
    if (type(obj) is np.memmap and obj.filename is not None and not obj.flags.writeable and
            obj._mmap is not None and isinstance(obj.base, mmap.mmap)):
        return _memmap_reduce(obj)
    return NotImplemented


def dumps(obj):
    """cloudpickle.dumps(obj), memory-mapped arrays as their files."""
    import io

    import cloudpickle

    class Pickler(cloudpickle.Pickler):
        def reducer_override(self, value):
            reduced = reducer_override(value)
            if reduced is not NotImplemented:
                return reduced
            return super().reducer_override(value)

    out = io.BytesIO()
    Pickler(out).dump(obj)
    return out.getvalue()


def install(cls):
    """Makes RECORDED's factories of the Dataset class `cls` record their recipes, and
    Datasets with a recipe pickle as it."""
    for name in RECORDED:
        raw = cls.__dict__[name]
        static = isinstance(raw, staticmethod)
        fn = raw.__func__ if static else raw

        def recording(*args, __fn=fn, __name=name, __static=static, **kwargs):
            ds = __fn(*args, **kwargs)
            if isinstance(ds, cls) and _records(__name, args[0 if __static else 1:], kwargs):
                ds._recipe = (__name, args, _named(__name, args, kwargs))
            return ds

        wrapped = functools.wraps(fn)(recording)
        setattr(cls, name, staticmethod(wrapped) if static else wrapped)

    def __reduce__(self):
        recipe = getattr(self, "_recipe", None)
        if recipe is None:
            raise TypeError(f"this Dataset has no recipe to rebuild it in another process "
                            f"({self._handle.signature()} is not made by one of "
                            f"{', '.join(RECORDED)} with recordable arguments)")
        return (rebuild, recipe)

    cls.__reduce__ = __reduce__
