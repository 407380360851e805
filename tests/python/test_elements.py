"""Elements crossing the Python boundary: numpy dtypes in and out, strings, structures, and the
errors for values the engine cannot hold."""

import numpy as np
import pytest

from inputpipe import Dataset

NUMERIC = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.float16, np.float32,
           np.float64]


@pytest.mark.parametrize("dtype", NUMERIC)
def test_numeric_dtypes_round_trip(dtype):
    data = (np.arange(24) % 7).astype(dtype).reshape(2, 3, 4)
    out = list(Dataset.from_tensor_slices(data))
    assert len(out) == 2
    for got, want in zip(out, data):
        assert got.dtype == want.dtype and got.shape == (3, 4)
        assert got.tobytes() == want.tobytes()
    scalar = next(iter(Dataset.from_tensors(data[0, 0, 0])))
    assert isinstance(scalar, np.generic) and scalar.dtype == dtype


def test_python_scalars_follow_numpy_rules():
    assert next(iter(Dataset.from_tensors(3))).dtype == np.int64
    assert next(iter(Dataset.from_tensors(2.5))).dtype == np.float64
    assert next(iter(Dataset.from_tensors(True))).dtype == np.bool_


def test_arrays_out_are_writable_copies():
    ds = Dataset.from_tensors(np.zeros(3))
    first = next(iter(ds))
    first += 1  # users own what they get; the dataset is unchanged
    assert next(iter(ds)).tolist() == [0.0, 0.0, 0.0]


def test_arrays_in_are_copied():
    data = np.arange(4)
    ds = Dataset.from_tensor_slices(data)
    data[:] = 100
    assert [int(x) for x in ds] == [0, 1, 2, 3]


def test_values_out_outlive_the_pipeline(tmp_path):
    # Scalars live inside the engine's tensor objects (no heap buffer of their own), batches in
    # shared buffers: what comes out must not point into either. Values stay right after the
    # iterators, the datasets and every engine tensor are gone and their memory is reused.
    import gc

    import inputpipe

    path = tmp_path / "rows.csv"
    path.write_text("".join(f"{i},{i * 0.5}\n" for i in range(10)))
    csv = inputpipe.CsvDataset(str(path), [np.int64, np.float32])
    it = iter(csv.shuffle(4, seed=3))
    rows = list(it)
    batch = next(iter(csv.batch(4)))
    unfused = next(iter(csv.map(lambda i, x: (i, x)).batch(4)))
    slices = list(Dataset.from_tensor_slices(np.arange(12, dtype=np.int32).reshape(4, 3)))
    del it, csv
    gc.collect()
    churn = [np.full(4, -1, dtype=np.int64) for _ in range(10_000)]  # reuse the freed memory
    assert sorted((int(i), float(x)) for i, x in rows) == [(i, i * 0.5) for i in range(10)]
    for b in (batch, unfused):
        assert b[0].tolist() == [0, 1, 2, 3] and b[1].tolist() == [0.0, 0.5, 1.0, 1.5]
        # numpy's own copies, or engine buffers handed over (the capsule keeps them alive)
        assert all(a.flags.owndata or type(a.base).__name__ == "PyCapsule" for a in b)
    assert [s.tolist() for s in slices] == np.arange(12).reshape(4, 3).tolist()
    del churn


def test_read_only_arrays_are_referenced_not_copied(tmp_path):
    # A memory-mapped .npy opened read-only: the dataset reads the mapping (no copy into
    # memory) and keeps it alive after the caller's reference is gone.
    data = np.arange(60, dtype=np.float32).reshape(20, 3)
    np.save(tmp_path / "x.npy", data)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert not mapped.flags.writeable
    ds = Dataset.from_tensor_slices((mapped, np.arange(20)))
    del mapped
    import gc
    gc.collect()
    got = [(x.tolist(), int(i)) for x, i in ds.shuffle(seed=1)]
    assert sorted(got, key=lambda p: p[1]) == [(row.tolist(), i) for i, row in enumerate(data)]
    # What comes out is the user's to change, and changing it leaves the dataset as it was.
    first = next(iter(ds))[0]
    first += 1
    assert next(iter(ds))[0].tolist() == data[0].tolist()
    # Referenced, not copied: a write to the file through another mapping shows through (the
    # documented contract: a read-only array is the caller's promise not to change it).
    writer = np.load(tmp_path / "x.npy", mmap_mode="r+")
    writer[0, 0] = -7.0
    writer.flush()
    assert next(iter(ds))[0].tolist() == [-7.0, 1.0, 2.0]


def test_non_native_byte_order_is_converted():
    for dtype in (">i4", ">f8", ">i8", "<i2"):
        data = np.arange(5).astype(dtype)
        assert [x.item() for x in Dataset.from_tensor_slices(data)] == [0, 1, 2, 3, 4]
    out = next(iter(Dataset.range(1).map(lambda _: np.array([1, 256], dtype=">i8"))))
    assert out.tolist() == [1, 256] and out.dtype == np.int64


def test_non_contiguous_input():
    data = np.arange(20).reshape(4, 5)[:, ::2]
    assert [x.tolist() for x in Dataset.from_tensor_slices(data)] == data.tolist()


def test_strings():
    assert next(iter(Dataset.from_tensors("héllo"))) == "héllo".encode("utf-8")
    assert next(iter(Dataset.from_tensors(b"\x00\xffraw"))) == b"\x00\xffraw"
    out = next(iter(Dataset.from_tensors(np.array([["a", "bc"], ["", "d"]]))))
    assert out.dtype == object and out.shape == (2, 2)
    assert out.tolist() == [[b"a", b"bc"], [b"", b"d"]]
    mixed = next(iter(Dataset.from_tensors(np.array([b"x", "y"], dtype=object))))
    assert mixed.tolist() == [b"x", b"y"]
    empty = next(iter(Dataset.from_tensors(np.array([], dtype=str))))
    assert empty.dtype == object and empty.shape == (0,)


def test_structures_are_preserved():
    element = {"image": np.ones((2, 2), np.float32), "meta": (np.int32(1), "id")}
    out = next(iter(Dataset.from_tensors(element)))
    assert list(out) == ["image", "meta"]
    assert isinstance(out["meta"], tuple)
    assert out["meta"][0].dtype == np.int32 and out["meta"][1] == b"id"


def test_dict_keys_come_out_sorted():
    out = next(iter(Dataset.from_tensors({"b": 1, "a": 2, "c": 3})))
    assert list(out) == ["a", "b", "c"]


def test_lists_are_tensors_not_structures():
    out = next(iter(Dataset.from_tensors([1, 2, 3])))
    assert isinstance(out, np.ndarray) and out.tolist() == [1, 2, 3]


@pytest.mark.parametrize("value, match", [
    (np.array(["2026-01-01"], dtype="datetime64[D]"), "datetime64"),
    (np.zeros(2, dtype="V3"), "V3"),
    (2 ** 70, "object|int"),
    (np.array([1, "a"], dtype=object), "str or bytes"),
])
def test_unsupported_values_are_value_errors(value, match):
    with pytest.raises(ValueError, match=match):
        Dataset.from_tensors(value)


def test_dict_keys_must_be_str():
    with pytest.raises(ValueError, match="dict keys"):
        Dataset.from_tensors({1: 2})


def test_map_result_errors_name_the_op():
    with pytest.raises(ValueError, match="map"):
        list(Dataset.range(2).map(lambda x: np.array([1], dtype="datetime64[D]")))


def test_none_is_not_a_tensor():
    with pytest.raises(ValueError, match="None"):
        Dataset.from_tensors(None)
    with pytest.raises(ValueError, match="map.*None"):
        list(Dataset.range(2).map(lambda x: None))


def test_datasets_as_elements():
    out = next(iter(Dataset.from_tensors((Dataset.range(3), 7))))
    assert isinstance(out[0], Dataset) and [int(x) for x in out[0]] == [0, 1, 2]
    nested = Dataset.range(3).map(lambda x: Dataset.range(x))
    assert [[int(y) for y in d] for d in nested] == [[], [0], [0, 1]]


def test_numpy_scalar_types_out():
    out = next(iter(Dataset.from_tensors((np.float32(1.5), np.bool_(True), np.uint8(255)))))
    assert [type(x) for x in out] == [np.float32, np.bool_, np.uint8]
    assert out[0] == 1.5 and out[1] and out[2] == 255


def test_bytes_with_trailing_nuls_are_byte_exact():
    """numpy's 'S' dtype drops trailing NULs (np.asarray([b"ab\\0"]) holds b"ab"); every path in
    and out keeps the bytes exactly, as tf.data does."""
    values = [b"ab\x00", b"\x00", b"", b"\x00c\x00\x00"]
    out = list(Dataset.from_tensor_slices(values))
    assert out == values and all(type(v) is bytes for v in out)
    batch = next(iter(Dataset.from_tensors(values)))
    assert batch.dtype == object and list(batch) == values
    nested = next(iter(Dataset.from_tensors([[b"a\x00", b"b"], [b"c", b"\x00\x00"]])))
    assert nested.shape == (2, 2) and nested.tolist() == [[b"a\x00", b"b"], [b"c", b"\x00\x00"]]
    assert next(iter(Dataset.from_tensors(b"x\x00"))) == b"x\x00"
    assert list(Dataset.from_tensor_slices(["é\x00", "\x00"])) == ["é\x00".encode(), b"\x00"]
    mapped = Dataset.range(2).map(lambda i: [b"k\x00", b"\x00"])
    assert [list(m) for m in mapped] == [[b"k\x00", b"\x00"]] * 2
    assert list(Dataset.range(1).map(lambda i: (b"t\x00", [b"u\x00"])))[0][0] == b"t\x00"
    generated = Dataset.from_generator(lambda: iter([b"g\x00", b"\x00"]))
    assert list(generated) == [b"g\x00", b"\x00"]
    # Through the engine and back: batch / unbatch keep them too.
    assert list(Dataset.from_tensor_slices(values).batch(3).unbatch()) == values
