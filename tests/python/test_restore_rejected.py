"""A rejected restore leaves the iterator fresh; every bad state is a DataLossError naming the op.

The checksum-valid bad states are made by re-encoding a saved state with the small codec below
(docs/state_format.md), as a buggy writer or a hand edit would.
"""

import json
import zlib

import pytest

import inputpipe

from counting import Counting


# ---- A codec of the state format (docs/state_format.md), for checksum-valid tampering --------

def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def _masked_crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    c ^= 0xFFFFFFFF
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _put_varint(out, n):
    n &= (1 << 64) - 1
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return


def _get_varint(data, i):
    shift = n = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def _put_str(out, s):
    _put_varint(out, len(s))
    out += s


def _get_str(data, i):
    n, i = _get_varint(data, i)
    return bytes(data[i:i + n]), i + n


def _zigzag(n):
    return (n << 1) ^ (n >> 63)


def _unzigzag(z):
    return (z >> 1) ^ -(z & 1)


def _get_node(data, i):
    node = {}
    node["name"], i = _get_str(data, i)
    node["op"], i = _get_str(data, i)
    node["ints"], node["blobs"], node["external"], node["children"] = [], [], [], []
    n, i = _get_varint(data, i)
    for _ in range(n):
        key, i = _get_str(data, i)
        z, i = _get_varint(data, i)
        node["ints"].append([key, _unzigzag(z)])
    n, i = _get_varint(data, i)
    for _ in range(n):
        key, i = _get_str(data, i)
        value, i = _get_str(data, i)
        node["blobs"].append([key, value])
    n, i = _get_varint(data, i)
    for _ in range(n):
        value, i = _get_str(data, i)
        node["external"].append(value)
    n, i = _get_varint(data, i)
    for _ in range(n):
        child, i = _get_node(data, i)
        node["children"].append(child)
    return node, i


def _put_node(out, node):
    _put_str(out, node["name"])
    _put_str(out, node["op"])
    _put_varint(out, len(node["ints"]))
    for key, value in node["ints"]:
        _put_str(out, key)
        _put_varint(out, _zigzag(value))
    _put_varint(out, len(node["blobs"]))
    for key, value in node["blobs"]:
        _put_str(out, key)
        _put_str(out, value)
    _put_varint(out, len(node["external"]))
    for value in node["external"]:
        _put_str(out, value)
    _put_varint(out, len(node["children"]))
    for child in node["children"]:
        _put_node(out, child)


def decode_state(state):
    assert state[:4] == b"IPST"
    version, i = _get_varint(state, 4)
    _, i = _get_varint(state, i)  # body length
    pipeline, i = _get_str(state, i)
    root, _ = _get_node(state, i)
    return version, pipeline, root


def encode_state(version, pipeline, root):
    body = bytearray()
    _put_str(body, pipeline)
    _put_node(body, root)
    out = bytearray(b"IPST")
    _put_varint(out, version)
    _put_varint(out, len(body))
    out += body
    out += _masked_crc32c(out).to_bytes(4, "little")
    return bytes(out)


def find_node(node, op):
    if node["op"] == op.encode():
        return node
    for child in node["children"]:
        found = find_node(child, op)
        if found is not None:
            return found
    return None


def set_int(node, key, value):
    for entry in node["ints"]:
        if entry[0] == key.encode():
            entry[1] = value
            return
    raise KeyError(key)


def test_codec_round_trips_a_real_state():
    it = iter(inputpipe.Dataset.range(10).batch(3))
    next(it)
    state = it.save()
    assert encode_state(*decode_state(state)) == state
    assert json.loads(inputpipe.inspect_state(state))  # the engine reads the same bytes


# ---- A rejected restore leaves the iterator fresh ----------------------------------------

def _lines(prefix, n):
    return "".join(f"{prefix}{i}\n" for i in range(n))


def test_next_after_a_rejected_restore_is_the_fresh_streams_first_element(tmp_path):
    # The review's scenario: it used to crash the interpreter (SIGSEGV) at next(it2).
    p = tmp_path / "a.txt"
    p.write_text(_lines("line", 40))
    ds = inputpipe.TextLineDataset([str(p)]).shuffle(buffer_size=8, seed=1)
    it = iter(ds)
    next(it)
    s = it.save()
    p.write_text(_lines("rewritten line ", 50))
    it2 = iter(ds)
    with pytest.raises(inputpipe.PipelineMismatchError):
        it2.restore(s)
    first = next(it2)
    # Reshuffling: a fresh iterator has the next epoch's order, so compare the lines: all 50,
    # none lost to a half-restored buffer.
    lines = _lines("rewritten line ", 50).encode().splitlines()
    assert sorted([first] + list(it2)) == sorted(lines)


def test_next_after_a_rejected_restore_without_reshuffling_is_exactly_the_fresh_stream(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text(_lines("line", 40))
    ds = inputpipe.TextLineDataset([str(p)]).shuffle(buffer_size=8, seed=1,
                                                     reshuffle_each_iteration=False)
    it = iter(ds)
    next(it)
    s = it.save()
    p.write_text(_lines("rewritten line ", 50))
    fresh = list(iter(ds))
    it2 = iter(ds)
    with pytest.raises(inputpipe.PipelineMismatchError):
        it2.restore(s)
    assert next(it2) == fresh[0]
    assert list(it2) == fresh[1:]
    # And it still takes a restore, which resumes exactly.
    it3 = iter(ds)
    next(it3)
    s3 = it3.save()
    it4 = iter(ds)
    with pytest.raises(inputpipe.PipelineMismatchError):
        it4.restore(s)
    it4.restore(s3)
    assert list(it4) == fresh[1:]


def test_second_of_two_files_changed_does_not_skip_the_first(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(_lines("a", 3))
    b.write_text(_lines("b", 3))
    ds = inputpipe.TextLineDataset([str(a), str(b)])
    it = iter(ds)
    for _ in range(4):
        next(it)
    s = it.save()
    b.write_text(_lines("bb", 4))
    it2 = iter(ds)
    with pytest.raises(inputpipe.PipelineMismatchError, match="b.txt"):
        it2.restore(s)
    assert [x.decode() for x in it2] == ["a0", "a1", "a2", "bb0", "bb1", "bb2", "bb3"]


# ---- Bad states are DataLossError naming the op ------------------------------------------

@pytest.mark.parametrize("offset", ["size+1", 2**62])
def test_file_offset_past_the_end_is_data_loss(tmp_path, offset):
    p = tmp_path / "a.txt"
    text = _lines("line", 5)
    p.write_text(text)
    ds = inputpipe.TextLineDataset([str(p)])
    it = iter(ds)
    next(it)
    version, pipeline, root = decode_state(it.save())
    bad = len(text) + 1 if offset == "size+1" else offset
    set_int(find_node(root, "text_line"), "offset", bad)
    it2 = iter(ds)
    with pytest.raises(inputpipe.DataLossError) as e:
        it2.restore(encode_state(version, pipeline, root))
    for fragment in ("text_line", str(p), f"offset {bad}", f"({len(text)} bytes)"):
        assert fragment in str(e.value)
    assert next(it2) == b"line0"  # fresh


def _items(n):
    return inputpipe.Dataset.from_generator(lambda: Counting(n), name="items")


def _with_blob(state, blob):
    version, pipeline, root = decode_state(state)
    node = find_node(root, "from_generator")
    node["blobs"] = [[b"generator_state", blob]]
    return encode_state(version, pipeline, root)


@pytest.mark.parametrize("blob,fragment", [
    (b'j{"i": 3', "not valid JSON"),
    (b"j\xff\xfe", "not valid JSON"),
    (b'j{"j": 3}', "KeyError"),
    (b'j{"i": 99}', "past the end"),
    (b"x{}", "unknown generator state tag"),
])
def test_tampered_generator_blob_is_data_loss(blob, fragment):
    ds = _items(10)
    it = iter(ds)
    next(it)
    state = _with_blob(it.save(), blob)
    it2 = iter(ds)
    with pytest.raises(inputpipe.DataLossError, match="from_generator") as e:
        it2.restore(state)
    assert fragment in str(e.value)
    assert next(it2) == 0  # fresh


# ---- Through the hook --------------------------------------------------------------------

def test_hook_falls_back_past_a_checkpoint_an_op_rejects(tmp_path):
    it = iter(_items(10))
    hook = inputpipe.CheckpointInputPipelineHook(it, tmp_path, save_steps=2)
    hook.begin()
    for step in range(1, 5):
        next(it)
        hook.after_step(step)
    hook.end()
    assert [s for s, _ in hook.checkpoints()] == [0, 2, 4]
    del hook

    # The same generator (same name, so the same pipeline) now has 3 items: the checkpoint of
    # step 4 (at item 4) decodes, but its state is rejected; step 2 restores.
    it2 = iter(_items(3))
    hook2 = inputpipe.CheckpointInputPipelineHook(it2, tmp_path, save_steps=2)
    with pytest.warns(RuntimeWarning, match=r"input\.ckpt-4 \(step 4\).*past the end.*falling"):
        assert hook2.begin() == 2
    assert list(it2) == [2]


def test_hook_raises_data_loss_when_every_checkpoint_is_rejected(tmp_path):
    it = iter(_items(10))
    hook = inputpipe.CheckpointInputPipelineHook(it, tmp_path, save_steps=2, max_to_keep=None)
    hook.begin(global_step=1)
    for step in range(2, 6):
        next(it)
        hook.after_step(step)
    hook.end()
    del hook
    (tmp_path / "input.ckpt-1").unlink()  # the initial state (item 0) would restore
    it2 = iter(_items(0))
    hook2 = inputpipe.CheckpointInputPipelineHook(it2, tmp_path, save_steps=2)
    with pytest.warns(RuntimeWarning, match="falling back"):
        with pytest.raises(inputpipe.DataLossError, match="no valid input checkpoint"):
            hook2.begin()
    assert list(it2) == []  # fresh (and empty)
