"""The wider dtypes (uint16/32/64, complex64/128, bfloat16) through every op that touches values,
and framework outputs: DLPack, inputpipe.torch.as_torch (zero-copy, pin_memory) and
prefetch_to_device (its state is the position of the batch handed out)."""

import numpy as np
import pytest

import inputpipe
from inputpipe.testing import assert_exact_resume, assert_same_element

try:
    import ml_dtypes
except ImportError:  # pragma: no cover
    ml_dtypes = None  # type: ignore[assignment]

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

needs_ml_dtypes = pytest.mark.skipif(ml_dtypes is None, reason="ml_dtypes is not installed")
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

U64_MAX = np.iinfo(np.uint64).max


def _values():
    """name -> a [6, 2] array of that dtype with values at the edges of its range."""
    values = {
        "uint16": np.array([[0, 65535], [1, 2], [3, 4], [5, 6], [7, 8], [9, 10]], np.uint16),
        "uint32": np.array([[0, 2**32 - 1], [1, 2], [3, 4], [5, 6], [7, 8], [9, 10]], np.uint32),
        # Above int64's and float64's exact range: a detour through either would change them.
        "uint64": np.array([[U64_MAX, U64_MAX - 1], [2**63, 1], [3, 4], [5, 6], [7, 8], [9, 10]],
                           np.uint64),
        "complex64": (np.arange(12, dtype=np.float32).reshape(6, 2)
                      + 1j * np.linspace(-3, 3, 12, dtype=np.float32).reshape(6, 2)
                      ).astype(np.complex64),
        "complex128": (np.arange(12).reshape(6, 2) * (1e300 + 1j * -1e-300)).astype(np.complex128),
    }
    if ml_dtypes is not None:
        values["bfloat16"] = np.array([[1.5, -2], [0.0078125, 3e38], [-0.0, 7], [1, 2], [3, 4],
                                       [5, 6]], dtype=ml_dtypes.bfloat16)
    return values


DTYPES = ["uint16", "uint32", "uint64", "complex64", "complex128",
          pytest.param("bfloat16", marks=needs_ml_dtypes)]


def _same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("name", DTYPES)
def test_round_trip_through_ops_keeps_dtype_and_bits(name):
    v = _values()[name]
    ds = inputpipe.Dataset.from_tensor_slices(v)
    rows = list(ds)
    assert len(rows) == 6
    for i, row in enumerate(rows):
        _same_bits(row, v[i])
    _same_bits(next(iter(inputpipe.Dataset.from_tensors(v))), v)
    # batch / unbatch / rebatch through unbatch-batch, padded_batch, map identity, zip, shuffle
    batches = list(ds.batch(4))
    _same_bits(batches[0], v[:4])
    _same_bits(batches[1], v[4:])
    _same_bits(np.stack(list(ds.batch(4).unbatch())), v)
    scalars = inputpipe.Dataset.from_tensor_slices(v.reshape(-1))
    _same_bits(next(iter(scalars.batch(12))), v.reshape(-1))
    _same_bits(list(scalars)[1], v.reshape(-1)[1])  # a rank-0 element: a numpy scalar
    pad = v.reshape(-1)[1]
    padded = next(iter(ds.padded_batch(2, padded_shapes=[3], padding_values=pad)))
    expected = np.stack([np.append(v[0], pad), np.append(v[1], pad)])
    _same_bits(padded, expected)
    mapped = list(ds.map(lambda x: x).filter(lambda x: True))
    _same_bits(np.stack(mapped), v)
    zipped = list(inputpipe.Dataset.zip(ds, ds.map(lambda x: {"v": x})))
    _same_bits(zipped[5][1]["v"], v[5])
    shuffled = np.stack(list(ds.shuffle(6, seed=1)))
    assert sorted(shuffled.tobytes()[i:i + v.itemsize * 2]
                  for i in range(0, shuffled.nbytes, v.itemsize * 2)) == \
        sorted(v[i].tobytes() for i in range(6))
    _same_bits(np.stack(list(ds.repeat(2).take(8).skip(6))), v[:2])
    windows = list(ds.window(3).flat_map(lambda w: w.batch(3)))
    _same_bits(windows[1], v[3:])


@pytest.mark.parametrize("name", DTYPES)
def test_new_dtypes_resume_exactly(name):
    v = _values()[name]

    def make():
        ds = inputpipe.Dataset.from_tensor_slices(v).repeat(3)
        return ds.shuffle(4, seed=7).batch(5).unbatch().padded_batch(2, padded_shapes=[4],
                                                                    padding_values=v[0, 0])

    assert_exact_resume(make)


def test_unique_takes_unsigned_and_rejects_complex_and_bfloat16():
    u = np.array([U64_MAX, 1, U64_MAX, 2**63], np.uint64)
    out = list(inputpipe.Dataset.from_tensor_slices(u).unique())
    assert [int(x) for x in out] == [U64_MAX, 1, 2**63]
    with pytest.raises(ValueError, match="complex64"):
        inputpipe.Dataset.from_tensor_slices(np.zeros(2, np.complex64)).unique()
    if ml_dtypes is not None:
        with pytest.raises(ValueError, match="bfloat16"):
            inputpipe.Dataset.from_tensor_slices(np.zeros(2, ml_dtypes.bfloat16)).unique()


def test_padding_value_of_another_dtype_is_an_error_naming_both():
    v = _values()["uint32"]
    with pytest.raises(ValueError, match="uint32"):
        list(inputpipe.Dataset.from_tensor_slices(v).padded_batch(
            2, padded_shapes=[3], padding_values=np.uint16(1)))


def test_unsupported_dtype_lists_the_supported_ones():
    with pytest.raises(ValueError, match="bfloat16.*complex128"):
        inputpipe.Dataset.from_tensors(np.array(["2026-01-01"], dtype="datetime64[D]"))


@needs_ml_dtypes
def test_bfloat16_scalar_is_an_ml_dtypes_scalar():
    x = next(iter(inputpipe.Dataset.from_tensors(ml_dtypes.bfloat16(1.5))))
    assert x.dtype == np.dtype(ml_dtypes.bfloat16) and float(x) == 1.5


# ---- DLPack ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["uint16", "uint32", "uint64", "complex64", "complex128",
                                  "float32", "int64"])
def test_elements_are_numpy_arrays_that_dlpack_consumers_share(name):
    v = _values()[name] if name in _values() else np.arange(12).reshape(6, 2).astype(name)
    batch = next(iter(inputpipe.Dataset.from_tensor_slices(v).batch(3)))
    assert type(batch) is np.ndarray and batch.flags.c_contiguous and batch.flags.writeable
    view = np.from_dlpack(batch)
    assert np.shares_memory(view, batch)
    _same_bits(view, v[:3])


@needs_torch
def test_torch_from_dlpack_shares_the_arrays_memory():
    batch = next(iter(inputpipe.Dataset.range(10).batch(4)))
    t = torch.from_dlpack(batch)
    assert t.data_ptr() == batch.ctypes.data
    batch[0] = 42
    assert int(t[0]) == 42


def test_jax_dlpack_where_jax_is_installed():
    jax = pytest.importorskip("jax")
    batch = next(iter(inputpipe.Dataset.range(10).batch(4)))
    x = jax.dlpack.from_dlpack(batch)
    assert list(np.asarray(x)) == [0, 1, 2, 3]


# ---- as_torch ----------------------------------------------------------------------------

@needs_torch
def test_as_torch_gives_tensors_sharing_the_numpy_memory():
    import inputpipe.torch as ipt
    v = _values()
    ds = inputpipe.Dataset.from_tensor_slices(
        {"u": v["uint16"], "c": v["complex64"], "s": np.array([b"a", b"b"] * 3, dtype=object),
         "i": np.arange(6)}).batch(3)
    it = ipt.as_torch(ds)
    first = next(it)
    assert first["u"].dtype == torch.uint16 and first["c"].dtype == torch.complex64
    assert first["i"].dtype == torch.int64
    assert torch.equal(first["i"], torch.tensor([0, 1, 2]))
    assert list(first["s"]) == [b"a", b"b", b"a"]  # strings: no torch dtype, left as they are
    np.testing.assert_array_equal(first["c"].numpy(), v["complex64"][:3])
    # Zero-copy: the torch tensor is a view of the array the iterator produced.
    base = first["i"].numpy()
    assert base.flags.owndata or base.base is not None
    # save/restore are the wrapped iterator's
    state = it.save()
    rest = [b["i"] for b in it]
    it2 = ipt.as_torch(ds)
    it2.restore(state)
    assert [torch.equal(a, b["i"]) for a, b in zip(rest, it2)] == [True]
    # rank-0 elements come out as 0-d tensors
    scalars = list(ipt.as_torch(inputpipe.Dataset.range(3)))
    assert [t.dim() for t in scalars] == [0, 0, 0] and [int(t) for t in scalars] == [0, 1, 2]


@needs_torch
@needs_ml_dtypes
def test_as_torch_bfloat16_is_reinterpreted_without_a_copy():
    import inputpipe.torch as ipt
    v = _values()["bfloat16"]
    t = next(ipt.as_torch(inputpipe.Dataset.from_tensors(v)))
    assert t.dtype == torch.bfloat16
    assert t.float().tolist() == v.astype(np.float32).tolist()


@needs_torch
def test_pin_memory_without_an_accelerator_warns_once_and_gives_cpu_tensors(monkeypatch):
    import inputpipe.torch as ipt
    if ipt._can_pin(torch):
        t = next(ipt.as_torch(inputpipe.Dataset.range(4).batch(4), pin_memory=True))
        assert t.is_pinned()
        return
    monkeypatch.setattr(ipt, "_warned_no_pinning", False)
    with pytest.warns(UserWarning, match="pin_memory=True is ignored"):
        it = ipt.as_torch(inputpipe.Dataset.range(4).batch(2), pin_memory=True)
    assert [t.tolist() for t in it] == [[0, 1], [2, 3]]


# ---- prefetch_to_device ------------------------------------------------------------------

def _pipeline():
    return inputpipe.Dataset.range(40).shuffle(10, seed=3).batch(4)


@needs_torch
@pytest.mark.parametrize("k", [0, 1, 3, 9, 10])
def test_prefetch_to_device_state_is_the_batch_handed_out(k):
    import inputpipe.torch as ipt
    expected = [b.tolist() for b in _pipeline()]
    feed = ipt.prefetch_to_device(_pipeline(), "cpu", buffer_size=3)
    got = [next(feed).tolist() for _ in range(k)]
    if k:
        # the background thread has read further ahead than the training loop
        deadline = __import__("time").monotonic() + 5
        while feed._queue.qsize() < min(3, 10 - k) and __import__("time").monotonic() < deadline:
            __import__("time").sleep(0.01)
    state = feed.save()
    feed.close()
    assert got == expected[:k]
    fresh = ipt.prefetch_to_device(_pipeline(), "cpu", buffer_size=3)
    fresh.restore(state)
    rest = [b.tolist() for b in fresh]
    assert rest == expected[k:]
    assert all(isinstance(b, torch.Tensor) for b in ipt.prefetch_to_device(_pipeline(), "cpu"))


@needs_torch
def test_prefetch_to_device_passes_errors_and_refuses_late_restore():
    import inputpipe.torch as ipt

    def boom(x):
        if int(x) == 2:
            raise inputpipe.DataLossError("bad record 2")
        return x

    feed = ipt.prefetch_to_device(inputpipe.Dataset.range(5).map(boom), "cpu")
    assert int(next(feed)) == 0 and int(next(feed)) == 1
    with pytest.raises(inputpipe.DataLossError, match="bad record 2"):
        next(feed)
    feed = ipt.prefetch_to_device(inputpipe.Dataset.range(5), "cpu")
    next(feed)
    with pytest.raises(RuntimeError, match="fresh prefetcher"):
        feed.restore(feed.save())
    with pytest.raises(ValueError, match="buffer_size"):
        ipt.prefetch_to_device(inputpipe.Dataset.range(5), "cpu", buffer_size=0)


@needs_torch
def test_prefetch_to_device_with_the_checkpoint_hook(tmp_path):
    import inputpipe.torch as ipt
    expected = [b.tolist() for b in _pipeline()]
    feed = ipt.prefetch_to_device(_pipeline(), "cpu", buffer_size=2)
    with feed.checkpoint_hook(tmp_path, save_steps=3) as hook:
        assert hook.restored_step is None and hook.begin() is None
        trained = []
        for step in range(1, 8):
            trained.append(next(feed).tolist())
            hook.after_step(step)
    feed.close()
    assert trained == expected[:7]
    # the job restarts: the newest checkpoint is step 7 (the final save at the block's end)
    feed = ipt.prefetch_to_device(_pipeline(), "cpu", buffer_size=2)
    with feed.checkpoint_hook(tmp_path, save_steps=3) as hook:
        assert hook.restored_step == 7 and hook.begin() == 7
        rest = [b.tolist() for b in feed]
        hook.after_step(8)
    assert rest == expected[7:]
    # restore_for_model_step: the model's step 6 -> the input checkpoint of step 6
    feed = ipt.prefetch_to_device(_pipeline(), "cpu", buffer_size=2)
    hook = feed.checkpoint_hook(tmp_path, save_steps=3)
    assert hook.restore_for_model_step(6) == 6
    assert [b.tolist() for b in feed] == expected[6:]
