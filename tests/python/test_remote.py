"""Remote files against a real S3 server (moto, in a child process on 127.0.0.1) behind a proxy
that injects faults: every reader, list_files with globs, global shuffle over an indexed remote
CSV, the store's ETag as the file identity, http:// reads, faults retried then reported with the
object and the offset, bad input named at build, no credential in a message, and the error
that says what to install when fsspec is missing. The hook on S3: test_remote_hook.py."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("moto")
pytest.importorskip("s3fs")

import inputpipe  # noqa: E402
import s3_server  # noqa: E402

BLOCK = 64 << 10  # small blocks, so that the test files span many of them


@pytest.fixture(scope="module")
def s3():
    mp = pytest.MonkeyPatch()
    for k, v in s3_server.CREDENTIALS.items():
        mp.setenv(k, v)
    with s3_server.MotoServer() as moto, s3_server.FaultProxy(moto.url) as proxy:
        store = inputpipe.remote.FsspecFileSystem("s3", **proxy.storage_options())
        store.read_block_size = BLOCK
        store.random_block_size = 16 << 10
        store.initial_backoff_s = 0.01
        inputpipe.register_file_system("s3", store)
        fs = s3_server.single_attempt(store)
        s3_server.create_bucket(moto.url, "data")
        proxy.moto_url = moto.url
        proxy.fs = fs
        proxy.store = store
        try:
            yield proxy
        finally:
            inputpipe.remote.register("s3")
            mp.undo()


@pytest.fixture(autouse=True)
def _no_faults(request):
    if "s3" in request.fixturenames:
        request.getfixturevalue("s3").clear()


def _lines(n):
    return "".join(f"line {i} {'x' * (i % 50)}\n" for i in range(n)).encode()


def _csv(n):
    return ("a,b,c\n" + "".join(f"{i},{i * 0.5},name{i}\n" for i in range(n))).encode()


def _tfrecord(tmp_path, n, compression=None):
    path = str(tmp_path / f"r{compression or ''}.tfrecord")
    with inputpipe.TFRecordWriter(path, compression) as w:
        for i in range(n):
            w.write(b"record-%d-" % i + b"y" * (i % 300))
    with open(path, "rb") as f:
        return f.read()


def _put(s3, key, data):
    s3.fs.pipe_file(f"data/{key}", data)
    return f"s3://data/{key}"


def _values(ds):
    out = []
    for e in ds:
        out.append(tuple(np.asarray(v).tolist() for v in e) if isinstance(e, tuple)
                   else np.asarray(e).tolist())
    return out


def test_readers_deliver_the_same_as_local(s3, tmp_path):
    lines = _lines(20000)  # ~0.8 MB: a dozen blocks
    local = tmp_path / "lines.txt"
    local.write_bytes(lines)
    remote = _put(s3, "lines.txt", lines)
    assert _values(inputpipe.TextLineDataset(remote)) == _values(inputpipe.TextLineDataset(str(local)))

    for compression in (None, "GZIP"):
        data = _tfrecord(tmp_path, 3000, compression)
        remote = _put(s3, f"r{compression}.tfrecord", data)
        got = _values(inputpipe.TFRecordDataset(remote, compression_type=compression))
        assert len(got) == 3000 and got[2999] == b"record-2999-" + b"y" * (2999 % 300)

    csv = _csv(5000)
    (tmp_path / "rows.csv").write_bytes(csv)
    remote = _put(s3, "rows.csv", csv)
    defaults = [np.int64, np.float64, np.bytes_]
    assert (_values(inputpipe.CsvDataset(remote, defaults, header=True))
            == _values(inputpipe.CsvDataset(str(tmp_path / "rows.csv"), defaults, header=True)))
    # Blocks, not records: the 0.8 MB file took about size / block requests.
    s3.clear()
    list(inputpipe.TextLineDataset(_put(s3, "lines2.txt", lines)))
    gets = s3.count("GET", "/data/lines2.txt")
    assert gets <= len(lines) // BLOCK + 3, gets


def test_tfrecord_writer_puts_one_object(s3):
    s3.clear()
    with inputpipe.TFRecordWriter("s3://data/written.tfrecord", "GZIP") as w:
        for i in range(500):
            w.write(b"r%d" % i)
    assert [m for m, p, _ in s3.requests if "written" in p] == ["PUT"]
    got = _values(inputpipe.TFRecordDataset("s3://data/written.tfrecord", compression_type="GZIP"))
    assert got == [b"r%d" % i for i in range(500)]


def test_exact_resume_over_a_remote_file(s3):
    remote = _put(s3, "resume.txt", _lines(5000))
    ds = inputpipe.TextLineDataset(remote).batch(7)
    it = iter(ds)
    for _ in range(300):
        next(it)
    state = it.save()
    rest = _values(it)
    it2 = iter(ds)
    it2.restore(state)
    assert _values(it2) == rest


def test_list_files_with_globs_is_one_listing(s3):
    for name in ("g/a-1.csv", "g/a-2.csv", "g/b-1.csv", "g/sub/a-3.csv", "g/notes.txt"):
        _put(s3, name, b"x\n")
    s3.clear()
    files = [f.decode() for f in inputpipe.Dataset.list_files("s3://data/g/a-*.csv", shuffle=False)]
    assert files == ["s3://data/g/a-1.csv", "s3://data/g/a-2.csv"]
    assert s3.count("GET") <= 2, s3.requests  # a prefix listing, not a walk
    files = [f.decode() for f in inputpipe.Dataset.list_files("s3://data/g/*/a-?.csv", shuffle=False)]
    assert files == ["s3://data/g/sub/a-3.csv"]
    lines = _values(inputpipe.TextLineDataset(inputpipe.Dataset.list_files("s3://data/g/*.csv")))
    assert lines == [b"x"] * 3


def test_global_shuffle_over_an_indexed_remote_csv(s3, tmp_path):
    csv = _csv(3000)
    (tmp_path / "rows.csv").write_bytes(csv)
    remote = _put(s3, "shuffled.csv", csv)
    defaults = [np.int64, np.float64, np.bytes_]

    def pipeline(path, sidecar=False):
        return (inputpipe.CsvDataset(path, defaults, header=True, index=True, index_sidecar=sidecar)
                .shuffle(seed=7))  # no buffer: a global shuffle

    remote_rows = _values(pipeline(remote, sidecar=True))
    assert remote_rows == _values(pipeline(str(tmp_path / "rows.csv")))
    assert sorted(r[0] for r in remote_rows) == list(range(3000))
    assert s3.fs.exists("data/shuffled.csv.ipidx")  # the sidecar, written as one object
    it = iter(pipeline(remote, sidecar=True))
    for _ in range(1234):
        next(it)
    state = it.save()
    rest = _values(it)
    it2 = iter(pipeline(remote, sidecar=True))
    it2.restore(state)
    assert _values(it2) == rest


def test_identity_is_the_stores_etag(s3):
    remote = _put(s3, "ident.txt", _lines(1000))
    st = s3.fs.info("data/ident.txt")
    assert inputpipe.remote._content_identity(st).startswith("ETag:")
    ds = inputpipe.TextLineDataset(remote)
    it = iter(ds)
    next(it)
    state = it.save()
    _put(s3, "ident.txt", _lines(1000))  # the same bytes again: the same ETag, restores
    it2 = iter(ds)
    it2.restore(state)
    assert np.asarray(next(it2)).tolist() == b"line 1 x"
    changed = bytearray(_lines(1000))
    changed[-5] ^= 1  # same size, other bytes: another ETag
    _put(s3, "ident.txt", bytes(changed))
    it3 = iter(inputpipe.TextLineDataset(remote))
    with pytest.raises(ValueError, match="ident.txt"):
        it3.restore(state)


def test_faults_are_retried_and_nothing_wrong_is_delivered(s3):
    data = _lines(20000)
    remote = _put(s3, "faults.txt", data)
    expected = data.decode().splitlines()
    for kind in ("reset", "500", "slow"):
        s3.clear()
        s3.inject(kind, times=2, path="/data/faults.txt", delay=0.3)
        got = [x.decode() for x in _values(inputpipe.TextLineDataset(remote))]
        assert got == expected, kind


def test_a_persistent_fault_names_the_object_and_the_offset(s3):
    data = _lines(20000)
    remote = _put(s3, "broken.txt", data)
    expected = data.decode().splitlines()
    cut = len(data) // 3  # every GET's body breaks at this byte of the object
    s3.inject("cut", times=-1, path="/data/broken.txt", at=cut)
    got = []
    with pytest.raises(OSError) as e:
        for line in inputpipe.TextLineDataset(remote):
            got.append(line.decode())
    message = str(e.value)
    print(message)
    assert "s3://data/broken.txt" in message and "at byte" in message
    # The request and its status, never the signed URL.
    assert "HTTP 206" in message and "Signature" not in message, message
    # The block that broke, at or before the cut (aiohttp may drop what it buffered before the
    # reset, so an attempt can fail before reaching the cut).
    where = re.search(r"bytes (\d+)\.\.(\d+), after 4 attempts", message)
    assert where, message
    first = int(where.group(1))
    assert first % BLOCK == 0 and first <= cut < len(data), (first, cut)
    assert got == expected[: len(got)]  # a prefix of the truth, nothing made up
    # Bounded: at most 4 attempts (each one stream opened) for each block before the cut.
    assert s3.count("GET", "/data/broken.txt") <= 4 * (cut // BLOCK + 1)


def test_a_reset_mid_stream_resumes_at_the_block_it_broke_in(s3):
    """Sequential reads take their blocks from one streaming GET (not one GET per block); a
    reset mid-body reopens the stream at the offset of the block being read, once."""
    data = _lines(40000)  # about 19 blocks
    remote = _put(s3, "stream.txt", data)
    s3.inject("reset", times=1, path="/data/stream.txt")  # half the body, then a reset
    got = b"".join(x + b"\n" for x in _values(inputpipe.TextLineDataset(remote)))
    assert got == data
    ranges = [r for m, p, r in s3.requests if m == "GET" and "/data/stream.txt" in p]
    assert len(ranges) == 2, ranges
    assert ranges[0] == "bytes=0-", ranges
    resumed = int(ranges[1][len("bytes="):-1])
    assert ranges[1].endswith("-") and resumed % BLOCK == 0
    assert 0 < resumed <= len(data) // 2, (resumed, len(data))


@pytest.fixture
def socket_bodies(monkeypatch):
    """What each stream body the engine took over to read from the socket itself is called in
    errors (the request, its offset and status)."""
    taken = []
    original = inputpipe.remote._HttpBody.socket_body

    def socket_body(self):
        out = original(self)
        if out is not None:
            taken.append(out[4])
        return out

    monkeypatch.setattr(inputpipe.remote._HttpBody, "socket_body", socket_body)
    return taken


def test_a_body_read_from_the_socket_and_reset_mid_way_resumes_at_its_block(s3, tmp_path,
                                                                           socket_bodies):
    """Over plain HTTP the engine reads a stream's body from the socket, without the GIL; a
    reset mid-body reopens the stream at the offset of the block it broke in, and the records
    are exact: none lost, none repeated, none made of the broken body's bytes."""
    data = _tfrecord(tmp_path, 12000)  # about 30 blocks
    remote = _put(s3, "socket.tfrecord", data)
    expected = _values(inputpipe.TFRecordDataset(str(tmp_path / "r.tfrecord")))
    s3.clear()
    s3.inject("reset", times=1, path="/data/socket.tfrecord")  # half the body, then a reset
    assert _values(inputpipe.TFRecordDataset(remote)) == expected
    ranges = [r for m, p, r in s3.requests if m == "GET" and "/data/socket.tfrecord" in p]
    assert len(ranges) == 2 and ranges[0] == "bytes=0-", ranges
    resumed = int(ranges[1][len("bytes="):-1])
    assert resumed % BLOCK == 0 and 0 < resumed <= len(data) // 2, (resumed, len(data))
    assert socket_bodies == [f"GET s3://data/socket.tfrecord from byte {o}: HTTP 206"
                             for o in (0, resumed)]


def test_without_socket_reads_the_stream_is_read_by_http_client(s3, tmp_path, socket_bodies):
    store = inputpipe.remote.FsspecFileSystem("s3", **s3.storage_options())
    store.read_block_size = BLOCK
    store.socket_streams = False
    data = _tfrecord(tmp_path, 2000)
    remote = _put(s3, "readinto.tfrecord", data)
    inputpipe.register_file_system("s3", store)
    try:
        got = _values(inputpipe.TFRecordDataset(remote))
    finally:
        inputpipe.register_file_system("s3", s3.store)
    assert got == _values(inputpipe.TFRecordDataset(str(tmp_path / "r.tfrecord")))
    assert socket_bodies == []


def test_http_is_read_only(s3, socket_bodies):
    data = _lines(3000)
    url = s3_server.put_public(s3.moto_url, "data", "public.txt", data)
    assert [x.decode() for x in _values(inputpipe.TextLineDataset(url))] == data.decode().splitlines()
    # An http:// file of many blocks is one streaming GET (through the proxy, to count them).
    data = _lines(20000)
    s3_server.put_public(s3.moto_url, "data", "public2.txt", data)
    s3.clear()
    url = f"{s3.url}/data/public2.txt"
    got = [x.decode() for x in _values(inputpipe.TextLineDataset(url))]
    assert got == data.decode().splitlines()
    assert s3.count("GET", "/data/public2.txt") == 1, s3.requests
    assert socket_bodies[-1] == f"GET {url} from byte 0: HTTP 206"
    with pytest.raises(OSError, match="read only"):
        inputpipe.write_file(f"{s3.moto_url}/data/new.txt", b"x")


def test_missing_bucket_and_object_fail_at_build_naming_the_path(s3):
    # A streaming reader opens its files when it reaches them (as tf.data): the first next().
    with pytest.raises(OSError, match="s3://no-such-bucket/a.tfrecord"):
        next(iter(inputpipe.TFRecordDataset("s3://no-such-bucket/a.tfrecord")))
    with pytest.raises(OSError, match="s3://data/missing.csv"):
        inputpipe.CsvDataset("s3://data/missing.csv", [np.int64], index=True)
    with pytest.raises(OSError, match="no-such-bucket"):
        inputpipe.Dataset.list_files("s3://no-such-bucket/*.csv", shuffle=False)


def test_permission_error_names_the_path_and_no_secret(s3):
    remote = _put(s3, "private.txt", b"a\nb\n")
    s3.inject("403", times=-1, method="HEAD", path="/data/private.txt")
    s3.inject("403", times=-1, method="GET", path="/data/private.txt")
    with pytest.raises(OSError) as e:
        list(inputpipe.TextLineDataset(remote))
    message = str(e.value)
    assert "s3://data/private.txt" in message
    assert "Permission" in message or "Forbidden" in message or "AccessDenied" in message, message
    assert s3_server.CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in message
    # A secret in the options, echoed by a failing library, is masked too.
    store = inputpipe.remote.FsspecFileSystem("s3", key="AKIDEXAMPLE", secret="hunter2-secret")
    assert "hunter2" not in repr(store)
    assert store._scrub("bad secret hunter2-secret in https://u:pw@host/x") == \
        "bad secret *** in https://***@host/x"


def test_without_fsspec_the_error_says_what_to_install():
    code = (
        "import sys; sys.modules['fsspec'] = None; sys.modules['s3fs'] = None\n"
        "import inputpipe\n"
        "try:\n"
        "    next(iter(inputpipe.TFRecordDataset('s3://bucket/train.tfrecord')))\n"
        "except OSError as e:\n"
        "    print('ERROR', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env=s3_server.environment())
    assert "ERROR" in out.stdout, out.stderr
    assert "s3://bucket/train.tfrecord" in out.stdout
    assert "pip install 'inputpipe[remote]'" in out.stdout, out.stdout


def test_parquet_over_s3_is_random_access_and_resumes_exactly(s3, tmp_path):
    """ParquetDataset reads an s3:// object through the same seam (ranged reads): the rows are
    the local file's, the global shuffle is exact across a save, and a fault mid-read is
    retried without a wrong row delivered."""
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    local = str(tmp_path / "t.parquet")
    table = pa.table({"id": np.arange(300, dtype=np.int64),
                      "name": [f"n{i}".encode() for i in range(300)]})
    pq.write_table(table, local, row_group_size=64)
    with open(local, "rb") as f:
        url = _put(s3, "t.parquet", f.read())

    rows = [(int(r["id"]), bytes(r["name"])) for r in inputpipe.ParquetDataset(url)]
    assert rows == [(int(r["id"]), bytes(r["name"])) for r in inputpipe.ParquetDataset(local)]

    ds = inputpipe.ParquetDataset(url).shuffle(seed=3).map(lambda r: r["id"])
    it = iter(ds)
    head = [int(next(it)) for _ in range(100)]
    state = it.save()
    rest = [int(x) for x in it]
    assert sorted(head + rest) == list(range(300))
    again = iter(ds)
    again.restore(state)
    assert [int(x) for x in again] == rest

    s3.inject("reset", times=1, path="/data/t.parquet")  # a reset mid-body: retried
    assert [int(r["id"]) for r in inputpipe.ParquetDataset(url)] == list(range(300))
    assert s3.faults[0][1] == 0, "the injected reset was never hit"


def test_an_s3_stream_reads_into_the_callers_buffer_and_names_the_path_on_errors(s3):
    """The body of a stream is read with readinto (a presigned GET read with http.client), from
    the offset asked; a refused or failing GET is an OSError naming the object and the offset,
    with neither the signed URL nor a secret in it."""
    data = os.urandom(300_000)
    remote = _put(s3, "body.bin", data)
    store = inputpipe.remote.FsspecFileSystem("s3", **s3.storage_options())
    body = store.open_stream(remote, 12_345)
    try:
        buffer = bytearray(100_000)
        assert body.readinto(buffer) == len(buffer)
        assert buffer == data[12_345:112_345]
        rest = bytearray(len(data))
        assert body.readinto(rest) == len(data) - 112_345  # short only at the end
        assert rest[: len(data) - 112_345] == data[112_345:]
    finally:
        body.close()
    for kind, error in (("403", PermissionError), ("500", OSError)):
        s3.inject(kind, times=1, path="/data/body.bin")
        with pytest.raises(error) as e:
            store.open_stream(remote, 4096)
        message = str(e.value)
        assert "s3://data/body.bin" in message and "from byte 4096" in message, message
        assert f"HTTP {kind}" in message, message
        assert "Signature" not in message and "testing" not in message, message


def test_parquet_over_s3_reads_a_row_group_in_one_request(s3, tmp_path, socket_bodies):
    """A Parquet row group's column chunks come in one ranged GET (pyarrow's pre_buffer, and the
    seam's random file passes a read of several blocks as one request), not one per block;
    each GET's body is read by the engine from the socket."""
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    local = str(tmp_path / "wide.parquet")
    rows, groups = 8192, 4
    table = pa.table({f"x{c}": np.arange(rows * groups, dtype=np.float64) + c for c in range(8)})
    pq.write_table(table, local, row_group_size=rows, compression="NONE")  # 512 KiB a group
    with open(local, "rb") as f:
        url = _put(s3, "wide.parquet", f.read())
    s3.clear()
    n = sum(len(b["x0"]) for b in inputpipe.ParquetDataset(url).batch(1000))
    assert n == rows * groups
    gets = s3.count("GET", "/data/wide.parquet")
    # The footer (a block or two of 16 KiB), then one GET per row group; block by block it
    # would be 32 per row group.
    assert gets <= groups + 3, gets
    assert len(socket_bodies) == gets, (socket_bodies, gets)
    # Row group after row group is a scan: from the second on, one stream read ahead.
    streams = [r for m, p, r in s3.requests if m == "GET" and "/data/wide.parquet" in p
               and r and r.endswith("-")]
    assert len(streams) == 1, s3.requests
