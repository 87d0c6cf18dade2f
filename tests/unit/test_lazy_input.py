"""LazyInput: a local name for a remote file, fetched in blocks on first read."""

from __future__ import annotations

import contextvars
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from reelgpu import Cancelled, InputReadError
from reelgpu.media.lazy_input import LazyInput, cancelled_by, lookup, open_binary

BLOCK = 1000


class Remote:
    """A fake remote file: records every fetch, can fail on demand."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls: list[tuple[int, int]] = []
        self.fail: Exception | None = None
        self.short = False
        self.lock = threading.Lock()

    def __call__(self, offset: int, length: int) -> bytes:
        with self.lock:
            self.calls.append((offset, length))
        if self.fail is not None:
            raise self.fail
        return self.data[offset:offset + length - (1 if self.short else 0)]

    def fetched_blocks(self) -> list[int]:
        return [b for offset, length in self.calls for b in range(offset // BLOCK, (offset + length - 1) // BLOCK + 1)]


@pytest.fixture()
def remote() -> Remote:
    return Remote(np.random.default_rng(1).integers(0, 256, 10_500, dtype=np.uint8).tobytes())


def test_reads_return_the_remote_bytes_and_fetch_each_block_once(tmp_path: Path, remote: Remote) -> None:
    rng = np.random.default_rng(2)
    with LazyInput(tmp_path / "in.mp4", len(remote.data), remote, block_size=BLOCK, readahead=0) as lazy:
        reader = lazy.reader()
        for _ in range(300):
            offset = int(rng.integers(0, len(remote.data) + 50))
            length = int(rng.integers(0, 2500))
            reader.seek(offset)
            assert reader.read(length) == remote.data[offset:offset + length]
        assert reader.seek(-10, os.SEEK_END) == len(remote.data) - 10
        assert reader.read() == remote.data[-10:]
        blocks = remote.fetched_blocks()
        assert len(blocks) == len(set(blocks)) == 11  # every block, each once (the last one is 500 bytes)
        assert lazy.fetched_bytes == len(remote.data)
        assert lazy.requests == len(remote.calls) < 11  # missing neighbours come in one request


def test_concurrent_readers_share_blocks(tmp_path: Path, remote: Remote) -> None:
    errors: list[BaseException] = []

    def read_all(lazy: LazyInput, seed: int) -> None:
        rng = np.random.default_rng(seed)
        reader = lazy.reader()
        try:
            for _ in range(200):
                offset, length = int(rng.integers(0, len(remote.data))), int(rng.integers(1, 3000))
                reader.seek(offset)
                assert reader.read(length) == remote.data[offset:offset + length]
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    with LazyInput(tmp_path / "in.mp4", len(remote.data), remote, block_size=BLOCK) as lazy:
        threads = [threading.Thread(target=read_all, args=(lazy, seed)) for seed in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    blocks = remote.fetched_blocks()
    assert len(blocks) == len(set(blocks)), "a block was fetched twice"


def test_a_failed_fetch_is_an_input_read_error_and_is_tried_again(tmp_path: Path, remote: Remote) -> None:
    with LazyInput(tmp_path / "in.mp4", len(remote.data), remote, block_size=BLOCK, readahead=0) as lazy:
        remote.fail = ConnectionResetError("network down")
        reader = lazy.reader()
        with pytest.raises(InputReadError, match=r"in.mp4: reading bytes 0-2999 failed: network down") as err:
            reader.read(2500)  # three blocks in one request
        assert isinstance(err.value.__cause__, ConnectionResetError) and err.value.retryable
        assert lazy.fetched_bytes == 0
        remote.fail = None
        reader.seek(0)
        assert reader.read(2500) == remote.data[:2500]


def test_ffmpegs_reader_reads_as_ended_after_a_failure(tmp_path: Path, remote: Remote) -> None:
    """FFmpeg reads again after a failed read within the same call; a second exception made
    PyAV print the first on stderr. The reader it gets reads as ended instead (PyAV raises the
    first exception when the call returns); a reader of Python's own is tried again."""
    with LazyInput(tmp_path / "in.mp4", len(remote.data), remote, block_size=BLOCK, readahead=0) as lazy:
        remote.fail = ConnectionResetError("network down")
        reader = lazy.reader(for_ffmpeg=True)
        with pytest.raises(InputReadError):
            reader.read(10)
        remote.fail = None
        reader.seek(0)
        assert reader.read(10) == b""
        assert len(remote.calls) == 1


def test_a_reader_waiting_for_a_block_that_fails_elsewhere_fetches_it_itself(tmp_path: Path, remote: Remote) -> None:
    gate, entered = threading.Event(), threading.Event()

    def slow_failing(offset: int, length: int) -> bytes:
        entered.set()
        gate.wait(10)
        raise TimeoutError("slow and then gone")

    calls = {"n": 0}

    def fetch(offset: int, length: int) -> bytes:
        calls["n"] += 1
        return slow_failing(offset, length) if calls["n"] == 1 else remote(offset, length)

    with LazyInput(tmp_path / "in.mp4", len(remote.data), fetch, block_size=BLOCK, readahead=0) as lazy:
        first_error: list[BaseException] = []

        def first() -> None:
            try:
                lazy.read_at(0, 10)
            except InputReadError as exc:
                first_error.append(exc)

        t = threading.Thread(target=first)
        t.start()
        assert entered.wait(10)
        second: list[bytes] = []
        waiter = threading.Thread(target=lambda: second.append(lazy.read_at(5, 10)))
        waiter.start()
        gate.set()
        t.join(10)
        waiter.join(10)
        assert first_error and second == [remote.data[5:15]]


def test_a_short_fetch_is_an_error_naming_the_bytes(tmp_path: Path, remote: Remote) -> None:
    remote.short = True
    with LazyInput(tmp_path / "in.mp4", len(remote.data), remote, block_size=BLOCK) as lazy, \
            pytest.raises(InputReadError, match=r"bytes 0-999 returned 999 bytes instead of 1000"):
        lazy.read_at(0, 10)


def test_read_ahead_grows_with_a_run_of_reads_and_stops_at_a_seek(tmp_path: Path, remote: Remote) -> None:
    with LazyInput(tmp_path / "in.mp4", len(remote.data), remote, block_size=BLOCK, readahead=2) as lazy:
        reader = lazy.reader()

        def settled() -> list[int]:
            lazy._background.submit(lambda: None).result()  # noqa: SLF001 - one worker: queued fetches ran
            return sorted(remote.fetched_blocks())

        reader.read(600)
        assert settled() == [0]  # a short read fetches only what it reads
        reader.read(600)  # 1,200 bytes in a row: one block ahead
        assert settled() == [0, 1, 2]
        reader.read(1000)  # 2,200 in a row: two blocks ahead (the most here)
        assert settled() == [0, 1, 2, 3, 4]
        reader.seek(7500)
        reader.read(100)  # a seek starts the run again: no read-ahead
        assert settled() == [0, 1, 2, 3, 4, 7]
        assert lazy.read_at(1000, 4000) == remote.data[1000:5000]
        assert sorted(remote.fetched_blocks()) == [0, 1, 2, 3, 4, 7]  # served from the blocks fetched ahead


def test_lifecycle_registry_and_cleanup(tmp_path: Path, remote: Remote) -> None:
    path = tmp_path / "in.mp4"
    with LazyInput(path, len(remote.data), remote, block_size=BLOCK) as lazy:
        assert path.stat().st_size == len(remote.data)  # the probe's stat() sees the remote size
        assert lookup(path) is lazy and lookup(str(tmp_path / "." / "in.mp4")) is lazy
        with open_binary(path) as f:
            assert f.read(20) == remote.data[:20]
        assert path.read_bytes() == bytes(len(remote.data))  # the placeholder itself stays empty
        reader = lazy.reader()
    assert lookup(path) is None
    assert list(tmp_path.iterdir()) == []  # placeholder and blocks removed
    with pytest.raises(ValueError, match="closed"):
        reader.read(10)


def test_an_existing_file_is_never_taken_over(tmp_path: Path, remote: Remote) -> None:
    path = tmp_path / "in.mp4"
    path.write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        LazyInput(path, len(remote.data), remote)
    assert path.read_bytes() == b"mine" and lookup(path) is None
    with open_binary(path) as f:  # an ordinary file reads as itself
        assert f.read() == b"mine"


def test_bad_sizes_are_refused(tmp_path: Path, remote: Remote) -> None:
    with pytest.raises(ValueError, match="block_size 0"):
        LazyInput(tmp_path / "in.mp4", 10, remote, block_size=0)
    assert not (tmp_path / "in.mp4").exists()


def test_a_cancel_stops_the_fetches_of_its_own_reader_only(tmp_path: Path, remote: Remote) -> None:
    """``cancelled_by`` scopes a cancel to the reads made in its context (and threads started
    from a copy of it): another reader of the same input, an export without ``cancel=`` or a
    plain ``probe()``, reads on (helper-48: one export's cancel failed another's reads)."""
    cancelled = threading.Event()
    with LazyInput(tmp_path / "in.mp4", len(remote.data), remote, block_size=BLOCK, readahead=0) as lazy:
        outside: list[bytes] = []
        with cancelled_by(cancelled.is_set):
            assert lazy.read_at(0, 10) == remote.data[:10]
            cancelled.set()
            with pytest.raises(Cancelled, match=r"in.mp4: cancelled while reading"):
                lazy.read_at(BLOCK, 10)
            assert lazy.read_at(5, 10) == remote.data[5:15]  # present blocks are served without a fetch
            inherited: list[BaseException] = []

            def in_a_copy() -> None:
                try:
                    lazy.read_at(2 * BLOCK, 10)
                except Cancelled as exc:
                    inherited.append(exc)

            worker = threading.Thread(target=contextvars.copy_context().run, args=(in_a_copy,))
            worker.start()
            worker.join()
            assert len(inherited) == 1, "a thread started in a copy of the context fetched after the cancel"
            other = threading.Thread(target=lambda: outside.append(lazy.read_at(BLOCK, 10)))  # a fresh context
            other.start()
            other.join()
        assert outside == [remote.data[BLOCK:BLOCK + 10]]
        assert lazy.read_at(2 * BLOCK, 10) == remote.data[2 * BLOCK:2 * BLOCK + 10]  # outside the context
        assert [offset for offset, _ in remote.calls] == [0, BLOCK, 2 * BLOCK]


def test_a_fetch_that_fails_as_its_reader_is_cancelled_is_a_cancel(tmp_path: Path, remote: Remote) -> None:
    """A cancelled call never comes back as a retryable InputReadError (helper-48: the probe's
    first read failed as the caller cancelled)."""
    cancelled = threading.Event()
    error = ConnectionError("connection reset")

    def fetch(offset: int, length: int) -> bytes:
        cancelled.set()
        raise error

    with LazyInput(tmp_path / "in.mp4", len(remote.data), fetch, block_size=BLOCK, readahead=0) as lazy, \
            cancelled_by(cancelled.is_set), pytest.raises(Cancelled) as err:
        lazy.read_at(0, 10)
    assert err.value.__cause__ is error
