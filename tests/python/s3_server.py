"""A real S3 server on 127.0.0.1 for the remote tests and the benchmark, and a proxy in front of
it that injects faults at the HTTP boundary.

    with MotoServer() as moto, FaultProxy(moto.url) as proxy:
        store = inputpipe.remote.register("s3", **proxy.storage_options())
        ...
        proxy.inject("reset", times=2, method="GET")   # the next 2 GETs: body cut mid-way

Why moto: it is the S3 API as botocore and s3fs speak it (ranged GETs, ETags, listings with
prefixes and delimiters, 403/404 error documents), it installs from PyPI in seconds with no
binary to download (MinIO is a Go binary, not on PyPI), and `moto[server]` runs it as a real
HTTP server, so the bytes cross a socket as they would to a cloud store. It runs in a child
process (its GIL is not the reader's) on a free port, and ends when the parent does: it waits
on its stdin, which closes when the parent exits, even by SIGKILL.
"""

import http.client
import http.server
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time

_LAUNCH = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
"""

# Credentials moto accepts (any); set so that botocore finds some without a ~/.aws.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret-value",
               "AWS_DEFAULT_REGION": "us-east-1"}


class MotoServer:
    def __init__(self):
        # Objects kept in memory, not spooled to temporary files past 5 MB: moto reads the whole
        # object for every ranged GET, from disk otherwise.
        env = dict(os.environ, MOTO_S3_DEFAULT_KEY_BUFFER_SIZE=str(1 << 30))
        self.process = subprocess.Popen([sys.executable, "-c", _LAUNCH], stdin=subprocess.PIPE,
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        text=True)
        assert self.process.stdout is not None and self.process.stdin is not None
        line = self.process.stdout.readline()
        if not line.strip():
            self.process.kill()
            raise RuntimeError("the moto server did not start")
        self.port = int(line)
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self):
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def storage_options(url):
    """s3fs options for the server at `url`. botocore's own retries are left at one attempt
    (and s3fs's too, by single_attempt), so that what the tests see is inputpipe's retrying
    (inputpipe/remote_file.h)."""
    return {"client_kwargs": {"endpoint_url": url},
            "config_kwargs": {"retries": {"max_attempts": 1}},
            "skip_instance_cache": True}


def _client(url):
    import boto3

    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])


def create_bucket(url, name):
    """Creates bucket `name` on the server at `url` (with boto3: s3fs's mkdir sends a location
    constraint that moto refuses for us-east-1)."""
    _client(url).create_bucket(Bucket=name)


def put_public(url, bucket, key, data):
    """Puts an object anyone may GET (moto refuses unsigned requests to private ones): what an
    http:// path reads. Returns its URL."""
    _client(url).put_object(Bucket=bucket, Key=key, Body=data, ACL="public-read")
    return f"{url}/{bucket}/{key}"


def single_attempt(store):
    """Makes the s3fs file system of `store` (an inputpipe.remote.FsspecFileSystem) try each
    request once; returns the s3fs file system."""
    fs = store._filesystem()
    fs.retries = 1
    return fs


_S3_ERROR = ("<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
             "<Message>{message}</Message></Error>")


class FaultProxy:
    """An HTTP proxy to `upstream` that forwards each request and, for those inject() picked,
    answers with a fault instead: "reset" (the response's headers and half its body, then a
    TCP reset), "cut" (the body up to byte `at` of the object, wherever the GET's range begins,
    then a TCP reset: a stream reopened before `at` breaks at the same byte again), "500" (an S3
    InternalError), "403" (AccessDenied) or "slow" (the real response after `delay` seconds)."""

    def __init__(self, upstream):
        self.upstream = upstream.split("://", 1)[1]
        self.lock = threading.Lock()
        self.faults = []  # [kind, times left, method, path fragment, delay, at]
        self.requests = []  # (method, path, range header) of every request
        self.puts_in_flight = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                proxy._handle(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def storage_options(self):
        return storage_options(self.url)

    def inject(self, kind, times=1, method="GET", path="", delay=1.0, at=0):
        with self.lock:
            self.faults.append([kind, times, method, path, delay, at])

    def clear(self):
        with self.lock:
            self.faults.clear()
            self.requests.clear()

    def count(self, method=None, path=""):
        with self.lock:
            return sum(1 for m, p, _ in self.requests
                       if (method is None or m == method) and path in p)

    def _pick(self, method, path, byte_range=None):
        with self.lock:
            self.requests.append((method, path, byte_range))
            for fault in self.faults:
                kind, times, m, fragment, delay, at = fault
                if times != 0 and m == method and fragment in path:
                    fault[1] = times - 1
                    return kind, delay, at
        return None, 0, 0

    def _handle(self, h):
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        kind, delay, at = self._pick(h.command, h.path, h.headers.get("Range"))
        if kind in ("500", "403"):
            code, name = (500, "InternalError") if kind == "500" else (403, "AccessDenied")
            payload = _S3_ERROR.format(code=name, message=f"injected {kind}").encode()
            h.send_response(code)
            h.send_header("Content-Type", "application/xml")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(payload)
            return
        with self.lock:
            self.puts_in_flight += h.command == "PUT"
        try:
            if kind == "slow":
                time.sleep(delay)
            conn = http.client.HTTPConnection(self.upstream, timeout=30)
            headers = {k: v for k, v in h.headers.items() if k.lower() not in ("connection",)}
            conn.request(h.command, h.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
        finally:
            with self.lock:
                self.puts_in_flight -= h.command == "PUT"
        h.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length", "date",
                                 "server"):
                h.send_header(k, v)
        # A HEAD's length is the object's, not that of its (empty) body.
        sent = resp.getheader("Content-Length") if h.command == "HEAD" else len(data)
        h.send_header("Content-Length", str(sent or 0))
        h.end_headers()
        if h.command == "HEAD":
            return
        if kind == "cut":
            start = re.match(r"bytes=(\d+)-", h.headers.get("Range") or "bytes=0-")
            keep = max(0, at - int(start.group(1))) if start else 0
        else:
            keep = len(data) // 2
        if kind in ("reset", "cut") and len(data) > 1:
            h.wfile.write(data[:keep])
            h.wfile.flush()
            time.sleep(0.1)  # the bytes reach the client before the reset does (aiohttp drops
            #                  what it buffered when a reset is already there at its read)
            # SO_LINGER 0: close with RST, as a dropped connection does.
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()
            h.close_connection = True
            return
        h.wfile.write(data)

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def environment():
    """os.environ with CREDENTIALS added (for child processes)."""
    env = dict(os.environ)
    env.update(CREDENTIALS)
    return env
