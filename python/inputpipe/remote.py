"""Remote files: s3://, gs://, az://, http(s):// paths through fsspec's file systems.

    import inputpipe
    ds = inputpipe.TFRecordDataset("s3://bucket/train-*.tfrecord")      # nothing to set up
    files = inputpipe.Dataset.list_files("gs://bucket/data/*.csv")
    hook = inputpipe.CheckpointInputPipelineHook(it, "s3://bucket/run/ckpt", save_steps=100)

    # A store of your own (an S3-compatible server, options for the library):
    inputpipe.remote.register("s3", client_kwargs={"endpoint_url": "http://127.0.0.1:9000"})

Needs `pip install 'inputpipe[remote]'` (fsspec and s3fs; gcsfs for gs://, adlfs for az://);
without them the first use of such a path fails with an OSError saying what to install. Every
scheme below is registered when inputpipe is imported, but nothing is imported until a path of
that scheme is used.

Where the work is done (docs/remote.md): this module only turns a path into fsspec calls —
stat (size and the store's content hash: the ETag, the generation), ranged reads (and, for S3,
GCS and http(s), a streaming GET that sequential reads take their blocks from, whose body the
engine reads from the socket without the GIL over plain HTTP), one listing per glob, one PUT
per file written. The block reads, the read-ahead on a background thread and
the retries with backoff are C++, in the engine's file-system seam (inputpipe/remote_file.h), so
that every store written in Python gets them and the GIL is taken once per block (8 MiB by
default), never per record.

Credentials come from where each library looks for them (for S3: the AWS environment
variables, ~/.aws, the instance role). inputpipe never logs them, and the messages of the errors
that pass through here have every credential this module can know of replaced by '***'.
"""

import errno
import io
import os
import re
import threading

import inputpipe._core as _core

# Scheme -> (fsspec protocol, the pip package that implements it).
SCHEMES = {
    "s3": ("s3", "s3fs"),
    "s3a": ("s3", "s3fs"),
    "gs": ("gcs", "gcsfs"),
    "gcs": ("gcs", "gcsfs"),
    "az": ("az", "adlfs"),
    "abfs": ("abfs", "adlfs"),
    "abfss": ("abfs", "adlfs"),
    "http": ("http", "aiohttp"),
    "https": ("https", "aiohttp"),
}
_READ_ONLY = {"http", "https"}

# Environment variables whose values are secrets, whatever library reads them.
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
               "AZURE_STORAGE_KEY", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN",
               "AZURE_STORAGE_CONNECTION_STRING", "AZURE_CLIENT_SECRET")
_SECRET_OPTION = re.compile(r"secret|token|password|passwd|credential|key|sas|connection",
                            re.IGNORECASE)
_URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def _secret_values(options):
    """Strings in `options` (nested dicts too) under a key that names a secret."""
    out = []
    for key, value in options.items():
        if isinstance(value, dict):
            out += _secret_values(value)
        elif isinstance(value, str) and value and _SECRET_OPTION.search(str(key)):
            out.append(value)
    return out


class FsspecFileSystem:
    """The file system of one scheme, through fsspec (what register() registers).

    The protocol inputpipe.register_file_system calls: stat, read_range, list, glob, exists,
    open (writes: a buffer sent as one object at close), remove, makedirs (nothing: an object
    store has no directories). The fsspec file system is made on first use.
    """

    # Read in blocks of this many bytes, this many ahead (C++; see inputpipe/remote_file.h).
    read_block_size = 8 << 20
    read_ahead_blocks = 2
    random_block_size = 1 << 20
    cached_blocks = 16
    max_attempts = 4
    initial_backoff_s = 0.05
    # Streams (open_stream): the body read with http.client from a URL of the object (S3:
    # presigned; GCS: the media download; http(s): the path), and, where the body is plain HTTP
    # of a known length, its bytes read by the engine from the socket without the GIL.
    http_streams = True
    socket_streams = True

    def __init__(self, scheme, protocol=None, package=None, **storage_options):
        default_protocol, default_package = SCHEMES.get(scheme, (scheme, None))
        self.scheme = scheme
        self._protocol = protocol or default_protocol
        self._package = package or default_package
        self._options = storage_options
        self._secrets = _secret_values(storage_options)
        self._fs = None
        self._lock = threading.Lock()
        # One PUT per file: committed whole at close, or not at all (docs/remote.md).
        self.atomic_writes = self._protocol not in _READ_ONLY

    def __repr__(self):  # never the options: they may hold credentials
        return f"FsspecFileSystem({self.scheme!r}, protocol={self._protocol!r})"

    # ---- the protocol of register_file_system ---------------------------------------------

    def stat(self, path):
        with self._errors(path):
            fs = self._filesystem()
            info = fs.info(path)
            if info.get("type") == "directory":
                raise IsADirectoryError(errno.EISDIR, "is a directory (a prefix)", path)
            out = {"size": int(info["size"])}
            identity = _content_identity(info)
            if identity:
                out["identity"] = identity
            mtime = _mtime_ns(info)
            if mtime is not None:
                out["mtime_ns"] = mtime
            return out

    def read_range(self, path, offset, n):
        with self._errors(path):
            return self._filesystem().cat_file(path, start=offset, end=offset + n)

    def open_stream(self, path, offset):
        """One streaming GET of `path` from `offset` to its end (Range: bytes=offset-), whose
        body the engine reads block by block for a sequential file, reopening it after an error
        or a seek (inputpipe/remote_file.h). None where the store has no such GET: then each
        block is a ranged read of its own.

        The GET is made with http.client to a URL of the object (_stream_request: S3's presigned
        by s3fs's own client, with its credentials, endpoint, region and version id; GCS's media
        download with gcsfs's authorization header; an http(s) path itself), and its body read
        into the engine's buffer: over plain HTTP by the engine from the socket, without the GIL
        (_HttpBody.socket_body); over HTTPS with readinto, which costs about a seventh of the
        CPU of aiohttp's body reads (docs/remote.md). Where the store is set up with what a bare
        URL cannot carry (extra request arguments such as SSE-C keys or requester-pays, an HTTP
        proxy, options of an http store), or with http_streams = False, S3's body is s3fs's and
        the other stores read by ranges."""
        with self._errors(path):
            body = self._http_body(path, int(offset), None)
            if body is not None or self._protocol != "s3":
                return body
            fs = self._filesystem()
            bucket, key, version = fs.split_path(path)
            extra = {"VersionId": version} if version else {}
            from fsspec.asyn import sync
            resp = sync(fs.loop, fs._call_s3, "get_object", Bucket=bucket, Key=key,
                        Range=f"bytes={int(offset)}-", **extra)
            return _S3Body(self, path, resp["Body"])

    def open_range(self, path, offset, n):
        """The body of one GET of bytes [offset, offset + n) of `path`, as open_stream's (read
        by the engine from the socket over plain HTTP), or None where open_stream would not
        make its own GET: then the engine calls read_range. What random-access reads (a Parquet
        row group, a block of an indexed file) go through."""
        with self._errors(path):
            return self._http_body(path, int(offset), int(n))

    def _http_body(self, path, offset, n):
        if not self.http_streams:
            return None
        fs = self._filesystem()
        request = self._stream_request(fs, path)
        if request is None:
            return None
        url, headers = request
        return _HttpBody(self, path, url, offset, self._stream_settings(fs), headers, n)

    def list(self, path):
        with self._errors(path):
            fs = self._filesystem()
            fs.invalidate_cache(path)
            try:
                entries = fs.ls(path, detail=False)
            except FileNotFoundError:
                # An object store has no directories: a prefix with nothing under it is an
                # empty one, while its bucket exists.
                if self._bucket_exists(fs, path):
                    return []
                raise
            base = path.rstrip("/").split("://", 1)[-1]
            names = []
            for entry in entries:
                entry = entry.rstrip("/").split("://", 1)[-1]
                if entry == base:
                    continue  # a file listed as itself
                names.append(entry.rsplit("/", 1)[-1])
            return names

    def glob(self, pattern):
        with self._errors(pattern):
            fs = self._filesystem()
            fs.invalidate_cache()
            found = fs.glob(pattern)
            if not found and not self._bucket_exists(fs, pattern):
                # Nothing matched because there is nothing to match in: say so, not "no files".
                raise FileNotFoundError(errno.ENOENT, "the bucket does not exist", pattern)
            # fsspec drops the scheme; the paths go back as the user wrote them.
            return [p if "://" in p else f"{self.scheme}://{p}" for p in found
                    if not p.endswith("/")]

    def exists(self, path):
        with self._errors(path):
            fs = self._filesystem()
            fs.invalidate_cache(path)
            return bool(fs.exists(path))

    def open(self, path, mode):
        with self._errors(path):
            if mode == "rb":
                return self._filesystem().open(path, "rb")
            if self._protocol in _READ_ONLY:
                raise PermissionError(errno.EACCES, f"{self.scheme}:// is read only", path)
            return _WholeObjectWriter(self, path)

    def remove(self, path):
        with self._errors(path):
            fs = self._filesystem()
            fs.rm_file(path)
            fs.invalidate_cache(path)

    def makedirs(self, path):
        pass  # prefixes exist when objects lie under them

    def put(self, path, data):
        """Writes `data` to `path` as one object (one PUT): it exists whole or not at all."""
        with self._errors(path):
            fs = self._filesystem()
            fs.pipe_file(path, bytes(data))
            fs.invalidate_cache(path)

    # ---- internals --------------------------------------------------------------------------

    def _filesystem(self):
        with self._lock:
            if self._fs is None:
                self._fs = self._make()
            return self._fs

    def _make(self):
        hint = f"pip install 'inputpipe[remote]'"
        if self._package and self._package != "s3fs":
            hint += f" {self._package}"
        try:
            import fsspec
        except ImportError:
            raise ModuleNotFoundError(
                f"{self.scheme}:// paths need fsspec and {self._package or 'an fsspec store'}:"
                f" {hint}") from None
        try:
            return fsspec.filesystem(self._protocol, **self._options)
        except ImportError as e:
            raise ModuleNotFoundError(
                f"{self.scheme}:// paths need the package {self._package or e.name}: {hint} "
                f"({e})") from None

    def _stream_request(self, fs, path):
        """(URL, headers) of a GET of the whole object `path`, or None where a bare GET would
        not be the request the store's library makes (extra arguments, a proxy, an http store
        with options of its own) or the store has none."""
        if self._protocol == "s3":
            if getattr(fs, "req_kw", None) or getattr(fs, "s3_additional_kwargs", None):
                return None
            if (getattr(fs, "config_kwargs", None) or {}).get("proxies"):
                return None
            url, headers = fs.url(path, expires=3600), {}
        elif self._protocol == "gcs":
            if getattr(fs, "requester_pays", False) or not hasattr(fs, "credentials"):
                return None
            url, headers = fs.url(path), {}  # the media download, with the generation
            fs.credentials.apply(headers)  # Authorization, where there is a token
        elif self._protocol in _READ_ONLY and not self._options:
            url, headers = path, {}
        else:
            return None
        import urllib.parse
        import urllib.request
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        if (urllib.request.getproxies().get(parts.scheme)
                and not urllib.request.proxy_bypass(parts.hostname)):
            return None
        return url, headers

    def _stream_settings(self, fs):
        """(timeout in seconds, the TLS verification) for _HttpBody: botocore's settings for
        S3, the defaults elsewhere."""
        config = getattr(fs, "config_kwargs", None) or {}
        timeout = config.get("read_timeout") or config.get("connect_timeout") or 60
        if self._protocol != "s3":
            return float(timeout), True
        client = getattr(fs, "client_kwargs", None) or {}
        verify = client.get("verify", os.environ.get("AWS_CA_BUNDLE") or True)
        return float(timeout), verify

    def _bucket_exists(self, fs, path):
        bucket = path.split("://", 1)[-1].split("/", 1)[0]
        try:
            return bool(fs.exists(bucket))
        except Exception:
            return False

    def _scrub(self, text):
        for secret in self._secrets + [os.environ.get(v, "") for v in _SECRET_ENV]:
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
        return _URL_USERINFO.sub("***@", text)

    def _errors(self, path):
        return _ScrubbedErrors(self)


class _ScrubbedErrors:
    """Re-raises an exception with the credentials removed from its message; an OSError keeps
    its type and errno (FileNotFoundError, PermissionError), anything else becomes an OSError
    of the same message, since what a store raises for a refused request or a lost connection
    (botocore's, aiohttp's) is an I/O failure to the readers."""

    def __init__(self, fs):
        self._fs = fs

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if value is None or not isinstance(value, Exception):
            return False
        if isinstance(value, ModuleNotFoundError):
            return False
        message = self._fs._scrub(str(value))
        if isinstance(value, OSError):
            code = value.errno
            if code is None:
                code = _ERRNO_BY_TYPE.get(type(value), errno.EIO)
            new = _OSERROR_BY_ERRNO.get(code, OSError)(code, message)
        else:
            new = OSError(f"{type(value).__name__}: {message}")  # errno None: retryable
        raise new from None


_ERRNO_BY_TYPE = {FileNotFoundError: errno.ENOENT, PermissionError: errno.EACCES,
                  IsADirectoryError: errno.EISDIR, NotADirectoryError: errno.ENOTDIR,
                  TimeoutError: errno.ETIMEDOUT, ConnectionResetError: errno.ECONNRESET}
_OSERROR_BY_ERRNO = {errno.ENOENT: FileNotFoundError, errno.EACCES: PermissionError,
                     errno.EPERM: PermissionError, errno.EISDIR: IsADirectoryError,
                     errno.ENOTDIR: NotADirectoryError}


class _HttpBody:
    """The body of a GET of an object's URL with Range: bytes=offset- (or bytes [offset,
    offset + n) when n is given), read with http.client:
    readinto(buffer) fills the buffer (short only at the body's end), the socket's reads
    releasing the GIL; or, over plain HTTP with a known length, by the engine from the socket
    (socket_body). The status is checked when it is opened: 404 is a FileNotFoundError, 403 a
    PermissionError, another 4xx (but 408, 429) an OSError of EINVAL (not retried); 5xx, a 408
    or 429, or a 200/206 whose range does not start at `offset` an OSError of EIO (retried).
    Messages name the path, the offset, the HTTP status and the store's error code, never the
    URL (it may be signed) nor a header (it may hold a token)."""

    def __init__(self, store, path, url, offset, settings, headers=None, n=None):
        import http.client
        import urllib.parse
        timeout, verify = settings
        parts = urllib.parse.urlsplit(url)
        self._tls = parts.scheme == "https"
        if self._tls:
            import ssl
            if verify is False:
                context = ssl._create_unverified_context()
            else:
                context = ssl.create_default_context(
                    cafile=verify if isinstance(verify, str) else _default_ca_bundle())
            conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout,
                                               context=context)
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        self._store, self._path, self._conn = store, path, conn
        self._where = where = f"GET {path} from byte {offset}"
        try:
            target = parts.path + ("?" + parts.query if parts.query else "")
            end = "" if n is None else offset + max(1, n) - 1
            conn.request("GET", target, headers=dict(headers or {}, Range=f"bytes={offset}-{end}"))
            self._sock = conn.sock  # held by the response past a close of the connection
            self._resp = resp = conn.getresponse()
            if resp.status not in (200, 206):
                text = resp.read(64 << 10).decode("utf-8", "replace")
                code = re.search(r"<Code>([^<]*)</Code>", text)
                message = (re.search(r"<Message>([^<]*)</Message>", text)
                           or re.search(r'"message"\s*:\s*"([^"]*)"', text))
                why = (f"{where}: HTTP {resp.status}" + (f" {code.group(1)}" if code else "") +
                       (f": {message.group(1)}" if message else ""))
                if resp.status == 404:
                    raise FileNotFoundError(errno.ENOENT, why, path)
                if resp.status == 403:
                    raise PermissionError(errno.EACCES, why, path)
                if 400 <= resp.status < 500 and resp.status not in (408, 429):
                    raise OSError(errno.EINVAL, why)
                raise OSError(errno.EIO, why)
            start = 0
            if resp.status == 206:
                got = re.match(r"bytes (\d+)-", resp.getheader("Content-Range") or "")
                start = int(got.group(1)) if got else -1
            if start != offset:
                raise OSError(errno.EIO, f"{where}: the store answered with the bytes from "
                                         f"{start} (HTTP {resp.status})")
        except BaseException:
            conn.close()
            raise

    def socket_body(self):
        """(socket fd, body bytes http.client buffered past the headers, body length, timeout
        in seconds, what the request is called in errors) for the engine to read the rest of
        the body from the socket without the GIL (NewSocketBodyStream in
        inputpipe/remote_file.h); None where it cannot: HTTPS (the socket carries TLS records),
        a chunked body or one of unknown length, store.socket_streams False. After a tuple the
        body is the engine's: readinto is not to be called; close() still closes the socket."""
        resp = self._resp
        if (self._tls or not self._store.socket_streams or resp.chunked
                or resp.length is None or self._sock is None):
            return None
        length = resp.length
        # read1: the bytes buffered past the headers, or, where there are none, one recv.
        head = resp.fp.read1(min(length, 1 << 20)) if length else b""
        timeout = self._sock.gettimeout()
        return (self._sock.fileno(), head, length, float(timeout or 3600),
                f"{self._where}: HTTP {resp.status}")

    def readinto(self, buffer):
        with self._store._errors(self._path), memoryview(buffer).cast("B") as view:
            got = 0
            while got < len(view):
                with view[got:] as rest:
                    k = self._resp.readinto(rest)
                if not k:
                    break
                got += k
            return got

    def read(self, n):
        buffer = bytearray(int(n))
        return bytes(buffer[: self.readinto(buffer)])

    def close(self):
        conn, self._conn = self._conn, None
        if conn is not None:
            self._resp.close()
            conn.close()


def _default_ca_bundle():
    """The CA bundle botocore verifies with by default (certifi's where installed), else None
    (the system's)."""
    try:
        from botocore.httpsession import get_cert_path
        return get_cert_path(True)
    except Exception:
        return None


class _S3Body:
    """The body of an open S3 GET: read(n) on s3fs's event loop, errors scrubbed as above."""

    def __init__(self, fs, path, body):
        self._fs, self._path, self._body = fs, path, body

    def read(self, n):
        from fsspec.asyn import sync
        with self._fs._errors(self._path):
            return sync(self._fs._filesystem().loop, self._read, int(n))

    async def _read(self, n):
        # One trip to the event loop per block: the body's read(n) gives what has arrived (often
        # some KiB), and a trip per piece would cost more than the bytes.
        parts, got = [], 0
        while got < n:
            part = await self._body.read(n - got)
            if not part:
                break
            parts.append(part)
            got += len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self):
        body, self._body = self._body, None
        if body is not None:
            body.close()


class _WholeObjectWriter(io.BytesIO):
    """A file opened "wb": the bytes are kept and sent as one object at close, so a writer that
    dies first leaves nothing (or the previous object) behind."""

    def __init__(self, fs, path):
        super().__init__()
        self._store, self._path, self._done = fs, path, False

    def flush(self):
        pass  # a PUT per flush would publish a partial object

    def close(self):
        if not self._done and not self.closed:
            self._done = True
            data = self.getvalue()
            super().close()
            self._store.put(self._path, data)
        super().close()


def _content_identity(info):
    """The store's identity of the object's bytes, a content hash first: GCS's md5Hash, S3's
    ETag (the MD5 of a single-part upload), an HTTP Content-MD5; else a version (Azure's etag,
    GCS's generation: a rewrite of the same bytes then reads as a change); "" when the store
    gives none (the digest of the bytes is then used: docs/readers.md)."""
    for key in ("md5Hash", "ETag", "Content-MD5", "Digest", "etag", "generation", "crc32c"):
        value = info.get(key)
        if value:
            return f"{key}:{str(value).strip(chr(34))}"
    return ""


def _mtime_ns(info):
    for key in ("LastModified", "last_modified", "mtime", "updated", "Last-Modified"):
        value = info.get(key)
        if value is None:
            continue
        try:
            if hasattr(value, "timestamp"):
                return int(value.timestamp() * 1e9)
            if isinstance(value, (int, float)):
                return int(value * 1e9)
        except (OverflowError, ValueError, OSError):
            return None
    return None


def register(scheme, protocol=None, **storage_options):
    """Makes `scheme://` paths go to fsspec's `protocol` (by default the one of SCHEMES), made
    with `storage_options` (e.g. client_kwargs={"endpoint_url": ...} for an S3-compatible
    server; credentials are better left to the library's environment). Replaces the store
    registered for `scheme`; returns it."""
    store = FsspecFileSystem(scheme, protocol, **storage_options)
    _core.register_file_system(scheme, store)
    return store


def register_default_schemes():
    """Registers every scheme of SCHEMES with default options (what `import inputpipe` does).
    Nothing is imported until a path is used."""
    for scheme in SCHEMES:
        register(scheme)
