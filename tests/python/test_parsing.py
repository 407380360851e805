"""make_csv_dataset and decode_csv: named columns with inferred types, exact resumption with
shuffling, errors naming file and line (or record); TensorFlow's results where it is installed
(the expected values are also written out, so every behaviour is pinned without it)."""

import gzip
import os

import numpy as np
import pytest

import example_records
import inputpipe
from inputpipe.testing import assert_exact_resume

CSV_A = ("i32,i64,f32,f64,s,empty\n"
         "1,5000000000,1.5,1e300,x,\n"
         "2,-3,2,2.5,\"y,z\",\n"
         "3,,,1,,\n")
CSV_B = ("i32,i64,f32,f64,s,empty\n"
         "4,7,-0.25,3,w,\n")


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture
def two_files(tmp_path):
    return [_write(tmp_path, "a.csv", CSV_A), _write(tmp_path, "b.csv", CSV_B)]


def _rows(n_files=3, rows=7):
    """Values that resume tests can follow: row r of file f has id 100*f + r."""
    return [("id,x,name\n" + "".join(f"{100 * f + r},{r * 0.5},n{f}_{r}\n" for r in range(rows)))
            for f in range(n_files)]


def _dataset_files(tmp_path, n_files=3, rows=7):
    return [_write(tmp_path, f"part-{f}.csv", text) for f, text in enumerate(_rows(n_files, rows))]


# ---- make_csv_dataset: header, inferred types, label ---------------------------------------
def test_types_inferred_as_tensorflow(two_files):
    ds = inputpipe.make_csv_dataset(os.path.dirname(two_files[0]) + "/*.csv", batch_size=10,
                                    num_epochs=1, shuffle=False)
    batches = list(ds)
    assert len(batches) == 1
    (b,) = batches
    assert list(b) == ["empty", "f32", "f64", "i32", "i64", "s"]  # dicts keep keys sorted
    assert b["i32"].dtype == np.int32 and b["i32"].tolist() == [1, 2, 3, 4]
    assert b["i64"].dtype == np.int64 and b["i64"].tolist() == [5000000000, -3, 0, 7]
    assert b["f32"].dtype == np.float32 and b["f32"].tolist() == [1.5, 2.0, 0.0, -0.25]
    assert b["f64"].dtype == np.float64 and b["f64"].tolist() == [1e300, 2.5, 1.0, 3.0]
    assert b["s"].tolist() == [b"x", b"y,z", b"", b"w"]
    assert b["empty"].tolist() == [b""] * 4  # no value at all: a string column


def test_label_and_select_columns(two_files):
    ds = inputpipe.make_csv_dataset(two_files, batch_size=3, label_name="i32", num_epochs=1,
                                    shuffle=False, select_columns=["s", 0])
    (f1, l1), (f2, l2) = list(ds)
    assert list(f1) == ["s"]  # select_columns keep the file's order
    assert l1.tolist() == [1, 2, 3] and l2.tolist() == [4]
    assert f1["s"].tolist() == [b"x", b"y,z", b""] and f2["s"].tolist() == [b"w"]


def test_column_names_defaults_and_na_value(tmp_path):
    path = _write(tmp_path, "n.csv", "1,NA\nNA,2.5\n")
    ds = inputpipe.make_csv_dataset(path, batch_size=2, column_names=["a", "b"], header=False,
                                    column_defaults=[np.int64(-1), -2.0], na_value="NA",
                                    num_epochs=1, shuffle=False)
    (b,) = list(ds)
    assert b["a"].dtype == np.int64 and b["a"].tolist() == [1, -1]
    assert b["b"].dtype == np.float32 and b["b"].tolist() == [-2.0, 2.5]


def test_gzip(tmp_path):
    path = str(tmp_path / "a.csv.gz")
    with gzip.open(path, "wt") as f:
        f.write(CSV_B)
    (b,) = list(inputpipe.make_csv_dataset(path, 4, compression_type="GZIP", num_epochs=1,
                                           shuffle=False))
    assert b["i64"].tolist() == [7] and b["s"].tolist() == [b"w"]


def test_num_epochs_none_repeats_and_drops_the_remainder(tmp_path):
    files = _dataset_files(tmp_path, n_files=1, rows=5)
    it = iter(inputpipe.make_csv_dataset(files, batch_size=3, shuffle=False, label_name="id"))
    labels = [next(it)[1].tolist() for _ in range(4)]
    assert labels == [[0, 1, 2], [3, 4, 0], [1, 2, 3], [4, 0, 1]]


def test_shuffle_gives_every_row_once_per_epoch(tmp_path):
    files = _dataset_files(tmp_path)
    ds = inputpipe.make_csv_dataset(files, batch_size=4, num_epochs=2, shuffle_seed=3,
                                    shuffle_buffer_size=5, label_name="id")
    ids = np.concatenate([label for _, label in ds]).tolist()
    every = sorted(100 * f + r for f in range(3) for r in range(7))
    assert len(ids) == 42 and sorted(ids[:21]) == every and sorted(ids[21:]) == every
    assert ids[:21] != every  # shuffled
    again = np.concatenate([label for _, label in inputpipe.make_csv_dataset(
        files, batch_size=4, num_epochs=2, shuffle_seed=3, shuffle_buffer_size=5,
        label_name="id")]).tolist()
    assert again == ids


# ---- make_csv_dataset: exact resumption ------------------------------------------------------
def test_exact_resume_shuffled(tmp_path):
    files = _dataset_files(tmp_path)
    assert_exact_resume(lambda: inputpipe.make_csv_dataset(
        files, batch_size=4, num_epochs=2, shuffle_seed=11, shuffle_buffer_size=6,
        label_name="id"), max_state_bytes=4096)


def test_exact_resume_fused_batch_and_forever(tmp_path):
    files = _dataset_files(tmp_path)
    assert_exact_resume(lambda: inputpipe.make_csv_dataset(files, batch_size=5, num_epochs=1,
                                                           shuffle=False))
    assert_exact_resume(lambda: inputpipe.make_csv_dataset(files, batch_size=5, shuffle_seed=2),
                        max_elements=30, max_state_bytes=4096)


def shuffled_csv_pipeline():
    """Module-level (a fresh process imports it): the files are written under a fixed name."""
    import tempfile  # noqa: PLC0415

    root = os.path.join(tempfile.gettempdir(), f"inputpipe-test-parsing-{os.getuid()}")
    os.makedirs(root, exist_ok=True)
    files = []
    for f, text in enumerate(_rows()):
        path = os.path.join(root, f"part-{f}.csv")
        if not os.path.exists(path):
            with open(path + ".tmp", "w") as out:
                out.write(text)
            os.replace(path + ".tmp", path)
        files.append(path)
    return inputpipe.make_csv_dataset(files, batch_size=4, num_epochs=2, shuffle_seed=5,
                                      shuffle_buffer_size=6, label_name="id")


def test_exact_resume_in_a_fresh_process():
    assert_exact_resume(shuffled_csv_pipeline, max_state_bytes=4096, fresh_process=True)


# ---- make_csv_dataset: errors ----------------------------------------------------------------
def test_header_differs_between_files(tmp_path):
    a = _write(tmp_path, "a.csv", "x,y\n1,2\n")
    b = _write(tmp_path, "b.csv", "x,z\n3,4\n")
    with pytest.raises(ValueError, match=r"header of '.*b\.csv' \(line 1\) is 'x,z'"):
        inputpipe.make_csv_dataset([a, b], batch_size=2)


def test_bad_value_names_file_and_line(tmp_path):
    files = [_write(tmp_path, "a.csv", "x,y\n" + "1,2\n" * 150),
             _write(tmp_path, "b.csv", "x,y\n1,2\n1,oops\n")]
    ds = inputpipe.make_csv_dataset(files, batch_size=1000, num_epochs=1, shuffle=False)
    with pytest.raises(inputpipe.DataLossError, match=r"b\.csv'?, line 3"):
        list(ds)
    kept = inputpipe.make_csv_dataset(files, batch_size=1000, num_epochs=1, shuffle=False,
                                      ignore_errors=True)
    (b,) = list(kept)
    assert len(b["y"]) == 151 and b["y"].dtype == np.int32


def test_argument_errors(two_files):
    with pytest.raises(ValueError, match="label_name 'nope'"):
        inputpipe.make_csv_dataset(two_files, 2, label_name="nope")
    with pytest.raises(ValueError, match="column_names are required"):
        inputpipe.make_csv_dataset(two_files, 2, header=False)
    with pytest.raises(ValueError, match="column_defaults has 1 entries for 6 columns"):
        inputpipe.make_csv_dataset(two_files, 2, column_defaults=[0])
    with pytest.raises(ValueError, match="column 'q' is not one of"):
        inputpipe.make_csv_dataset(two_files, 2, select_columns=["q"])


# ---- decode_csv ------------------------------------------------------------------------------
def test_decode_csv_values_quotes_and_defaults():
    records = np.array([[b'1,"a ""q"", b",2.5', b",,"], [b"3,x,", b'4,"",1e3']], dtype=object)
    a, s, f = inputpipe.decode_csv(records, [np.int64(7), "dflt", 0.5])
    assert a.dtype == np.int64 and a.tolist() == [[1, 7], [3, 4]]
    assert s.dtype == object and s.tolist() == [[b'a "q", b', b"dflt"], [b"x", b"dflt"]]
    assert f.dtype == np.float32 and f.tolist() == [[2.5, 0.5], [0.5, 1000.0]]
    (one,) = inputpipe.decode_csv(b"12", [np.float64])
    assert one.shape == () and one.dtype == np.float64 and float(one) == 12.0
    (na,) = inputpipe.decode_csv([b"NA", b"3"], [-1], na_value="NA")
    assert na.dtype == np.int32 and na.tolist() == [-1, 3]


def test_decode_csv_select_cols_and_delim():
    x, z = inputpipe.decode_csv(["1|2|3", "4|5|6"], [0, 0], field_delim="|", select_cols=[0, 2])
    assert x.tolist() == [1, 4] and z.tolist() == [3, 6]


def test_decode_csv_errors_name_the_record():
    with pytest.raises(ValueError,
                       match=r"record 1 \('1'\): expected 2 fields but the record has 1"):
        inputpipe.decode_csv([b"1,2", b"1"], [0, 0])
    with pytest.raises(ValueError, match=r"record 0 \(',2'\): field 0 is required"):
        inputpipe.decode_csv([b",2"], [np.int32, 0])
    with pytest.raises(ValueError, match=r"record 0 .*field 0: 'x' is not an integer"):
        inputpipe.decode_csv([b"x"], [0])
    with pytest.raises(ValueError, match=r"unquoted field has a quote"):
        inputpipe.decode_csv([b'a"b'], [""])
    with pytest.raises(ValueError, match=r"out of the range of int32"):
        inputpipe.decode_csv([b"3000000000"], [0])


def test_decode_csv_in_a_map_over_lines(tmp_path):
    path = _write(tmp_path, "l.csv", "1,a\n2,b\n")
    ds = inputpipe.TextLineDataset([path]).map(lambda line: tuple(
        inputpipe.decode_csv(line, [0, ""])))
    assert [(int(a), bytes(s)) for a, s in ds] == [(1, b"a"), (2, b"b")]


# ---- TensorFlow, where installed -------------------------------------------------------------
def test_same_as_tensorflow(two_files):
    tf = pytest.importorskip("tensorflow")
    ours = list(inputpipe.make_csv_dataset(two_files, batch_size=3, num_epochs=1, shuffle=False,
                                           label_name="f64"))
    theirs = list(tf.data.experimental.make_csv_dataset(two_files, batch_size=3, num_epochs=1,
                                                        shuffle=False, label_name="f64"))
    assert len(ours) == len(theirs)
    for (of, ol), (tf_f, tl) in zip(ours, theirs):
        assert ol.dtype == tl.numpy().dtype and ol.tolist() == tl.numpy().tolist()
        assert sorted(of) == sorted(tf_f)
        for key in of:
            want = tf_f[key].numpy()
            got = of[key]
            assert (got.dtype == want.dtype) or (got.dtype == object and want.dtype == object)
            assert got.tolist() == want.tolist(), key
    records = [b'1,"a ""q"", b",2.5', b",,", b"3,x,"]
    defaults = [np.int64(7), "dflt", 0.5]
    want = tf.io.decode_csv(records, [[tf.constant(7, tf.int64)], ["dflt"], [0.5]])
    for got, w in zip(inputpipe.decode_csv(records, defaults), want):
        assert got.tolist() == w.numpy().tolist()


# ---- FixedLenSequenceFeature and SequenceExample ---------------------------------------------
_example = example_records.example
_sequence_example = example_records.sequence_example


def test_fixed_len_sequence_feature_in_examples():
    features = {"pts": inputpipe.FixedLenSequenceFeature([2], "float32", allow_missing=True),
                "w": inputpipe.FixedLenSequenceFeature([], "string", allow_missing=True,
                                                       default_value="pad")}
    one = _example({"pts": [1.0, 2.0, 3.0, 4.0], "w": [b"a"]})
    single = inputpipe.parse_single_example(one, features)
    assert single["pts"].tolist() == [[1, 2], [3, 4]] and single["w"].tolist() == [b"a"]
    batch = inputpipe.parse_example([_example({}), one], features)
    assert batch["pts"].shape == (2, 2, 2) and batch["pts"].dtype == np.float32
    assert batch["pts"].tolist() == [[[0, 0], [0, 0]], [[1, 2], [3, 4]]]
    assert batch["w"].tolist() == [[b"pad"], [b"a"]]
    with pytest.raises(ValueError, match="3 float32 values are not a whole number of steps"):
        inputpipe.parse_example([_example({"pts": [1.0, 2.0, 3.0]})], features)
    ds = inputpipe.Dataset.from_tensor_slices(np.asarray([one, _example({})], dtype=object))
    parsed = list(ds.apply(inputpipe.parse_single_example_fn(features)))
    assert [p["pts"].shape for p in parsed] == [(2, 2), (0, 2)]


SEQ_CONTEXT = {"id": inputpipe.FixedLenFeature([], "int64"),
               "lang": inputpipe.VarLenFeature("string")}
SEQ_LISTS = {"tok": inputpipe.FixedLenSequenceFeature([], "int64", allow_missing=True),
             "emb": inputpipe.FixedLenSequenceFeature([2], "float32", allow_missing=True),
             "tags": inputpipe.VarLenFeature("string")}


def _seq_records():
    return [_sequence_example({"id": [7], "lang": [b"en"]},
                              {"tok": [[3], [1], [4]], "emb": [[0.5, 1.5]],
                               "tags": [[b"a"], None, [b"b", b"c"]]}),
            _sequence_example({"id": [8]}, {"tok": [[9]]})]


def test_parse_single_sequence_example():
    context, lists = inputpipe.parse_single_sequence_example(_seq_records()[0], SEQ_CONTEXT,
                                                             SEQ_LISTS)
    assert int(context["id"]) == 7 and context["lang"]["values"].tolist() == [b"en"]
    assert lists["tok"].dtype == np.int64 and lists["tok"].tolist() == [3, 1, 4]
    assert lists["emb"].tolist() == [[0.5, 1.5]]
    assert lists["tags"]["indices"].tolist() == [[0, 0], [2, 0], [2, 1]]
    assert lists["tags"]["values"].tolist() == [b"a", b"b", b"c"]
    assert lists["tags"]["dense_shape"].tolist() == [3, 2]
    _, missing = inputpipe.parse_single_sequence_example(_seq_records()[1], None, SEQ_LISTS)
    assert missing["emb"].shape == (0, 2) and missing["tags"]["dense_shape"].tolist() == [0, 0]
    with pytest.raises(ValueError, match="feature list 'emb' is required"):
        inputpipe.parse_single_sequence_example(
            _seq_records()[1], None, {"emb": inputpipe.FixedLenSequenceFeature([2], "float32")})
    with pytest.raises(ValueError, match=r"feature list 'emb', step 0: expected 2 float32"):
        inputpipe.parse_single_sequence_example(
            _sequence_example({}, {"emb": [[1.0]]}), None, SEQ_LISTS)


def test_parse_sequence_example_batch():
    context, lists, lengths = inputpipe.parse_sequence_example(_seq_records(), SEQ_CONTEXT,
                                                               SEQ_LISTS)
    assert context["id"].tolist() == [7, 8]
    assert lists["tok"].tolist() == [[3, 1, 4], [9, 0, 0]]
    assert lengths["tok"].tolist() == [3, 1] and lengths["emb"].tolist() == [1, 0]
    assert lists["emb"].shape == (2, 1, 2)
    assert lists["tags"]["indices"].tolist() == [[0, 0, 0], [0, 2, 0], [0, 2, 1]]
    assert lists["tags"]["dense_shape"].tolist() == [2, 3, 2]


def test_sequence_examples_same_as_tensorflow():
    tf = pytest.importorskip("tensorflow")
    records = _seq_records()
    tf_context = {"id": tf.io.FixedLenFeature([], tf.int64),
                  "lang": tf.io.VarLenFeature(tf.string)}
    tf_lists = {"tok": tf.io.FixedLenSequenceFeature([], tf.int64, allow_missing=True),
                "emb": tf.io.FixedLenSequenceFeature([2], tf.float32, allow_missing=True),
                "tags": tf.io.VarLenFeature(tf.string)}
    tc, tl, tn = tf.io.parse_sequence_example(records, tf_context, tf_lists)
    oc, ol, on = inputpipe.parse_sequence_example(records, SEQ_CONTEXT, SEQ_LISTS)
    assert oc["id"].tolist() == tc["id"].numpy().tolist()
    for key in ("tok", "emb"):
        assert ol[key].tolist() == tl[key].numpy().tolist(), key
        assert on[key].tolist() == tn[key].numpy().tolist(), key
    assert ol["tags"]["indices"].tolist() == tl["tags"].indices.numpy().tolist()
    assert ol["tags"]["values"].tolist() == tl["tags"].values.numpy().tolist()
    assert ol["tags"]["dense_shape"].tolist() == tl["tags"].dense_shape.numpy().tolist()
    sc, sl = tf.io.parse_single_sequence_example(records[0], tf_context, tf_lists)
    oc1, ol1 = inputpipe.parse_single_sequence_example(records[0], SEQ_CONTEXT, SEQ_LISTS)
    assert ol1["emb"].tolist() == sl["emb"].numpy().tolist()
    assert ol1["tags"]["indices"].tolist() == sl["tags"].indices.numpy().tolist()
    ex = tf.train.Example.FromString(_example({"pts": [1.0, 2.0, 3.0, 4.0]}))
    want = tf.io.parse_example([ex.SerializeToString(), _example({})], {
        "pts": tf.io.FixedLenSequenceFeature([2], tf.float32, allow_missing=True)})
    got = inputpipe.parse_example([ex.SerializeToString(), _example({})], {
        "pts": inputpipe.FixedLenSequenceFeature([2], "float32", allow_missing=True)})
    assert got["pts"].tolist() == want["pts"].numpy().tolist()
