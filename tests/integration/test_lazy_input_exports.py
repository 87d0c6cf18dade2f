"""Every export reads a LazyInput (a remote file fetched by byte range) exactly as it reads the
same file on disk, and fetches only the parts it reads.

The placeholder of each lazy input here is filled with 0xFF bytes instead of staying empty: a
reader that bypassed the lazy input and opened the placeholder itself would read garbage, and
the output would differ (or the export would fail)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import av
import pytest

import reelgpu
from reelgpu.media.lazy_input import LazyInput, cancelled_by
from reelgpu.media.prefetch import byte_spans, prefetch_cuts, range_reads_pay
from reelgpu.media.probe import probe
from tests.conftest import FileRemote, lazy_copy, noisy_video

KEY = {"x": 160, "y": 90, "radiusX": 30, "radiusY": 50, "strokeOpacity": 0.9, "fillOpacity": 0.1, "color": "#FF0000"}
FAST = {"encode": {"preset": "ultrafast"}}
SPECS: dict[str, tuple[str, dict[str, Any]]] = {
    "framing": ("framing", {**FAST, "keyframes": [{"time": 0, "x": 0, "y": 0, "width": 81, "height": 144},
                                                  {"time": 1.5, "x": 200, "y": 30, "width": 81, "height": 144}],
                            "target_width": 90, "target_height": 160,
                            "segment_data": {"trim_start": 0.4, "trim_end": 1.8,
                                             "segments": [{"start": 1.0, "end": 1.4, "speed": 0.5}]}}),
    "overlay": ("overlay", {**FAST, "highlight_regions": [
        {"start_time": 0.2, "end_time": 1.5, "keyframes": [{**KEY, "time": 0.2}, {**KEY, "time": 1.5, "x": 220}]}]}),
    "overlay-copy": ("overlay", {}),  # nothing to draw: the input is copied
    "annotate": ("annotate", {**FAST, "clips": [{"start_time": 0.3, "end_time": 0.9, "name": "Goal", "rating": 5},
                                                {"start_time": 1.2, "end_time": 1.9, "notes": "late", "rating": 2}]}),
    "annotate-clips": ("annotate", {**FAST, "mode": "clips", "clips": [
        {"start_time": 0.5, "end_time": 1.1, "name": "Save", "rating": 4}]}),
}


def media_digest(path: Path) -> tuple[list[str], list[str]]:
    """A digest per decoded video frame and per decoded audio frame."""
    video, audio = [], []
    with av.open(str(path)) as c:
        for frame in c.decode(*c.streams.video, *c.streams.audio):  # not the chapters' data stream
            if isinstance(frame, av.VideoFrame):
                video.append(hashlib.sha256(b"".join(bytes(p) for p in frame.planes)).hexdigest())
            else:
                audio.append(hashlib.sha256(frame.to_ndarray().tobytes()).hexdigest())
    return video, audio


def outputs_of(result: reelgpu.ExportResult, dst: Path) -> list[Path]:
    """The MP4s an export wrote: one, or a folder of them (annotate clips mode)."""
    return sorted(dst.glob("*.mp4")) if dst.is_dir() else [result.output]


@pytest.mark.parametrize("name", list(SPECS))
def test_an_export_of_a_lazy_input_equals_the_export_of_the_file(name: str, sample_30: Path, tmp_path: Path) -> None:
    kind, spec = SPECS[name]
    export = getattr(reelgpu, kind)
    direct_dst = tmp_path / "direct" / "out.mp4"
    direct_dst.parent.mkdir()
    direct = export(sample_30, direct_dst, spec, device="cpu")
    lazy_dst = tmp_path / "lazy" / "out.mp4"
    lazy_dst.parent.mkdir()
    with lazy_copy(sample_30, tmp_path / "in") as (lazy, remote):
        ranged = export(lazy.path, lazy_dst, spec, device="cpu")
        assert remote.calls, "the export read nothing through the lazy input"
    assert ranged.frames == direct.frames and ranged.backend == direct.backend
    mine, theirs = outputs_of(ranged, lazy_dst), outputs_of(direct, direct_dst)
    assert [p.name for p in mine] == [p.name for p in theirs] and mine
    for a, b in zip(mine, theirs):
        video, audio = media_digest(a)
        assert video and audio
        assert (video, audio) == media_digest(b), f"{a.name} differs from the export of the file"
    assert not (tmp_path / "in").exists() or not any((tmp_path / "in").iterdir())


def test_probe_of_a_lazy_input_equals_the_probe_of_the_file(sample_30: Path, tmp_path: Path) -> None:
    expected = probe(sample_30).to_dict()
    with lazy_copy(sample_30, tmp_path / "in") as (lazy, _):
        got = probe(lazy.path).to_dict()
    assert got.pop("path") == str(tmp_path / "in" / sample_30.name)
    expected.pop("path")
    assert got == expected


@pytest.fixture(scope="module")
def long_game(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """90 s of noisy 320x180 video (~12 MB, a key frame every 2 s) with a tone."""
    return noisy_video(tmp_path_factory.mktemp("game") / "game.mp4", seconds=90, gop=60)


def byte_span(path: Path, start_s: float, end_s: float) -> tuple[int, int]:
    """First and last byte of the packets (all streams) presented within [start_s, end_s)."""
    first, last = None, None
    with av.open(str(path)) as c:
        for packet in c.demux():
            if packet.pts is None or packet.pos is None or packet.pos < 0:
                continue
            if start_s <= float(packet.pts * packet.time_base) < end_s:
                first = packet.pos if first is None else min(first, packet.pos)
                last = max(last or 0, packet.pos + packet.size)
    assert first is not None and last is not None
    return first, last


def test_annotate_fetches_the_clip_not_the_game(long_game: Path, tmp_path: Path) -> None:
    spec = {**FAST, "clips": [{"start_time": 45.0, "end_time": 46.5, "name": "Goal", "rating": 5}]}
    with lazy_copy(long_game, tmp_path / "in", block_size=128 * 1024) as (lazy, remote):
        result = reelgpu.annotate(lazy.path, tmp_path / "out.mp4", spec, device="cpu")
        fetched = [(offset, offset + length) for offset, length in remote.calls]
        share = lazy.fetched_bytes / remote.size
    assert result.frames == 45
    clip = byte_span(long_game, 45.0, 46.5)
    assert any(a <= clip[0] < b for a, b in fetched) and any(a < clip[1] <= b for a, b in fetched)
    # The probe samples the start and two windows a third and two thirds in; nothing reads
    # 10-25 s of the game, and none of it is fetched.
    unread = byte_span(long_game, 10.0, 25.0)
    assert not any(a < unread[1] and b > unread[0] for a, b in fetched), "an unread part of the game was fetched"
    assert share < 0.4, f"{share:.0%} of the game fetched for 1.5 s of it"


def test_byte_spans_cover_each_cut_from_the_key_frame_before_it(long_game: Path) -> None:
    spans = byte_spans(long_game, [(45.0, 46.5), (80.0, 81.0)])
    for (start_s, end_s), span in zip([(45.0, 46.5), (80.0, 81.0)], spans):
        assert span is not None
        # From the key frame before the audio's lead-in (1.2 s early; key frames every 2 s) to
        # the tail: every packet the export reads lies within, and the span is a few seconds.
        key = 2 * ((start_s - 1.2) // 2)
        needed = byte_span(long_game, key, end_s + 0.4)
        assert span[0] <= needed[0] and span[1] >= needed[1]
        assert span[1] - span[0] < byte_span(long_game, key - 2, end_s + 2.0)[1] - byte_span(long_game, key - 2, key)[0]


def test_byte_spans_of_an_avi_with_pcm_audio(long_game: Path, tmp_path: Path) -> None:
    """FFmpeg indexes an AVI's PCM audio in bytes, not in its time base (a 60 s stereo track's
    last entry read as 240 s): taken as times, the audio index put the cut at a quarter of its
    time and the span reached back to there (helper-49: 67 % of the file for a 2 s clip)."""
    avi = tmp_path / "game.avi"
    subprocess.run([shutil.which("ffmpeg") or "ffmpeg", "-v", "error", "-i", str(long_game), "-t", "60", "-c:v", "copy",
                    "-c:a", "pcm_s16le", "-ac", "2", str(avi)], check=True)
    [span] = byte_spans(avi, [(50.0, 52.0)])
    assert span is not None
    needed = byte_span(avi, 50.0 - 1.2, 52.4)  # the audio's lead-in to the tail
    with av.open(str(avi)) as c:  # the key frame before the lead-in
        key = max(p.pos for p in c.demux(c.streams.video[0])
                  if p.is_keyframe and p.pts is not None and p.pts * p.time_base <= 50.0 - 1.2)
    assert span[0] <= min(needed[0], key) and span[1] >= needed[1]
    assert span[0] >= byte_span(avi, 44.0, 46.0)[0], "the span reaches back further than the key frame before"


def test_byte_spans_need_an_index(tmp_path: Path, long_game: Path) -> None:
    ts = tmp_path / "game.ts"  # MPEG-TS keeps no index: on-demand reads only
    subprocess.run([shutil.which("ffmpeg") or "ffmpeg", "-v", "error", "-i", str(long_game), "-t", "5", "-c", "copy",
                    str(ts)], check=True)
    assert byte_spans(ts, [(1.0, 2.0)]) == [None]


def test_prefetch_fetches_the_cuts_before_the_export_reads_them(long_game: Path, tmp_path: Path) -> None:
    with lazy_copy(long_game, tmp_path / "in", block_size=128 * 1024) as (lazy, remote):
        assert prefetch_cuts([(long_game, 45.0, 46.5)]).__class__.__name__ == "nullcontext"  # an ordinary file
        with prefetch_cuts([(lazy.path, 45.0, 46.5)]):
            deadline = time.monotonic() + 30
            first, last = byte_span(long_game, 45.0, 46.5)
            wanted = range(first // lazy.block_size, (last - 1) // lazy.block_size + 1)
            while not all(b in lazy._present for b in wanted) and time.monotonic() < deadline:  # noqa: SLF001
                time.sleep(0.02)
        assert all(b in lazy._present for b in wanted), "the cut's blocks were not fetched ahead"  # noqa: SLF001
        # Large requests (up to 8 blocks), not one per block; nothing read from 10-25 s.
        assert max(length for _, length in remote.calls) > lazy.block_size
        unread = byte_span(long_game, 10.0, 25.0)
        assert not any(a < unread[1] and a + n > unread[0] for a, n in remote.calls)


def remux(src: Path, dst: Path, *args: str, seconds: float = 30) -> Path:
    subprocess.run([shutil.which("ffmpeg") or "ffmpeg", "-v", "error", "-i", str(src), "-t", f"{seconds:g}", "-c",
                    "copy", *args, str(dst)], check=True)
    return dst


def test_matroska_spans_come_from_its_cues(long_game: Path, tmp_path: Path) -> None:
    """Matroska reads its index (Cues) at the first seek: spans are the cut's clusters, not
    "from the first entry to the end of the file" (which fetched all of it)."""
    mkv = remux(long_game, tmp_path / "game.mkv", seconds=90)
    (span,) = byte_spans(mkv, [(45.0, 46.5)])
    assert span is not None and span[1] - span[0] < 0.1 * mkv.stat().st_size
    # A short one too: its audio has no index past what probing read, which once stretched
    # every span to the end of the file.
    short = remux(long_game, tmp_path / "short.mkv", seconds=30)
    (span,) = byte_spans(short, [(10.0, 12.0)])
    assert span is not None and span[1] - span[0] < 0.3 * short.stat().st_size
    with lazy_copy(mkv, tmp_path / "in", block_size=128 * 1024) as (lazy, _):
        reelgpu.annotate(lazy.path, tmp_path / "out.mp4", {**FAST, "clips": [
            {"start_time": 45.0, "end_time": 46.5, "rating": 5}]}, device="cpu")
        assert lazy.fetched_bytes < 0.6 * lazy.size  # the probe samples ~25 s of this 90 s file


def test_range_reads_pay_except_for_fragmented_mp4_and_matroska_without_cues(long_game: Path,
                                                                               tmp_path: Path) -> None:
    pays = {
        "faststart": long_game,
        "moov at the end": remux(long_game, tmp_path / "end.mp4"),
        "matroska": remux(long_game, tmp_path / "cues.mkv"),
        "mpeg-ts": remux(long_game, tmp_path / "game.ts"),
    }
    for name, path in pays.items():
        assert range_reads_pay(path), name
    fragmented = remux(long_game, tmp_path / "frag.mp4", "-movflags", "frag_keyframe+empty_moov")
    assert not range_reads_pay(fragmented)
    # Matroska written to a pipe has no Cues (the muxer cannot go back to write them).
    piped = tmp_path / "nocues.mkv"
    with open(piped, "wb") as out:
        subprocess.run([shutil.which("ffmpeg") or "ffmpeg", "-v", "error", "-i", str(long_game), "-t", "30", "-c",
                        "copy", "-f", "matroska", "pipe:1"], stdout=out, check=True)
    assert not range_reads_pay(piped)
    live = tmp_path / "live.webm"  # a WebM recorded as it streams out: no Cues either
    with open(live, "wb") as out:
        subprocess.run([shutil.which("ffmpeg") or "ffmpeg", "-v", "error", "-i", str(long_game), "-t", "30",
                        "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus", "-f", "webm",
                        "pipe:1"], stdout=out, check=True)
    assert not range_reads_pay(live)


def test_a_failed_read_is_never_taken_for_a_damaged_file(sample_30: Path, tmp_path: Path) -> None:
    """A fetch that raises ValueError or OSError (what the probe and the decoders catch from a
    file they cannot parse) reaches the caller as InputReadError, not as a quietly guessed
    duration or CorruptMedia."""
    for error in (ValueError("remote down"), OSError("remote down")):
        remote = FileRemote(sample_30)
        folder = tmp_path / type(error).__name__

        def fetch(offset: int, length: int, remote: FileRemote = remote, error: Exception = error) -> bytes:
            if offset > 0:  # the header block reads; everything after it fails
                raise error
            return remote(offset, length)

        folder.mkdir()
        with LazyInput(folder / "in.mp4", remote.size, fetch, block_size=16 * 1024, readahead=0) as lazy, \
                pytest.raises(reelgpu.InputReadError, match="remote down") as err:
            probe(lazy.path)
        assert err.value.__cause__ is error


@pytest.mark.parametrize("name", list(SPECS))
def test_cancel_stops_the_reads_before_the_first_frame(name: str, sample_30: Path, tmp_path: Path) -> None:
    """``cancel()`` stops an export inside its probe of a slow remote input, where the frame
    loop's check is not reached yet: the fetch after the cancel is never made."""
    kind, spec = SPECS[name]
    cancelled = threading.Event()
    remote = FileRemote(sample_30)

    def fetch(offset: int, length: int) -> bytes:
        if len(remote.calls) == 2:
            cancelled.set()  # the caller cancels while the third read is on its way
        return remote(offset, length)

    frames_done: list[int] = []
    dst = tmp_path / "out" / "out.mp4"
    with LazyInput(tmp_path / sample_30.name, remote.size, fetch, block_size=4096, readahead=0) as lazy, \
            pytest.raises(reelgpu.Cancelled, match="cancelled while reading"):
        getattr(reelgpu, kind)(lazy.path, dst, spec, device="cpu", cancel=cancelled.is_set,
                               progress=lambda done, total: frames_done.append(done))
    assert len(remote.calls) == 3 and not frames_done
    assert not dst.parent.exists() or not any(dst.parent.iterdir())


def test_one_exports_cancel_leaves_another_reading_the_same_input(sample_30: Path, tmp_path: Path) -> None:
    """Two exports of one lazy input: cancelling one fails none of the other's reads; its
    output is the export of the file (helper-48: 3 of 9 such overlays failed with Cancelled)."""
    spec = SPECS["overlay"][1]
    direct = tmp_path / "direct.mp4"
    reelgpu.overlay(sample_30, direct, spec, device="cpu")
    remote = FileRemote(sample_30)
    cancelled = threading.Event()

    def fetch(offset: int, length: int) -> bytes:
        if len(remote.calls) == 4:
            cancelled.set()
        time.sleep(0.02)
        return remote(offset, length)

    outcomes: dict[str, Any] = {}

    def export(name: str, run: Any) -> None:
        try:
            outcomes[name] = run()
        except Exception as exc:  # noqa: BLE001 - compared below
            outcomes[name] = exc

    with LazyInput(tmp_path / sample_30.name, remote.size, fetch, block_size=4096, readahead=2) as lazy:
        threads = [
            threading.Thread(target=export, args=("cancelled", lambda: reelgpu.annotate(
                lazy.path, tmp_path / "a.mp4", SPECS["annotate"][1], device="cpu", cancel=cancelled.is_set))),
            threading.Thread(target=export, args=("other", lambda: reelgpu.overlay(
                lazy.path, tmp_path / "o.mp4", spec, device="cpu"))),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # A reader in the context of a cancelled export: an export without cancel= is not cancelled by it.
        with cancelled_by(lambda: True):
            reelgpu.overlay(lazy.path, tmp_path / "inside.mp4", spec, device="cpu")
    assert isinstance(outcomes["cancelled"], reelgpu.Cancelled)
    assert isinstance(outcomes["other"], reelgpu.ExportResult), outcomes["other"]
    assert media_digest(tmp_path / "o.mp4") == media_digest(direct) == media_digest(tmp_path / "inside.mp4")


def test_a_cancel_inside_ffmpegs_reading_prints_nothing(long_game: Path, tmp_path: Path,
                                                        capfd: pytest.CaptureFixture[str]) -> None:
    """FFmpeg reads again after a failed read within the same call; the second exception made
    PyAV print the first as "exception being dropped", with a traceback, on stderr. A reader
    reads as ended after a failure now, and the caller gets the first exception."""
    for k in range(1, 8):
        remote = FileRemote(long_game)
        cancelled = threading.Event()

        def fetch(offset: int, length: int, remote: FileRemote = remote, cancelled: threading.Event = cancelled,
                  k: int = k) -> bytes:
            if len(remote.calls) >= k:
                cancelled.set()
            time.sleep(0.01)
            return remote(offset, length)

        folder = tmp_path / str(k)
        folder.mkdir()
        with LazyInput(folder / long_game.name, remote.size, fetch, block_size=4096, readahead=0) as lazy, \
                pytest.raises(reelgpu.Cancelled):
            reelgpu.framing(lazy.path, folder / "out.mp4", FAST, device="cpu", cancel=cancelled.is_set)
    assert "exception being dropped" not in capfd.readouterr().err
