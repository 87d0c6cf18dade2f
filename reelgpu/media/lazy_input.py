"""Inputs read by byte range: a local file name for a remote file whose bytes are fetched, in
blocks, the first time a reader needs them.

Annotate cuts a few clips out of a game recording of several GB; framing may use a few seconds
of a long source. Downloading the whole file first was the slowest step of the editor's old
pipeline (3.46 GB fetched for a 10 s clip). An export reads far less: the container's index,
its clips' packets (from the key frame before each), and a few packets the probe samples.

:class:`LazyInput` makes a placeholder of the remote file's size at a local path and registers
it. Every reader of an input in reelgpu opens it through :func:`open_binary` (the probe's own
box scans) or :func:`reelgpu.media.probe.open_media` (FFmpeg), which look the path up here: a
registered path reads through :class:`LazyReader`, which fetches each missing block once, stores
it in a hidden sparse file beside the placeholder, and serves every later read from there. The
placeholder itself is never written (its size and times stay those of a fixed file, which the
probe's caches key on) and never read: it holds no media.

Readers move mostly forward (the demuxer reads a clip's packets in file order), so a reader
that has read on without seeking fetches the blocks after its position in the background: one
block ahead per block it has read in a row, up to ``readahead``. Decoding a clip then overlaps
the network's latency, while the short reads around a seek (the index, the probe's samples of a
few packets) fetch only the blocks they read.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import logging
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from ..errors import Cancelled, InputReadError
from ..result import CancelCheck, StrPath

log = logging.getLogger("reelgpu.media.lazy_input")

# fetch(offset, length) -> exactly ``length`` bytes of the remote file from ``offset``.
Fetch = Callable[[int, int], bytes]

MiB = 1024 * 1024
# 1 MiB: about a second of 1080p at 8 Mbit/s. An object store answers a ranged GET in ~30-150 ms
# however small, so blocks much smaller cost more in requests than they save in bytes; larger
# ones fetch more past the end of each clip. Read-ahead keeps long reads streaming.
DEFAULT_BLOCK_SIZE = MiB
DEFAULT_READAHEAD = 4

_REGISTRY: dict[str, LazyInput] = {}
_REGISTRY_LOCK = threading.Lock()


def _key(path: StrPath) -> str:
    return os.path.realpath(os.fspath(path))


def lookup(path: StrPath) -> LazyInput | None:
    """The open :class:`LazyInput` at ``path``, or None for an ordinary file."""
    if not _REGISTRY:  # the common case: no lazy input anywhere in this process
        return None
    with _REGISTRY_LOCK:
        return _REGISTRY.get(_key(path))


def open_binary(path: StrPath) -> BinaryIO:
    """``open(path, "rb")`` for an input: through its :class:`LazyInput` where it has one."""
    lazy = lookup(path)
    if lazy is None:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    # Buffered, but never more than a block: a 200-byte sniff must not fetch 64 KiB of small blocks.
    return io.BufferedReader(lazy.reader(), buffer_size=min(64 * 1024, lazy.block_size))  # type: ignore[return-value]


# The cancel check of the export whose thread is reading (cancelled_by). A context variable, not
# a setting of the input: two exports can read one input, and one's cancel must not fail the
# other's reads. The export's own threads (decoders, prefetch, read-ahead) start in a copy of
# the context that started them (pipeline.py, prefetch.py, LazyInput.prefetch).
_READER_CANCEL: contextvars.ContextVar[CancelCheck | None] = contextvars.ContextVar("reelgpu_read_cancel",
                                                                                    default=None)


@contextlib.contextmanager
def cancelled_by(cancel: CancelCheck | None) -> Iterator[None]:
    """Within the context (and the threads it starts), a lazy input's fetch raises
    :class:`~reelgpu.Cancelled` instead of fetching once ``cancel()`` is True. Every export
    holds this around its work with its own ``cancel``: ``cancel=`` is otherwise asked between
    frames, and the probe's and the audio's reads of a slow remote input come before the first."""
    token = _READER_CANCEL.set(cancel)
    try:
        yield
    finally:
        _READER_CANCEL.reset(token)


def _reader_cancelled() -> bool:
    cancel = _READER_CANCEL.get()
    return cancel is not None and bool(cancel())


class LazyInput:
    """A local name for a remote file of ``size`` bytes, filled on demand by ``fetch``.

    Use it as a context manager around the export(s) that read it::

        with LazyInput(scratch / "game.mp4", size, fetch) as game:
            reelgpu.annotate(game.path, "out.mp4", spec)

    ``fetch(offset, length)`` must return exactly ``length`` bytes; what it raises reaches the
    export's caller as :class:`~reelgpu.InputReadError` with the fetch's exception as
    ``__cause__`` (it is called from the export's own threads). Leaving the
    context removes the placeholder and the fetched blocks. Thread-safe: a block is fetched
    once, however many readers want it at the same time.
    """

    def __init__(self, path: StrPath, size: int, fetch: Fetch, *, block_size: int = DEFAULT_BLOCK_SIZE,
                 readahead: int = DEFAULT_READAHEAD) -> None:
        if size < 0 or block_size <= 0 or readahead < 0:
            raise ValueError(f"LazyInput: size {size}, block_size {block_size} and readahead {readahead} "
                             "must not be negative (block_size must be positive)")
        self.path = Path(path)
        self.size = size
        self.block_size = block_size
        self.readahead = readahead
        self._fetch = fetch
        self._store_path = self.path.with_name(f".{self.path.name}.blocks")
        self._present: set[int] = set()
        self._pending: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when a read or fetch ends
        self._busy = 0  # reads and fetches using the block store now: close() waits for them
        self._closed = False
        self.fetched_bytes = 0
        self.requests = 0
        # Exclusive creation: never take over (and later delete) a file someone else made.
        with open(self.path, "xb") as placeholder:
            placeholder.truncate(size)  # sparse: no disk used, the right size for stat()
        try:
            self._store = os.open(self._store_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            os.ftruncate(self._store, size)
        except BaseException:
            self.path.unlink(missing_ok=True)
            raise
        # One thread: read-ahead runs behind the reader, each call one request for its blocks.
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reelgpu-readahead")
        with _REGISTRY_LOCK:
            _REGISTRY[_key(self.path)] = self

    def __enter__(self) -> LazyInput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"LazyInput({str(self.path)!r}, size={self.size}, fetched {self.fetched_bytes} bytes "
                f"in {self.requests} requests)")

    def close(self) -> None:
        """Unregister, wait for background fetches, remove the placeholder and the blocks."""
        with _REGISTRY_LOCK:
            if _REGISTRY.get(_key(self.path)) is self:
                del _REGISTRY[_key(self.path)]
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._background.shutdown(wait=True, cancel_futures=True)
        with self._idle:  # a reader in another thread (an export's prefetch) may still be reading
            self._idle.wait_for(lambda: self._busy == 0)
        os.close(self._store)  # only now: a late pwrite or pread could hit a reused descriptor
        self._store_path.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)

    def reader(self, *, readahead: bool = True, for_ffmpeg: bool = False) -> LazyReader:
        """A new file object over the remote bytes, with its own position; ``readahead=False``
        for one whose reads are fetched ahead another way (the probe's samples of an indexed
        file: ``prefetch.probe_spans``), so that it fetches no block past what it reads;
        ``for_ffmpeg=True`` for one handed to FFmpeg (through PyAV), which reads as ended after
        a failed read (:meth:`LazyReader.readinto`)."""
        return LazyReader(self, readahead=readahead, for_ffmpeg=for_ffmpeg)

    # --- blocks
    def read_at(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``offset`` (fewer only at the end of the file)."""
        end = min(self.size, offset + length)
        if offset >= end:
            return b""
        with self._using():
            self._ensure(self._blocks_of(offset, end))
            return os.pread(self._store, end - offset, offset)

    @contextlib.contextmanager
    def _using(self) -> Iterator[None]:
        """Mark the block store in use (close() waits); ValueError once closed."""
        with self._lock:
            if self._closed:
                raise ValueError(f"{self.path.name}: read after the lazy input was closed")
            self._busy += 1
        try:
            yield
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def ensure(self, start: int, end: int) -> None:
        """Make bytes ``[start, end)`` present, fetching the blocks that are not (once each)."""
        with self._using():
            self._ensure(self._blocks_of(start, end))

    def ensure_quietly(self, start: int, end: int) -> None:
        """:meth:`ensure` for fetching ahead: a failure is only logged (the reader that needs the
        bytes fetches them again and meets it)."""
        try:
            self.ensure(start, end)
        except Exception as exc:  # noqa: BLE001 - see above
            log.debug("%s: fetching bytes %d-%d ahead failed: %r", self.path.name, start, end, exc)

    def _blocks_of(self, start: int, end: int) -> range:
        return range(start // self.block_size, (end - 1) // self.block_size + 1)

    def _ensure(self, blocks: range) -> None:
        while True:
            mine: list[int] = []
            waits: list[threading.Event] = []
            with self._lock:
                for b in blocks:
                    if b in self._present:
                        continue
                    if b in self._pending:
                        waits.append(self._pending[b])
                    else:
                        self._pending[b] = threading.Event()
                        mine.append(b)
            if not mine and not waits:
                return
            runs = list(_runs(mine))
            for i, (first, last) in enumerate(runs):
                try:
                    self._fetch_blocks(first, last)
                except BaseException:
                    self._release(runs[i + 1:])  # nobody may wait for blocks this thread will not fetch
                    raise
            for event in waits:
                event.wait()
            # A block another thread was fetching may have failed there: the loop fetches it here.

    def prefetch(self, first_block: int, count: int) -> None:
        """Fetch ``count`` blocks from ``first_block`` in the background; errors are left for
        the reader that needs the block to meet (it fetches it again)."""
        last = min(first_block + count, self.blocks) - 1
        if last < first_block:
            return
        with self._lock:
            if self._closed or all(b in self._present or b in self._pending for b in range(first_block, last + 1)):
                return
        with contextlib.suppress(RuntimeError):  # shut down meanwhile
            # In the reader's context: its export's cancel stops the read-ahead it asked for.
            self._background.submit(contextvars.copy_context().run, self.ensure_quietly,
                                    first_block * self.block_size, min(self.size, (last + 1) * self.block_size))

    @property
    def blocks(self) -> int:
        return -(-self.size // self.block_size)

    def _release(self, runs: list[tuple[int, int]]) -> None:
        with self._lock:
            for first, last in runs:
                for b in range(first, last + 1):
                    self._pending.pop(b).set()

    def _fetch_blocks(self, first: int, last: int) -> None:
        offset = first * self.block_size
        length = min(self.size, (last + 1) * self.block_size) - offset
        done = False
        try:
            if _reader_cancelled():
                raise Cancelled(f"{self.path.name}: cancelled while reading")
            try:
                data = self._fetch(offset, length)
            except Exception as exc:
                if _reader_cancelled():  # a fetch that failed as the caller cancelled: the cancel says why
                    raise Cancelled(f"{self.path.name}: cancelled while reading") from exc
                raise InputReadError(f"{self.path.name}: reading bytes {offset}-{offset + length - 1} failed: "
                                     f"{exc}") from exc
            if len(data) != length:
                raise InputReadError(f"{self.path.name}: reading bytes {offset}-{offset + length - 1} returned "
                                     f"{len(data)} bytes instead of {length}")
            os.pwrite(self._store, data, offset)
            done = True
        finally:
            with self._lock:
                for b in range(first, last + 1):
                    if done:
                        self._present.add(b)
                    self._pending.pop(b).set()
                if done:
                    self.fetched_bytes += length
                    self.requests += 1


def _runs(blocks: list[int]) -> Iterator[tuple[int, int]]:
    """Consecutive block numbers as (first, last) runs: one request per run."""
    start = prev = None
    for b in blocks:
        if start is None:
            start = prev = b
        elif b == prev + 1:  # type: ignore[operator]
            prev = b
        else:
            yield start, prev  # type: ignore[misc]
            start = prev = b
    if start is not None:
        yield start, prev  # type: ignore[misc]


class LazyReader(io.RawIOBase):
    """A seekable binary file over a :class:`LazyInput` (what FFmpeg and the probe read)."""

    def __init__(self, lazy: LazyInput, *, readahead: bool = True, for_ffmpeg: bool = False) -> None:
        super().__init__()
        self._lazy = lazy
        self._for_ffmpeg = for_ffmpeg
        self._readahead = lazy.readahead if readahead else 0
        self._pos = 0
        self._last_end = -1  # where the previous read ended: a read starting there is sequential
        self._run = 0  # bytes read in a row without a seek
        self._failed = False

    @property
    def name(self) -> str:  # PyAV and error messages name the file by this
        return str(self._lazy.path)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._lazy.size}[whence]
        if base + offset < 0:
            raise OSError(f"{self.name}: seek to a negative position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        lazy = self._lazy
        if self._failed:
            # FFmpeg's file reads as ended after a failed read. FFmpeg reads again after an
            # error (a demuxer seeks to the next packet), within the same call; a second
            # exception would make PyAV print the first on stderr ("exception being dropped")
            # and raise the second. PyAV raises the first when the call returns.
            return 0
        try:
            data = lazy.read_at(self._pos, len(buffer))
        except BaseException:
            self._failed = self._for_ffmpeg
            raise
        n = len(data)
        memoryview(buffer).cast("B")[:n] = data
        self._run = self._run + n if self._pos == self._last_end else n
        ahead = min(self._readahead, self._run // lazy.block_size)
        if n and ahead:
            lazy.prefetch((self._pos + n - 1) // lazy.block_size + 1, ahead)
        self._pos += n
        self._last_end = self._pos
        return n


__all__ = ["DEFAULT_BLOCK_SIZE", "Fetch", "LazyInput", "LazyReader", "cancelled_by", "lookup", "open_binary"]
