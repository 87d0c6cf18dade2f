"""Fetching the cuts of a lazy input before the export reads them.

An export of clips from a :class:`~reelgpu.media.lazy_input.LazyInput` would otherwise wait on
the network at every block it reads: one round trip per block, one cut after the other. The
container's index (``stream.index_entries``: the byte position and size of each packet, for
MP4/MOV, AVI, and Matroska's key frames) says which bytes each cut's packets occupy, without
reading them. :func:`prefetch_cuts` fetches those byte spans in the background, in the order the
export needs them and a few at once, while the export reads audio and renders earlier cuts;
:func:`prefetch_probe` does the same for the packets the probe samples. A file without an index
in memory (MPEG-TS) is left to on-demand reads.

:func:`range_reads_pay` tells the files that range reads cannot help (fragmented MP4, Matroska
without Cues) from the rest, so that a caller can download those whole instead.
"""

from __future__ import annotations

import bisect
import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import av

from ..result import StrPath
from .frame_rate import SAMPLE_PACKETS, WINDOW_FRACTIONS, WINDOW_PACKETS
from .lazy_input import LazyInput, lookup
from .probe import FULLY_INDEXED, TAIL_SCAN_S, iso_fragmented, open_media, sniff_container
from .seek import stream_origin

log = logging.getLogger("reelgpu.media.prefetch")

# Before a cut: audio is read from 1 s ahead of it (media.audio.read_audio) with 0.1 s of context
# for slowed pieces; video from the key frame at or before it, which the index walk finds itself.
LEAD_S = 1.2
TAIL_S = 0.5  # after a cut: the decoder's reorder delay, the last audio frame
# An index whose entries lie further than this from a cut says too little of it (Matroska without
# Cues, a damaged index): no prefetch, rather than the whole file.
MAX_GAP_S = 20.0
CHUNK_BLOCKS = 8  # one request at most this many blocks: the export can start on the first ones
SEEK_SLACK_PACKETS = 3  # the probe's seeks land up to this many packets before the index's entry
WORKERS = 2


T = TypeVar("T")
# The spans to fetch, each with the lazy input it is of (None: nothing known of that one).
Plan = Callable[[], list[tuple[LazyInput, tuple[int, int] | None]]]


def prefetch_cuts(cuts: Sequence[tuple[StrPath, float, float]]) -> contextlib.AbstractContextManager[None]:
    """Within the context, fetch the bytes of each ``(path, start_s, end_s)`` cut (seconds from the
    video's first frame) of every lazy input among the paths, in the cuts' order. Ordinary files
    are left alone; errors are left to the reads that need the bytes."""
    lazy = [(found, cut) for cut in cuts if (found := lookup(cut[0])) is not None]
    return _prefetching(lambda: _cut_spans(lazy)) if lazy else contextlib.nullcontext()


def prefetch_probe(path: StrPath) -> contextlib.AbstractContextManager[None]:
    """Within the context, fetch what :func:`~reelgpu.media.probe.probe` reads of a lazy input's
    packets (:func:`probe_spans`), a few spans at once, while the probe reads its header. Read
    on demand instead, its samples at the start, a third and two thirds of the way in were a
    dozen requests one after the other (and more bytes, with read-ahead past each)."""
    lazy = lookup(path)
    if lazy is None:
        return contextlib.nullcontext()
    return _prefetching(lambda: [(lazy, span) for span in _quietly(lambda: probe_spans(path), path, [])])


@contextlib.contextmanager
def _prefetching(plan: Plan) -> Iterator[None]:
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="reelgpu-prefetch")
    try:
        # Each task in a copy of the caller's context: the export's cancel stops its fetches.
        pool.submit(contextvars.copy_context().run, _fetch_planned, pool, plan)
        yield
    finally:
        # Fetches under way finish (their bytes are written before the input can close); queued ones are dropped.
        pool.shutdown(wait=True, cancel_futures=True)


def _quietly(read_index: Callable[[], T], path: StrPath, nothing: T) -> T:
    """``read_index()``, or ``nothing`` where the file cannot say (the export meets the cause, or not)."""
    try:
        return read_index()
    except Exception as exc:  # noqa: BLE001 - a bad file or a failed read: the export meets it, or not
        log.debug("%s: no prefetch: %r", path, exc)
        return nothing


def _fetch_planned(pool: ThreadPoolExecutor, plan: Plan) -> None:
    for lazy, span in plan():  # in the order the reader needs them
        if span is None:
            continue
        step = CHUNK_BLOCKS * lazy.block_size
        for offset in range(span[0] - span[0] % lazy.block_size, span[1], step):
            with contextlib.suppress(RuntimeError):  # the pool is shutting down: the reader is done
                pool.submit(contextvars.copy_context().run, lazy.ensure_quietly, offset, min(span[1], offset + step))


def range_reads_pay(path: StrPath) -> bool:
    """Whether reading ``path`` by byte range saves reading most of it: False for a fragmented
    MP4 (the probe's box scan and FFmpeg's seeks walk every fragment's header, one request
    each) and for Matroska without an index (seeks read the clusters in order). Reads a few
    headers (and Matroska's Cues), which any export of the file reads too."""
    kind = sniff_container(path)
    if kind == "iso":
        return not iso_fragmented(path)
    if kind == "matroska":
        with open_media(path, readahead=False) as container:
            if not container.streams.video:
                return True  # refused by the export anyway
            video = container.streams.video[0]
            container.seek(0, stream=video, backward=True)  # reads the Cues
            entries = video.index_entries
            if not container.duration:  # a live recording's: no Duration, and Cues only if finished
                return len(entries) > 2
            # Cues cover the whole file; without them the index holds what the seek just read.
            last_s = float(entries[len(entries) - 1].timestamp * video.time_base) - stream_origin(video)
            return last_s >= 0.5 * container.duration / av.time_base
    return True


def _cut_spans(cuts: list[tuple[LazyInput, tuple[StrPath, float, float]]]
               ) -> list[tuple[LazyInput, tuple[int, int] | None]]:
    ranges: dict[str, list[tuple[float, float]]] = {}
    for _, (path, start_s, end_s) in cuts:
        ranges.setdefault(str(path), []).append((start_s, end_s))
    spans: dict[str, list[tuple[int, int] | None]] = {}
    for path, wanted in ranges.items():  # one open and one index walk per input
        spans[path] = _quietly(lambda: byte_spans(path, wanted), path, [None] * len(wanted))  # noqa: B023 - called at once
    return [(lazy, spans[str(path)].pop(0)) for lazy, (path, _, _) in cuts]  # in the export's order


def probe_spans(path: StrPath) -> list[tuple[int, int]]:
    """The bytes holding the packets the probe reads, from the index: the first
    ``SAMPLE_PACKETS`` video packets (its rate samples and first frame), ``WINDOW_PACKETS``
    from a third and two thirds of the way in, and, for an MP4 with B-frames, the last
    seconds (where it reads the video's end). Only where the index lists every video packet
    (MP4/MOV, AVI); a span is a hint, rounded to blocks: a packet outside one is read on demand."""
    if sniff_container(path) not in FULLY_INDEXED:
        return []  # Matroska's index (Cues) lists key frames only; MPEG-TS has none
    with open_media(path, readahead=False) as container:
        if not container.streams.video:
            return []
        video = container.streams.video[0]
        entries = list(video.index_entries)
        if not entries:
            return []
        stamps = [e.timestamp for e in entries]
        tb = video.time_base

        def from_time(seconds: float) -> int:
            # The index holds decode times and the seeks aim at presentation times: with
            # B-frames FFmpeg lands a few packets before the entry at that time.
            return max(0, bisect.bisect_right(stamps, seconds / tb) - 1 - SEEK_SLACK_PACKETS)

        # The sampling reads one packet past its count (to learn that it has them all).
        spans = [_entries_span(entries[:SAMPLE_PACKETS + 1])]
        file_s = container.duration / av.time_base if container.duration else 0.0
        first_s = (container.start_time or 0) / av.time_base
        if file_s > 0:  # the windows of frame_rate.sampled_period
            for fraction in WINDOW_FRACTIONS:
                at = from_time(first_s + fraction * file_s)
                spans.append(_entries_span(entries[at:at + SEEK_SLACK_PACKETS + WINDOW_PACKETS + 1]))
        iso = {"mp4", "mov"} & set(container.format.name.split(","))
        if iso and video.duration is not None and video.codec_context.has_b_frames:
            # probe._video_duration reads from the video's own end, not the file's (audio can outlast it).
            end_s = float((video.start_time or 0) * tb) + float(video.duration * tb)
            spans.append(_entries_span(entries[from_time(end_s - TAIL_SCAN_S):]))
        return spans


def _entries_span(entries: Sequence[Any]) -> tuple[int, int]:
    return min(e.pos for e in entries), max(e.pos + e.size for e in entries)


def byte_spans(path: StrPath, cuts: Sequence[tuple[float, float]]) -> list[tuple[int, int] | None]:
    """For each ``(start_s, end_s)``, the bytes ``[start, end)`` holding the packets of the first
    video and audio streams from the key frame before ``start_s - LEAD_S`` to ``end_s + TAIL_S``,
    from the index alone; None where the video has no index (MPEG-TS) or it says nothing of it."""
    with open_media(path, readahead=False) as container:
        if not container.streams.video:
            return [None] * len(cuts)
        video = container.streams.video[0]
        origin = stream_origin(video)
        size = container.size if container.size and container.size > 0 else None
        duration_s = container.duration / av.time_base if container.duration else None
        if container.format.name.startswith("matroska"):
            # Matroska reads its Cues (the index) at the first seek, not at open.
            container.seek(0, stream=video, backward=True)
        streams = [(video, list(video.index_entries))]
        if not streams[0][1]:
            return [None] * len(cuts)
        streams += [(audio, list(audio.index_entries)) for audio in container.streams.audio[:1]]
        indexed = [(stream, entries, [e.timestamp for e in entries]) for stream, entries in streams if entries]
        return [_span(indexed, video, origin, size, duration_s, start_s, end_s) for start_s, end_s in cuts]


def _span(indexed: list[tuple[av.stream.Stream, list[Any], list[int]]], video: av.stream.Stream, origin: float,
          size: int | None, duration_s: float | None, start_s: float, end_s: float) -> tuple[int, int] | None:
    lo: int | None = None
    hi: int | None = None
    for stream, entries, stamps in indexed:
        tb = stream.time_base
        first = bisect.bisect_right(stamps, (start_s - LEAD_S + origin) / tb) - 1
        while stream is video and first > 0 and not entries[first].is_keyframe:
            first -= 1
        last = bisect.bisect_left(stamps, (end_s + TAIL_S + origin) / tb)
        chosen = entries[max(0, first):last + 1]  # the entry after the end bounds a sparse index
        if not chosen:
            continue
        if stream is not video and float(stamps[-1] * tb) - origin < start_s - LEAD_S:
            continue  # an audio index that stops before the cut (Matroska's: what probing read)
        if stream is not video and duration_s and float(stamps[-1] * tb) - origin > 1.1 * duration_s + 1.0:
            continue  # not in the stream's time base: an AVI's PCM audio is indexed in bytes
        # Entries far from the cut on either side: the index is too sparse to say where it lies.
        before = start_s - LEAD_S - (float(stamps[max(0, first)] * tb) - origin)
        if last < len(entries):
            after = float(stamps[last] * tb) - origin - (end_s + TAIL_S)
        else:  # the cut runs past the last entry: to the end of the file, if that is near
            after = (duration_s - (end_s + TAIL_S)) if duration_s is not None else 0.0
        if before > MAX_GAP_S or after > MAX_GAP_S:
            if stream is video:
                return None
            continue
        start = min(e.pos for e in chosen)
        end = max(e.pos + e.size for e in chosen)
        if last >= len(entries) and size is not None:  # past the last entry: to the end of the file
            end = size
        lo = start if lo is None else min(lo, start)
        hi = end if hi is None else max(hi, end)
    return (lo, hi) if lo is not None and hi is not None and hi > lo else None
