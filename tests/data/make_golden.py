"""Generates the golden files of the reader tests with TensorFlow itself.

Run once, by hand, with TensorFlow installed in a separate virtual environment (it is never
needed by the tests or by CI):

    python3 -m venv .tfvenv && .tfvenv/bin/pip install tensorflow-cpu
    .tfvenv/bin/python tests/data/make_golden.py

It writes, under tests/data/:
  csv/<case>.csv[.gz]     nasty CSV inputs (quotes, embedded newlines and delimiters, CRLF,
                          empty fields, headers, bad rows)
  csv/cases.txt           one line per case: its options, in the format read by the tests
  csv/<case>.expected     tf.data.experimental.CsvDataset's output, one line per record
  text/lines.txt          CRLF / LF / CR / no final newline; text/lines.expected: TextLineDataset
  tfrecord/examples.tfrecord[.gz|.zlib]  tf.train.Example records written by tf.io.TFRecordWriter
  tfrecord/records.expected  the records as TFRecordDataset returns them
  tfrecord/parse_single.expected / parse_batch.expected: tf.io.parse_single_example /
                          parse_example outputs for the feature spec below

Canonical value text (shared by the C++ and Python tests):
  a record or a parse result is a list of "key dtype shape values..." lines (keys "0", "1", ...
  for tuple items, "a.b" for nested dicts), values being: int decimal, float32 as 8 hex digits
  of its bits, float64 as 16, string as lowercase hex bytes ("-" when empty); a record TensorFlow
  rejected is the single word ERROR. Records are separated by a line "--".
"""
import gzip
import os
import struct
import zlib

import numpy as np
import tensorflow as tf

HERE = os.path.dirname(os.path.abspath(__file__))


def encode_value(dtype, v):
    if dtype in ("int32", "int64"):
        return str(int(v))
    if dtype == "float32":
        return "%08x" % struct.unpack("<I", struct.pack("<f", float(v)))[0]
    if dtype == "float64":
        return "%016x" % struct.unpack("<Q", struct.pack("<d", float(v)))[0]
    if dtype == "string":
        return v.hex() if v else "-"
    raise ValueError(dtype)


def tensor_line(key, t):
    a = t.numpy() if hasattr(t, "numpy") else t
    # Strings as objects: numpy's fixed-width bytes ('S') would drop trailing NUL bytes.
    a = np.array(a, dtype=object) if isinstance(a, bytes) else np.asarray(a)
    dtype = {"int32": "int32", "int64": "int64", "float32": "float32", "float64": "float64"}.get(
        str(a.dtype), "string")
    shape = "[" + ",".join(str(d) for d in a.shape) + "]"
    values = [encode_value(dtype, v) for v in a.reshape(-1)]
    return " ".join([key, dtype, shape] + values)


def element_lines(element, prefix=""):
    """Flattens tuples / dicts / SparseTensors into canonical lines, sorted by key."""
    lines = []
    if isinstance(element, tf.sparse.SparseTensor):
        element = {"indices": element.indices, "values": element.values,
                   "dense_shape": element.dense_shape}
    if isinstance(element, dict):
        for k in element:
            lines += element_lines(element[k], prefix + k + ".")
    elif isinstance(element, (tuple, list)):
        for i, v in enumerate(element):
            lines += element_lines(v, prefix + str(i) + ".")
    else:
        lines.append(tensor_line(prefix[:-1], element))
    return sorted(lines)


def run(ds):
    """The dataset's records as canonical text; a record that raised is ERROR."""
    out = []
    it = iter(ds)
    for _ in range(10000):
        try:
            e = next(it)
        except StopIteration:
            break
        except tf.errors.OpError:
            out.append("ERROR")
            continue
        out.append("\n".join(element_lines(e)))
    return "".join(r + "\n--\n" for r in out)


# ---- CSV ----------------------------------------------------------------------------------
CSV_FILES = {
    "quoted": (b'id,name,score,note\r\n'
               b'1,"Smith, John",3.5,"said ""hi"""\r\n'
               b'2,,,\r\n'
               b'3,"multi\nline\r\nfield",-1e3,plain\r\n'
               b'4,"",+7, spaced \r\n'
               b'5,"a,b,c",.25,""""\r\n'),
    "numbers": (b' 12 ,+5,1e400,nan\n'
                b'-3,9223372036854775807,-inf,1.5e-50\n'
                b'1.5,1,1,1\n'
                b'2147483648,1,1,1\n'
                b'1,9223372036854775808,1,1\n'
                b'1,2,0x10,1\n'
                b'1,2,3,abc\n'
                b'7,8,Infinity,-0\n'
                b'\t8\t,-0,1e-50,1e-400\n'),
    "select": (b'a,1,x,2.5,extra\n'
               b'b,2,y,3.5\n'
               b'c,3\n'
               b'd,4,z,4.5,more,andmore\n'),
    "na": (b'1,NA,x\n'
           b'NA,2,y\n'
           b'3,4,NA\n'
           b'"NA",5,z\n'),
    "semicolon": (b'a;"b;c";1\n'
                  b'"q""uote";d;2\n'
                  b'e;f\xc3\xa9;3'),
    "noquote": (b'a"b,"c",1\n'
                b'"d,e,2\n'),
    "breaks": (b'1,2\r'
               b'3,4\n'
               b'\n'
               b'5,6\r\n'
               b'\r\n'
               b'7,8'),
    "onecol": (b'1\n'
               b'\n'
               b'3\r\n'
               b'\n'),
    "badquotes": (b'1,a"b\n'
                  b'2,"c"d\n'
                  b'3,"ok"\n'
                  b'4,"x""y"z"\n'
                  b'5,fine\n'),
    "unterminated": (b'1,a\n'
                     b'2,"open\n'
                     b'3,b\n'),
    "counts": (b'1,2,3\n'
               b'1,2\n'
               b'1,2,3,4\n'
               b',2,3\n'
               b'1,2,\n'),
}

# name -> (file, record_defaults, options). record_defaults entries: "dtype" (required) or
# "dtype:default" (the default text has no spaces or commas).
CSV_CASES = [
    ("quoted", "quoted.csv", ["int64", "string:anon", "float32:0", "string:"], {"header": True}),
    ("quoted_gzip", "quoted.csv.gz", ["int64", "string:anon", "float32:0", "string:"],
     {"header": True, "compression": "GZIP"}),
    ("numbers", "numbers.csv", ["int32", "int64", "float64", "float32"], {}),
    ("select", "select.csv", ["string", "float64:-1"], {"select_cols": [0, 3]}),
    ("exclude", "select.csv", ["string", "int64", "float32:0"], {"exclude_cols": [2, 4, 5]}),
    ("na", "na.csv", ["int64:-1", "int64:-2", "string:missing"], {"na_value": "NA"}),
    ("semicolon", "semicolon.csv", ["string", "string", "int64"], {"field_delim": ";"}),
    ("noquote", "noquote.csv", ["string", "string", "string:"], {"use_quote_delim": False}),
    ("breaks", "breaks.csv", ["int64", "int64"], {}),
    ("onecol", "onecol.csv", ["int64:-1"], {}),
    ("badquotes", "badquotes.csv", ["int64", "string"], {}),
    ("unterminated", "unterminated.csv", ["int64", "string"], {}),
    ("counts", "counts.csv", ["int64", "int64", "int64:0"], {}),
]

TF_DTYPES = {"int32": tf.int32, "int64": tf.int64, "float32": tf.float32,
             "float64": tf.float64, "string": tf.string}


def tf_default(spec):
    if ":" not in spec:
        return TF_DTYPES[spec]
    dtype, value = spec.split(":", 1)
    if dtype == "string":
        return tf.constant([value], tf.string)
    return tf.constant([float(value) if dtype.startswith("float") else int(value)],
                       TF_DTYPES[dtype])


def make_csv():
    d = os.path.join(HERE, "csv")
    os.makedirs(d, exist_ok=True)
    for name, data in CSV_FILES.items():
        with open(os.path.join(d, name + ".csv"), "wb") as f:
            f.write(data)
    with open(os.path.join(d, "quoted.csv.gz"), "wb") as f:
        f.write(gzip.compress(CSV_FILES["quoted"], mtime=0))
    lines = []
    for name, fname, defaults, opts in CSV_CASES:
        ds = tf.data.experimental.CsvDataset(
            [os.path.join(d, fname)], [tf_default(s) for s in defaults],
            compression_type=opts.get("compression"), header=opts.get("header", False),
            field_delim=opts.get("field_delim", ","),
            use_quote_delim=opts.get("use_quote_delim", True), na_value=opts.get("na_value", ""),
            select_cols=opts.get("select_cols"), exclude_cols=opts.get("exclude_cols"))
        text = run(ds)
        if name.endswith("_gzip"):
            # Once, TensorFlow 2.21 returned only the first 2 records of the gzip file; the
            # compressed case must read exactly like the uncompressed one.
            with open(os.path.join(d, name[:-len("_gzip")] + ".expected")) as f:
                assert f.read() == text, "CsvDataset read the gzip file differently"
        with open(os.path.join(d, name + ".expected"), "w") as f:
            f.write(text)
        fields = [name, fname, "defaults=" + ",".join(defaults),
                  "header=%d" % opts.get("header", False),
                  "delim=%d" % ord(opts.get("field_delim", ",")),
                  "quote=%d" % opts.get("use_quote_delim", True),
                  "na=" + opts.get("na_value", ""),
                  "select=" + ",".join(map(str, opts.get("select_cols", []))),
                  "exclude=" + ",".join(map(str, opts.get("exclude_cols", []))),
                  "compression=" + opts.get("compression", "")]
        lines.append(" ".join(fields))
    with open(os.path.join(d, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


# ---- Text lines ---------------------------------------------------------------------------
def make_text():
    d = os.path.join(HERE, "text")
    os.makedirs(d, exist_ok=True)
    data = b"first\r\nsecond\n\nthird\rstill third\n\r\nlast\r"
    path = os.path.join(d, "lines.txt")
    with open(path, "wb") as f:
        f.write(data)
    with open(os.path.join(d, "lines.expected"), "w") as f:
        f.write(run(tf.data.TextLineDataset([path])))


# ---- TFRecord and tf.train.Example --------------------------------------------------------
def examples():
    def i64(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=v))

    def flt(v):
        return tf.train.Feature(float_list=tf.train.FloatList(value=v))

    def byt(v):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=v))

    rows = [
        {"label": i64([7]), "floats": flt([1.5, -2.25, 3e38]), "name": byt([b"alpha"]),
         "tokens": byt([b"a", b"bb"]), "ids": i64([1, -2, 2**62])},
        {"label": i64([-9223372036854775808]), "floats": flt([0.0, -0.0, 1e-45]),
         "tokens": byt([]), "ids": i64([])},
        {"floats": flt([float("inf"), float("-inf"), 0.1]), "name": byt([b"\x00\xff binary"]),
         "ids": i64([5]), "extra": flt([9.0])},
        {"label": i64([0]), "floats": flt([1, 2, 3]), "name": byt([b""]),
         "tokens": byt([b"x" * 300, b"", b"z"]), "ids": i64([0, 0, 0, 0])},
    ]
    return [tf.train.Example(features=tf.train.Features(feature=r)).SerializeToString()
            for r in rows]


FEATURES = {
    "label": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    "floats": tf.io.FixedLenFeature([3], tf.float32),
    "name": tf.io.FixedLenFeature([], tf.string, default_value=b"unknown"),
    "tokens": tf.io.VarLenFeature(tf.string),
    "ids": tf.io.VarLenFeature(tf.int64),
}


def make_tfrecord():
    d = os.path.join(HERE, "tfrecord")
    os.makedirs(d, exist_ok=True)
    records = examples()
    for suffix, compression in (("", None), (".gz", "GZIP"), (".zlib", "ZLIB")):
        path = os.path.join(d, "examples.tfrecord" + suffix)
        with tf.io.TFRecordWriter(path, options=compression) as w:
            for r in records:
                w.write(r)
        got = [bytes(x.numpy()) for x in tf.data.TFRecordDataset([path], compression_type=compression)]
        assert got == records, suffix
    with open(os.path.join(d, "records.expected"), "w") as f:
        f.write(run(tf.data.TFRecordDataset([os.path.join(d, "examples.tfrecord")])))
    with open(os.path.join(d, "parse_single.expected"), "w") as f:
        for r in records:
            f.write("\n".join(element_lines(tf.io.parse_single_example(r, FEATURES))) + "\n--\n")
    with open(os.path.join(d, "parse_batch.expected"), "w") as f:
        f.write("\n".join(element_lines(tf.io.parse_example(tf.constant(records), FEATURES))) + "\n--\n")


if __name__ == "__main__":
    make_csv()
    make_text()
    make_tfrecord()
    print("golden files written under", HERE)
