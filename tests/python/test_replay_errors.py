"""A training loop that skips a bad record (or an element whose map function raised) keeps
restartable checkpoints: the ops that restore by re-reading their input from an anchor
(shuffle, window, group_by_window) skip on replay the errors the live run skipped, so a hook
restart resumes the stream the uninterrupted run yields, with the errors skipped."""

import pytest

import inputpipe
from inputpipe import CheckpointInputPipelineHook

RECORDS = 40
BAD = 5  # the record with a bad CRC


def write_records(path, bad=None):
    """RECORDS records b"rec000", b"rec001", ...; record `bad` gets a corrupt data CRC."""
    with inputpipe.TFRecordWriter(path) as w:
        for i in range(RECORDS):
            w.write(b"rec%03d" % i)
    if bad is not None:
        data = bytearray(path.read_bytes())
        size = 8 + 4 + 6 + 4  # length, its CRC, the record, its CRC
        data[bad * size + 12 + 2] ^= 1  # a byte of the record: its data CRC no longer matches
        path.write_bytes(bytes(data))
    return str(path)


def ids(batch):
    return [int(bytes(r)[3:]) for r in batch]


def train(make, directory, stop=None, errors=(inputpipe.DataLossError,)):
    """Runs `make()`'s pipeline under the hook from whatever `directory` holds, skipping the
    errors a training loop would skip; saves every step. Stops after step `stop` as a crash
    would (the captured saves durable, no final save). Returns (restored step, batches seen)."""
    it = iter(make())
    hook = CheckpointInputPipelineHook(it, str(directory), save_steps=1)
    restored = hook.begin()
    step = restored or 0
    seen = []
    while stop is None or step < stop:
        try:
            batch = next(it)
        except errors:
            continue
        except StopIteration:
            break
        seen.append(ids(batch))
        step += 1
        hook.after_step(step)
    if stop is None:
        hook.end()
    else:
        hook.flush()
    return restored, seen


def uninterrupted(make, errors=(inputpipe.DataLossError,)):
    out, skipped = [], 0
    it = iter(make())
    while True:
        try:
            out.append(ids(next(it)))
        except errors:
            skipped += 1
        except StopIteration:
            return out, skipped


def expect_restarts_resume_the_live_stream(make, tmp_path, errors=(inputpipe.DataLossError,),
                                           stops=None):
    """A crash after each step in `stops` (default: every step), then a restart."""
    live, skipped = uninterrupted(make, errors)
    assert skipped == 1
    for stop in stops or range(0, len(live) + 1):
        directory = tmp_path / f"ckpt-{stop}"
        restored, first = train(make, directory, stop=stop, errors=errors)
        assert restored is None
        restored, rest = train(make, directory, errors=errors)  # hook.begin() restores
        assert restored == stop, stop
        assert first + rest == live, stop


def test_shuffle_batch_restarts_after_a_bad_crc(tmp_path):
    path = write_records(tmp_path / "data.tfrecord", bad=BAD)

    def make():
        return inputpipe.TFRecordDataset([path]).shuffle(buffer_size=8, seed=1).batch(2)

    live, _ = uninterrupted(make)
    flat = sorted(i for batch in live for i in batch)
    assert flat == [i for i in range(RECORDS) if i != BAD]
    expect_restarts_resume_the_live_stream(make, tmp_path)


def test_a_restore_reads_past_the_bad_record_the_live_run_skipped(tmp_path):
    path = write_records(tmp_path / "data.tfrecord", bad=BAD)
    ds = inputpipe.TFRecordDataset([path]).shuffle(
        buffer_size=8, seed=1, reshuffle_each_iteration=False)
    it = iter(ds)
    with pytest.raises(inputpipe.DataLossError, match="CRC32C"):
        next(it)  # the initial fill meets record 5
    head = [next(it) for _ in range(3)]
    state = it.save()
    resumed = iter(ds)
    resumed.restore(state)  # re-reads records 0 .. 10, skipping record 5 again
    assert list(resumed) == list(it)
    assert BAD not in [int(bytes(r)[3:]) for r in head]


def test_map_function_that_raises_for_one_element(tmp_path):
    path = write_records(tmp_path / "data.tfrecord")

    def parse(record):
        i = int(bytes(record)[3:])
        if i == BAD:
            raise ValueError(f"cannot parse record {i}")
        return record

    def make():
        return inputpipe.TFRecordDataset([path]).map(parse).shuffle(buffer_size=8, seed=1).batch(2)

    # The replay spans hold record 5 for the first 16 steps (shuffle's anchor moves every 32).
    expect_restarts_resume_the_live_stream(make, tmp_path, errors=(ValueError,),
                                           stops=[0, 1, 2, 3, 5, 8, 13, 17, 20])


def test_window_and_group_by_window_restart_after_a_bad_crc(tmp_path):
    path = write_records(tmp_path / "data.tfrecord", bad=BAD)

    def windows():
        return (inputpipe.TFRecordDataset([path]).window(4, shift=3)
                .flat_map(lambda w: w.batch(4)))

    def groups():
        return (inputpipe.TFRecordDataset([path])
                .group_by_window(lambda r: int(bytes(r)[3:]) % 3,
                                 lambda key, w: w.batch(2), window_size=4))

    early = list(range(0, 8)) + [12]  # the windows open over record 5, and one after
    expect_restarts_resume_the_live_stream(windows, tmp_path / "window", stops=early)
    expect_restarts_resume_the_live_stream(groups, tmp_path / "group", stops=early)


def test_a_transient_error_during_the_replay_fails_the_restore(tmp_path):
    path = write_records(tmp_path / "data.tfrecord", bad=BAD)
    failing: dict[str, int | None] = {"at": None}

    def flaky(record):
        if int(bytes(record)[3:]) == failing["at"]:
            failing["at"] = None
            raise OSError("transient read error")
        return record

    ds = (inputpipe.TFRecordDataset([path]).map(flaky)
          .shuffle(buffer_size=8, seed=1, reshuffle_each_iteration=False))
    it = iter(ds)
    with pytest.raises(inputpipe.DataLossError):
        next(it)
    next(it)
    state = it.save()
    failing["at"] = 2  # re-read by the replay, read fine by the live run
    with pytest.raises(OSError, match="transient read error"):
        iter(ds).restore(state)
    resumed = iter(ds)
    resumed.restore(state)  # the error has passed: the restore succeeds
    assert list(resumed) == list(it)


def test_a_function_raising_data_loss_error_is_a_bad_record():
    """inputpipe.DataLossError raised by a map function is the engine's own bad-record error:
    ignore_errors skips it, and under a shuffle a save after it restores to the live stream."""

    def check(x):
        if int(x) in (3, 7):
            raise inputpipe.DataLossError(f"bad record {int(x)}")
        return x

    skipped = [int(x) for x in inputpipe.Dataset.range(10).map(check).ignore_errors()]
    assert skipped == [0, 1, 2, 4, 5, 6, 8, 9]

    def make():
        return inputpipe.Dataset.range(20).map(check).shuffle(4, seed=3)

    def drain(it, limit=None):
        out: list[int] = []
        errors = 0
        while limit is None or len(out) + errors < limit:
            try:
                out.append(int(next(it)))
            except inputpipe.DataLossError as e:
                assert "bad record" in str(e)
                errors += 1
            except StopIteration:
                break
        return out, errors

    live, errors = drain(iter(make()))
    assert errors == 2 and sorted(live) == [x for x in range(20) if x not in (3, 7)]
    for k in range(len(live) + errors + 1):
        it = iter(make())
        got, before = drain(it, limit=k)
        restored = iter(make())
        restored.restore(it.save())
        rest, after = drain(restored)
        assert got + rest == live and before + after == errors, k
