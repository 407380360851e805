"""gs:// paths against a real GCS JSON API server on 127.0.0.1 (gcp-storage-emulator, from PyPI:
a pure-Python emulator, in memory, that gcsfs speaks to through its endpoint_url): a streaming
and an indexed reader, list_files with a glob, the object's md5Hash as the file identity, a
write as one upload, and a missing object named. The S3 tests (test_remote.py) cover the faults;
these check that the gs:// wiring of inputpipe.remote reads and writes what it should."""

import os
import socket

import numpy as np
import pytest

# gcsfs, by default, first asks a gRPC control API for the bucket's type, which the emulator
# does not serve (a minute of timeouts); read when gcsfs is imported.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
pytest.importorskip("gcsfs")
emulator = pytest.importorskip("gcp_storage_emulator.server")

import inputpipe  # noqa: E402


@pytest.fixture(scope="module")
def gcs():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = emulator.create_server("127.0.0.1", port, in_memory=True, default_bucket="bkt")
    server.start()
    store = inputpipe.remote.register("gs", endpoint_url=f"http://127.0.0.1:{port}",
                                      token="anon", project="test")
    store.read_block_size = 64 << 10
    store.random_block_size = 16 << 10
    try:
        fs = store._filesystem()
        fs.store = store
        yield fs
    finally:
        inputpipe.remote.register("gs")
        server.stop()


def _lines(n):
    return "".join(f"line {i} {'x' * (i % 50)}\n" for i in range(n)).encode()


def test_gs_paths_read_list_identify_and_write(gcs, tmp_path):
    data = _lines(20000)  # several blocks of 64 KiB
    gcs.pipe_file("bkt/d/a.txt", data)
    gcs.pipe_file("bkt/d/b.txt", b"b\n")
    gcs.pipe_file("bkt/d/c.csv", b"a,b\n1,2\n3,4\n")
    got = [bytes(x) for x in inputpipe.TextLineDataset("gs://bkt/d/a.txt")]
    assert got == data.splitlines()

    files = [bytes(f).decode() for f in
             inputpipe.Dataset.list_files("gs://bkt/d/*.txt", shuffle=False)]
    assert files == ["gs://bkt/d/a.txt", "gs://bkt/d/b.txt"]

    rows = inputpipe.CsvDataset("gs://bkt/d/c.csv", [np.int64, np.int64], header=True,
                                index=True)
    assert [tuple(int(v) for v in r) for r in rows.shuffle(seed=1)] in (
        [(1, 2), (3, 4)], [(3, 4), (1, 2)])

    # The identity a state's fingerprint holds: the object's content hash.
    stat = gcs.store.stat("gs://bkt/d/a.txt")
    assert stat["size"] == len(data)
    assert stat["identity"] == "md5Hash:" + gcs.info("bkt/d/a.txt")["md5Hash"]

    inputpipe.write_file("gs://bkt/out/x.bin", b"\x00\x01" * 1000)  # one upload, no rename
    assert inputpipe.read_file("gs://bkt/out/x.bin") == b"\x00\x01" * 1000
    assert gcs.cat_file("bkt/out/x.bin") == b"\x00\x01" * 1000


def test_a_gs_file_of_many_blocks_is_one_streaming_get(gcs, monkeypatch):
    """Sequential reads of gs:// take their blocks from one GET of the media download (its
    body read by the engine from the socket), not a ranged read per block."""
    data = _lines(40000)  # about 30 blocks of 64 KiB
    gcs.pipe_file("bkt/d/stream.txt", data)
    calls = []

    def counted(name):
        method = getattr(type(gcs.store), name)

        def call(self, *args):
            calls.append(name)
            return method(self, *args)
        return call

    for name in ("open_stream", "read_range"):
        monkeypatch.setattr(type(gcs.store), name, counted(name))
    taken = []
    socket_body = inputpipe.remote._HttpBody.socket_body

    def taken_body(self):
        taken.append(socket_body(self))
        return taken[-1]

    monkeypatch.setattr(inputpipe.remote._HttpBody, "socket_body", taken_body)
    got = [bytes(x) for x in inputpipe.TextLineDataset("gs://bkt/d/stream.txt")]
    assert got == data.splitlines()
    assert calls == ["open_stream"], calls
    assert len(taken) == 1 and taken[0][4] == "GET gs://bkt/d/stream.txt from byte 0: HTTP 206"


def test_a_missing_gs_object_is_named(gcs):
    with pytest.raises(OSError, match="gs://bkt/d/missing.txt"):
        next(iter(inputpipe.TextLineDataset("gs://bkt/d/missing.txt")))
