"""Ragged values: ragged_batch (RaggedArray out, exact resumption, the ops that refuse it),
RaggedFeature and SparseFeature parsing (errors naming the feature, record and byte offset),
and TensorFlow's results where it is installed."""

from typing import Any

import numpy as np
import pytest

import example_records
import inputpipe
from inputpipe.testing import assert_exact_resume


def _fills(stop):
    """range(1, stop).map(fill([x], x)): [1], [2, 2], [3, 3, 3], ..."""
    return inputpipe.Dataset.range(1, stop).map(lambda x: np.full(int(x), x, dtype=np.int32))


# ---- ragged_batch and RaggedArray ------------------------------------------------------------
def test_ragged_batch_gives_ragged_arrays():
    ds = _fills(6).ragged_batch(2)
    assert len(ds) == 3
    first, second, last = list(ds)
    assert isinstance(first, inputpipe.RaggedArray)
    assert first.values.dtype == np.int32 and first.values.tolist() == [1, 2, 2]
    assert first.row_splits.dtype == np.int64 and first.row_splits.tolist() == [0, 1, 3]
    assert first.to_list() == [[1], [2, 2]]
    assert second.to_list() == [[3, 3, 3], [4, 4, 4, 4]] and last.to_list() == [[5] * 5]
    assert len(second) == 2 and second[1].tolist() == [4] * 4 and second[-1].tolist() == [4] * 4
    assert second.shape == (2, None) and second.row_lengths().tolist() == [3, 4]
    rows = np.asarray(second)
    assert rows.dtype == object and rows.shape == (2,) and rows[0].tolist() == [3, 3, 3]
    assert len(list(_fills(6).ragged_batch(2, drop_remainder=True))) == 2


def test_ragged_batch_stacks_scalars_and_keeps_structure():
    ds = inputpipe.Dataset.range(4).map(
        lambda x: {"id": x, "pts": np.full((int(x), 2), x, dtype=np.float32)})
    (b,) = list(ds.ragged_batch(4))
    assert b["id"].tolist() == [0, 1, 2, 3]
    assert isinstance(b["pts"], inputpipe.RaggedArray)
    assert b["pts"].values.shape == (6, 2) and b["pts"].row_splits.tolist() == [0, 0, 1, 3, 6]
    assert b["pts"].shape == (4, None, 2)


def test_ragged_arrays_go_through_map_and_are_refused_by_batch():
    ds = _fills(5).ragged_batch(2).map(
        lambda r: inputpipe.RaggedArray(r.values * 10, r.row_splits))
    assert [r.to_list() for r in ds] == [[[10], [20, 20]], [[30, 30, 30], [40, 40, 40, 40]]]
    with pytest.raises(ValueError, match="batch: cannot stack ragged values"):
        list(_fills(6).ragged_batch(2).batch(2))
    with pytest.raises(ValueError, match="row_splits"):
        inputpipe.RaggedArray([1, 2, 3], [0, 2])
    with pytest.raises(ValueError, match="row_splits_dtype must be int64 or int32, got int16"):
        _fills(3).ragged_batch(2, row_splits_dtype=np.int16)
    with pytest.raises(ValueError, match="row_splits of int64 over values whose row_splits are "
                                         "int32"):
        inputpipe.RaggedArray(inputpipe.RaggedArray([1], np.array([0, 1], np.int32)), [0, 1])


def test_ragged_batch_resumes_exactly():
    assert_exact_resume(lambda: _fills(20).ragged_batch(3))
    assert_exact_resume(lambda: _fills(20).shuffle(5, seed=3).ragged_batch(4, drop_remainder=True))


def test_ragged_array_from_rows_and_equality():
    r = inputpipe.RaggedArray.from_rows([[1, 2], [], [3]])
    assert r.row_splits.tolist() == [0, 2, 2, 3] and r.values.tolist() == [1, 2, 3]
    assert r == inputpipe.RaggedArray(np.array([1, 2, 3]), [0, 2, 2, 3])
    assert r != inputpipe.RaggedArray(np.array([1, 2, 3]), [0, 1, 2, 3])
    assert "RaggedArray([[1, 2], [], [3]]" in repr(r)


def test_ragged_array_slices_are_ragged_arrays():
    r = inputpipe.RaggedArray.from_rows([[1, 2], [], [3], [4, 5, 6]])
    head = r[0:2]
    assert isinstance(head, inputpipe.RaggedArray) and head.to_list() == [[1, 2], []]
    assert head.row_splits.tolist() == [0, 2, 2] and np.shares_memory(head.values, r.values)
    assert r[1:].to_list() == [[], [3], [4, 5, 6]] and r[1:].row_splits.tolist() == [0, 0, 1, 4]
    assert r[::2].to_list() == [[1, 2], [3]] and r[::-1].to_list() == [[4, 5, 6], [3], [], [1, 2]]
    assert r[3:1].to_list() == [] and len(r[3:1]) == 0 and r[3:1].values.dtype == r.dtype
    assert r[np.int64(3)].tolist() == [4, 5, 6]
    with pytest.raises(TypeError, match="integers or slices"):
        r["a"]  # type: ignore[call-overload]
    with pytest.raises(IndexError, match="row 4 out of range"):
        r[4]


def test_ragged_batch_element_spec_is_a_ragged_tensor_spec():
    pts = inputpipe.Dataset.range(5).map(
        lambda x: {"id": x, "pts": np.full((int(x), 2), x, dtype=np.float32)})
    spec = pts.ragged_batch(3).element_spec
    assert spec["id"] == inputpipe.TensorSpec((None,), np.dtype("int64"))
    assert spec["pts"] == inputpipe.RaggedTensorSpec((None, None, 2), "float32", 1, "int64")
    assert "RaggedTensorSpec(shape=(None, None, 2)" in repr(spec["pts"])
    # The rows are known only with drop_remainder; the first batch's lengths never leak in.
    dropped = pts.ragged_batch(2, drop_remainder=True).element_spec
    assert dropped["pts"].shape == (2, None, 2) and dropped["id"].shape == (2,)
    assert _fills(4).ragged_batch(2).element_spec == inputpipe.RaggedTensorSpec(
        (None, None), np.int32, 1, np.int64)
    # Through pass-through ops too.
    assert _fills(6).ragged_batch(2).prefetch(2).element_spec.dtype == np.int32


def test_ragged_batch_of_ragged_components_gains_a_ragged_dimension():
    nested = _fills(6).ragged_batch(2).ragged_batch(2)
    first, last = list(nested)
    assert isinstance(first, inputpipe.RaggedArray) and first.ragged_rank == 2
    assert first.to_list() == [[[1], [2, 2]], [[3, 3, 3], [4, 4, 4, 4]]]
    assert last.to_list() == [[[5] * 5]] and last.row_splits.tolist() == [0, 1]
    assert first.shape == (2, None, None) and first.dtype == np.int32
    assert first.flat_values.tolist() == [1, 2, 2, 3, 3, 3, 4, 4, 4, 4]
    assert first[1].to_list() == [[3, 3, 3], [4] * 4]
    assert first[1:].to_list() == [[[3] * 3, [4] * 4]]
    assert first[::-1].to_list() == [[[3] * 3, [4] * 4], [[1], [2, 2]]]
    assert nested.element_spec == inputpipe.RaggedTensorSpec((None, None, None), np.int32, 2)
    assert _fills(6).ragged_batch(2).ragged_batch(2, drop_remainder=True).element_spec.shape == (
        2, None, None)
    # A map function receives one and may return one; it resumes as any ragged_batch.
    assert [r.to_list() for r in nested.map(lambda r: r)] == [first.to_list(), last.to_list()]
    assert inputpipe.RaggedArray(first.values, first.row_splits) == first
    assert_exact_resume(lambda: _fills(20).ragged_batch(3).ragged_batch(2))
    with pytest.raises(ValueError, match="one ragged dimension"):
        first.to_torch()


def test_unbatch_of_ragged_values_gives_their_rows():
    rows = list(_fills(7).ragged_batch(4).unbatch())
    assert [r.tolist() for r in rows] == [r.tolist() for r in _fills(7)]
    assert all(r.dtype == np.int32 for r in rows)
    nested = list(_fills(7).ragged_batch(2).ragged_batch(2).unbatch())
    assert [r.to_list() for r in nested] == [r.to_list() for r in _fills(7).ragged_batch(2)]
    spec = _fills(7).ragged_batch(2).ragged_batch(2).unbatch().element_spec
    assert spec == inputpipe.RaggedTensorSpec((None, None), np.int32, 1)
    assert _fills(7).ragged_batch(4).unbatch().element_spec == inputpipe.TensorSpec(
        (None,), np.dtype(np.int32))
    assert_exact_resume(lambda: _fills(12).ragged_batch(5).unbatch())


def test_ragged_batch_errors_name_the_element_and_component():
    mixed = inputpipe.Dataset.range(3).map(
        lambda x: {"a": x, "b": np.zeros(2, dtype=np.int32 if int(x) == 2 else np.int64)})
    with pytest.raises(ValueError, match=r"ragged_batch: element 2 of the batch, component "
                                         r"\['b'\] is int32\[2\], element 0 is int64\[2\]: "
                                         r"the dtype differs"):
        list(mixed.ragged_batch(3))


def test_sample_from_datasets_names_itself_for_weights_of_tuples():
    half = np.array([0.5, 0.5], dtype=np.float32)
    weights = inputpipe.Dataset.from_tensors((half, half)).repeat(3)
    ds = inputpipe.Dataset.sample_from_datasets(
        [inputpipe.Dataset.range(3), inputpipe.Dataset.range(3)], weights, seed=1)
    with pytest.raises(ValueError, match="sample_from_datasets: weights element 0 is \\(.*"
                                         "expected a float32 or float64 vector"):
        list(ds)


def test_ragged_batch_same_as_tensorflow():
    tf = pytest.importorskip("tensorflow")
    ours = [r.to_list() for r in _fills(8).ragged_batch(3)]
    theirs = tf.data.Dataset.range(1, 8).map(lambda x: tf.fill([x], tf.cast(x, tf.int32)))
    theirs = [r.to_list() for r in theirs.ragged_batch(3)]
    assert ours == theirs
    r = next(iter(_fills(8).ragged_batch(3)))
    assert r.to_tensorflow().to_list() == theirs[0]
    assert r[1:].to_tensorflow().to_list() == theirs[0][1:]
    # Ragged elements gain a ragged dimension (ragged_rank 2) in both.
    tf_nested = tf.data.Dataset.range(1, 8).map(lambda x: tf.fill([x], tf.cast(x, tf.int32)))
    tf_nested = tf_nested.ragged_batch(2).ragged_batch(2)
    nested = _fills(8).ragged_batch(2).ragged_batch(2)
    assert [r.to_list() for r in nested] == [r.to_list() for r in tf_nested]
    first = next(iter(nested))
    assert first.to_tensorflow().ragged_rank == 2
    assert first.to_tensorflow().to_list() == next(iter(tf_nested)).to_list()
    tf_spec = tf_nested.element_spec
    assert nested.element_spec.shape == tuple(tf_spec.shape.as_list())
    # unbatch undoes it in both.
    assert [r.to_list() for r in nested.unbatch()] == [r.to_list() for r in tf_nested.unbatch()]
    assert (nested.unbatch().element_spec.shape
            == tuple(tf_nested.unbatch().element_spec.shape.as_list()))
    assert nested.element_spec.ragged_rank == tf_spec.ragged_rank == 2
    # The element specs agree: shape, dtype, ragged_rank, row_splits_dtype.
    for drop in (False, True):
        ours_spec = _fills(8).ragged_batch(3, drop_remainder=drop).element_spec
        tf_ds = tf.data.Dataset.range(1, 8).map(lambda x: tf.fill([x], tf.cast(x, tf.int32)))
        tf_spec = tf_ds.ragged_batch(3, drop_remainder=drop).element_spec
        assert isinstance(tf_spec, tf.RaggedTensorSpec)
        assert ours_spec.shape == tuple(tf_spec.shape.as_list())
        assert ours_spec.dtype == tf_spec.dtype.as_numpy_dtype
        assert ours_spec.ragged_rank == tf_spec.ragged_rank
        assert ours_spec.row_splits_dtype == tf_spec.row_splits_dtype.as_numpy_dtype


def test_rebatch_recuts_ragged_rows_across_input_batches_and_resumes():
    rows = lambda: _fills(12).ragged_batch(4)  # noqa: E731
    for m in (1, 3, 5):
        assert ([r.to_list() for r in rows().rebatch(m)]
                == [r.to_list() for r in _fills(12).ragged_batch(m)])
    pairs = inputpipe.Dataset.zip((inputpipe.Dataset.range(9), _fills(10))).ragged_batch(4)
    ids, fills = next(iter(pairs.rebatch([5, 1]).skip(1)))
    assert ids.tolist() == [5] and fills.to_list() == [[6] * 6]
    assert_exact_resume(lambda: _fills(20).ragged_batch(2).ragged_batch(3).rebatch([2, 3]))


def test_from_tensor_slices_of_a_ragged_array_gives_its_rows():
    r = inputpipe.RaggedArray.from_rows([[1, 2], [], [3, 4, 5]])
    ds = inputpipe.Dataset.from_tensor_slices({"id": np.arange(3), "r": r})
    assert [(int(e["id"]), e["r"].tolist()) for e in ds] == [(0, [1, 2]), (1, []), (2, [3, 4, 5])]
    assert ds.element_spec["r"].shape == (None,)  # every row's length, not row 0's
    rows = inputpipe.Dataset.from_tensor_slices(r)
    assert [v.tolist() for v in rows.map(lambda v: v * 2, num_parallel_calls=2,
                                         processes=True)] == [[2, 4], [], [6, 8, 10]]
    nested = next(iter(_fills(6).ragged_batch(2).ragged_batch(3)))
    assert ([x.to_list() for x in inputpipe.Dataset.from_tensor_slices(nested)]
            == [x.to_list() for x in _fills(6).ragged_batch(2)])
    assert_exact_resume(lambda: inputpipe.Dataset.from_tensor_slices(r).repeat(3))


def test_rebatch_of_ragged_same_as_tensorflow():
    tf = pytest.importorskip("tensorflow")
    tf_rows = tf.data.Dataset.range(1, 12).map(lambda x: tf.fill([x], tf.cast(x, tf.int32)))
    for ours, theirs in [(_fills(12).ragged_batch(3).rebatch(2), tf_rows.ragged_batch(3).rebatch(2)),
                         (_fills(12).ragged_batch(2).ragged_batch(2).rebatch([1, 3], True),
                          tf_rows.ragged_batch(2).ragged_batch(2).rebatch([1, 3], True))]:
        assert [r.to_list() for r in ours] == [r.to_list() for r in theirs]
    rows = [[1, 2], [], [3, 4, 5]]
    ours = inputpipe.Dataset.from_tensor_slices(inputpipe.RaggedArray.from_rows(rows))
    theirs = tf.data.Dataset.from_tensor_slices(tf.ragged.constant(rows, dtype=tf.int64))
    assert [v.tolist() for v in ours] == [v.numpy().tolist() for v in theirs]
    assert ours.element_spec.shape == tuple(theirs.element_spec.shape.as_list())


# ---- RaggedFeature and SparseFeature ---------------------------------------------------------
_example = example_records.example


RECORDS = [_example({"tok": [5, 6, 7], "ix": [2, 0], "v": [1.0, 2.0]}),
           _example({"other": [1]}),  # neither feature: an empty row, no sparse entry
           _example({"tok": [8], "ix": [1], "v": [3.0]})]
FEATURES = {"r": inputpipe.RaggedFeature("int64", value_key="tok"),
            "sp": inputpipe.SparseFeature("ix", "v", "float32", 4)}


def test_ragged_and_sparse_features():
    one = inputpipe.parse_single_example(RECORDS[0], FEATURES)
    assert one["r"].tolist() == [5, 6, 7]
    assert one["sp"]["indices"].tolist() == [[0], [2]]  # sorted by position
    assert one["sp"]["values"].tolist() == [2.0, 1.0] and one["sp"]["dense_shape"].tolist() == [4]
    assert inputpipe.SparseArray.from_dict(one["sp"]).to_dense().tolist() == [2, 0, 1, 0]
    batch = inputpipe.parse_example(RECORDS, FEATURES)
    assert isinstance(batch["r"], inputpipe.RaggedArray)
    assert batch["r"].to_list() == [[5, 6, 7], [], [8]]
    sp = inputpipe.SparseArray.from_dict(batch["sp"])
    assert sp.indices.tolist() == [[0, 0], [0, 2], [2, 1]] and sp.dense_shape.tolist() == [3, 4]
    assert np.asarray(sp).tolist() == [[2, 0, 1, 0], [0, 0, 0, 0], [0, 3, 0, 0]]
    # Two index keys: a 2-D sparse value.
    two = {"m": inputpipe.SparseFeature(["a", "b"], "v", "float32", [2, 3])}
    m = inputpipe.parse_single_example(_example({"a": [1, 0], "b": [2, 1], "v": [7.0, 8.0]}), two)
    assert inputpipe.SparseArray.from_dict(m["m"]).to_dense().tolist() == [[0, 8, 0], [0, 0, 7]]


def test_feature_errors_name_the_feature_record_and_offset(tmp_path):
    bad = _example({"ix": [9], "v": [1.0]})
    with pytest.raises(ValueError, match=r"record 1 of the batch, feature 'sp'.*index 9"):
        inputpipe.parse_example([RECORDS[0], bad], FEATURES)
    with pytest.raises(ValueError, match="'ix' has 2 indices, value_key 'v' has 1 values"):
        inputpipe.parse_single_example(_example({"ix": [0, 1], "v": [1.0]}), FEATURES)
    with pytest.raises(ValueError, match="partition <object.*is not one of"):
        inputpipe.RaggedFeature("int64", partitions=[object()])
    with pytest.raises(ValueError, match="one index key per dimension"):
        inputpipe.parse_single_example(RECORDS[0], {
            "sp": inputpipe.SparseFeature("ix", "v", "float32", [4, 2])})
    path = str(tmp_path / "bad.tfrecord")
    with inputpipe.TFRecordWriter(path) as w:
        w.write(RECORDS[0])
        w.write(bad)
    offset = 16 + len(RECORDS[0])  # a TFRecord frame: 12 bytes of header, 4 of footer
    ds = inputpipe.TFRecordDataset(path).apply(inputpipe.parse_single_example_fn(FEATURES))
    with pytest.raises(ValueError, match=rf"feature 'sp'.*index 9.*bad.tfrecord.*record 1 "
                                         rf"\(byte {offset}\)"):
        list(ds)


def test_parsed_ragged_batches_resume_exactly(tmp_path):
    path = str(tmp_path / "r.tfrecord")
    with inputpipe.TFRecordWriter(path) as w:
        for i in range(11):
            w.write(_example({"tok": [i] * (i % 4), "ix": [i % 4], "v": [float(i)]}))
    assert_exact_resume(lambda: inputpipe.TFRecordDataset(path).batch(3).apply(
        inputpipe.parse_example_fn(FEATURES)))


# Values [1..6] in rows [[1, 2], [], [3, 4, 5], [6]], as each partition spells them; a record
# of no values (every partition feature missing: no rows); one of a row of one value.
_P = inputpipe.RaggedFeature
PARTITIONED = [_example({"v": [1, 2, 3, 4, 5, 6], "splits": [0, 2, 2, 5, 6], "lengths": [2, 0, 3, 1],
                         "starts": [0, 2, 2, 5], "limits": [2, 2, 5, 6], "ids": [0, 0, 2, 2, 2, 3],
                         "outer": [1, 3]}),
               _example({"other": [1]}),
               _example({"v": [7], "splits": [0, 1], "lengths": [1], "starts": [0], "limits": [1],
                         "ids": [0], "outer": [1]})]
_ONE_PARTITION = {"splits": _P.RowSplits("splits"), "lengths": _P.RowLengths("lengths"),
                  "starts": _P.RowStarts("starts"), "limits": _P.RowLimits("limits"),
                  "ids": _P.ValueRowIds("ids")}


def test_ragged_partitions_make_more_ragged_dimensions():
    for name, partition in _ONE_PARTITION.items():
        features = {"r": inputpipe.RaggedFeature("int64", value_key="v", partitions=[partition])}
        one = inputpipe.parse_single_example(PARTITIONED[0], features)["r"]
        assert isinstance(one, inputpipe.RaggedArray), name
        assert one.to_list() == [[1, 2], [], [3, 4, 5], [6]], name
        batch = inputpipe.parse_example(PARTITIONED, features)["r"]
        assert batch.ragged_rank == 2, name
        assert batch.to_list() == [[[1, 2], [], [3, 4, 5], [6]], [], [[7]]], name
    uniform = {"r": inputpipe.RaggedFeature("int64", value_key="v",
                                            partitions=[_P.UniformRowLength(2)])}
    assert inputpipe.parse_single_example(PARTITIONED[0], uniform)["r"].to_list() == \
        [[1, 2], [3, 4], [5, 6]]
    # Two partitions, outermost first; int32 row splits at every ragged dimension.
    two = {"r": inputpipe.RaggedFeature("int64", value_key="v", row_splits_dtype="int32",
                                        partitions=[_P.RowLengths("outer"),
                                                    _P.RowLengths("lengths")])}
    batch = inputpipe.parse_example(PARTITIONED, two)["r"]
    assert batch.to_list() == [[[[1, 2]], [[], [3, 4, 5], [6]]], [], [[[7]]]]
    level, dtypes = batch, []
    while isinstance(level, inputpipe.RaggedArray):
        dtypes.append(level.row_splits.dtype)
        level = level.values
    assert dtypes == [np.int32] * 3


def test_ragged_partitions_that_do_not_fit_name_the_feature_partition_and_record():
    bad = _example({"v": [1, 2, 3], "lengths": [1, 1]})
    features = {"r": inputpipe.RaggedFeature("int64", value_key="v",
                                             partitions=[_P.RowLengths("lengths")])}
    with pytest.raises(ValueError, match=r"record 1 of the batch, feature 'r', partition "
                                         r"RowLengths\('lengths'\).*not the 3 values"):
        inputpipe.parse_example([PARTITIONED[1], bad], features)
    with pytest.raises(ValueError, match="is not one of RaggedFeature.RowSplits"):
        inputpipe.RaggedFeature("int64", partitions=[("lengths",)])
    wrong: list[Any] = [0, 2.7, "3", True, 2**63, np.uint64(2**64 - 1)]  # what a typo passes, typed or not
    for length in wrong:
        with pytest.raises(ValueError, match="the length must be a positive int"):
            inputpipe.RaggedFeature("int64", partitions=[_P.UniformRowLength(length)])
    wrong = [None, "", 3]
    for key in wrong:
        with pytest.raises(ValueError, match="the key must be a feature name"):
            inputpipe.RaggedFeature("int64", partitions=[_P.RowLengths(key)])
    # A batch of no record has its ragged dimensions too.
    two = {"r": inputpipe.RaggedFeature("int64", value_key="v", partitions=[
        _P.RowLengths("outer"), _P.RowLengths("lengths")])}
    assert inputpipe.parse_example([], two)["r"].ragged_rank == 3
    with pytest.raises(ValueError, match="row_splits_dtype must be int64 or int32"):
        inputpipe.RaggedFeature("int64", row_splits_dtype="float32")


def test_parsed_partitioned_batches_resume_exactly(tmp_path):
    path = str(tmp_path / "p.tfrecord")
    with inputpipe.TFRecordWriter(path) as w:
        for i in range(11):
            w.write(_example({"v": list(range(i % 5)), "ids": [k // 2 for k in range(i % 5)]}))
    features = {"r": inputpipe.RaggedFeature("int64", value_key="v", row_splits_dtype="int32",
                                             partitions=[_P.ValueRowIds("ids")])}
    assert_exact_resume(lambda: inputpipe.TFRecordDataset(path).batch(3).apply(
        inputpipe.parse_example_fn(features)))


def test_ragged_partitions_same_as_tensorflow():
    tf = pytest.importorskip("tensorflow")
    tf_kinds = {"splits": tf.io.RaggedFeature.RowSplits("splits"),
                "lengths": tf.io.RaggedFeature.RowLengths("lengths"),
                "starts": tf.io.RaggedFeature.RowStarts("starts"),
                "limits": tf.io.RaggedFeature.RowLimits("limits"),
                "ids": tf.io.RaggedFeature.ValueRowIds("ids")}
    cases = [[tf_kinds[k]] for k in tf_kinds] + [
        [tf.io.RaggedFeature.RowLengths("outer"), tf.io.RaggedFeature.RowLengths("lengths")],
        [tf.io.RaggedFeature.UniformRowLength(1), tf.io.RaggedFeature.RowSplits("splits")]]
    for partitions in cases:
        for dtype in (tf.int32, tf.int64):
            theirs_feature = tf.io.RaggedFeature(tf.int64, value_key="v", partitions=partitions,
                                                 row_splits_dtype=dtype)
            # TensorFlow's own partition objects are accepted as they are.
            ours_feature = inputpipe.RaggedFeature("int64", value_key="v", partitions=partitions,
                                                   row_splits_dtype=dtype)
            theirs = tf.io.parse_example(tf.constant(PARTITIONED), {"r": theirs_feature})["r"]
            ours = inputpipe.parse_example(PARTITIONED, {"r": ours_feature})["r"]
            assert ours.to_list() == theirs.to_list(), partitions
            assert ours.row_splits.dtype == theirs.row_splits.dtype.as_numpy_dtype
            one = tf.io.parse_single_example(PARTITIONED[0], {"r": theirs_feature})["r"]
            ours_one = inputpipe.parse_single_example(PARTITIONED[0], {"r": ours_feature})["r"]
            assert ours_one.to_list() == one.to_list(), partitions
            np.testing.assert_array_equal(ours.to_tensorflow().flat_values, theirs.flat_values)


def test_int32_ragged_batch_same_as_tensorflow():
    ours = _fills(6).ragged_batch(2, row_splits_dtype=np.int32)
    first = next(iter(ours))
    assert first.row_splits.dtype == np.int32 and first.to_list() == [[1], [2, 2]]
    assert ours.element_spec.row_splits_dtype == np.int32
    assert [b.to_list() for b in ours.unbatch().ragged_batch(3, row_splits_dtype="int32")] == \
        [[[1], [2, 2], [3, 3, 3]], [[4] * 4, [5] * 5]]
    with pytest.raises(ValueError, match="row_splits of int32, the batch's are int64"):
        next(iter(ours.ragged_batch(2)))
    assert_exact_resume(lambda: _fills(12).ragged_batch(3, row_splits_dtype="int32"))
    tf = pytest.importorskip("tensorflow")
    theirs = tf.data.Dataset.range(1, 6).map(lambda x: tf.fill([x], tf.cast(x, tf.int32)))
    theirs = theirs.ragged_batch(2, row_splits_dtype=tf.int32)
    for a, b in zip(ours, theirs):
        assert a.to_list() == b.to_list()
        assert a.row_splits.dtype == b.row_splits.dtype.as_numpy_dtype


def test_features_same_as_tensorflow():
    tf = pytest.importorskip("tensorflow")
    tf_features = {"r": tf.io.RaggedFeature(tf.int64, value_key="tok"),
                   "sp": tf.io.SparseFeature("ix", "v", tf.float32, 4)}
    theirs = tf.io.parse_example(tf.constant(RECORDS), tf_features)
    ours = inputpipe.parse_example(RECORDS, FEATURES)
    assert ours["r"].to_list() == theirs["r"].to_list()
    assert ours["sp"]["indices"].tolist() == theirs["sp"].indices.numpy().tolist()
    assert ours["sp"]["values"].tolist() == theirs["sp"].values.numpy().tolist()
    assert ours["sp"]["dense_shape"].tolist() == theirs["sp"].dense_shape.numpy().tolist()
