"""The probe of a lazy input fetches its packet samples ahead, from the container's index
(``prefetch.probe_spans``), and never a block past what it reads."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import av
import pytest

from reelgpu.exports._common import Probes
from reelgpu.limits import DEFAULT_LIMITS
from reelgpu.media.lazy_input import LazyInput
from reelgpu.media.prefetch import probe_spans
from reelgpu.media.probe import probe
from tests.conftest import FileRemote, noisy_video

BLOCK = 16 * 1024
# FFmpeg reads through a 32 KiB buffer: a read can run that far past the packet it wanted.
IO_SLACK = 32 * 1024


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """30 s of noisy video (~4 MB) as a faststart MP4, an MP4 with B-frames (the probe reads
    its last seconds too), one with its index at the end, a MOV and an AVI."""
    folder = tmp_path_factory.mktemp("probe_prefetch")
    game = noisy_video(folder / "game.mp4", seconds=30, gop=60)
    ffmpeg = shutil.which("ffmpeg") or "ffmpeg"

    def remux(name: str, *args: str) -> Path:
        subprocess.run([ffmpeg, "-v", "error", "-i", str(game), *args, str(folder / name)], check=True)
        return folder / name

    return {
        "faststart": game,
        "b-frames": remux("bframes.mp4", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "1M", "-g", "60",
                          "-c:a", "copy", "-movflags", "+faststart"),
        "index-at-end": remux("moov_end.mp4", "-c", "copy"),
        # 20 s of video with B-frames and its 30 s of sound: the probe reads the video's end, not the file's.
        "audio-outlasts-video": remux("long_audio.mp4", "-filter:v", "trim=end=20", "-c:v", "libx264", "-preset",
                                      "veryfast", "-b:v", "1M", "-g", "60", "-c:a", "copy", "-movflags", "+faststart"),
        "mov": remux("game.mov", "-c", "copy"),
        "avi": remux("game.avi", "-c:v", "copy", "-an"),
    }


def video_packets(path: Path) -> list[tuple[int, int]]:
    with av.open(str(path)) as c:
        return [(e.pos, e.pos + e.size) for e in c.streams.video[0].index_entries]


@pytest.mark.parametrize("name", ["faststart", "b-frames", "audio-outlasts-video", "index-at-end", "mov", "avi"])
def test_probe_spans_hold_the_packets_the_probe_reads(name: str, inputs: dict[str, Path], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Every read of packet bytes lies in a span (give or take FFmpeg's read buffer), and the
    spans hold nothing the probe does not read."""
    path = inputs[name]
    spans = probe_spans(path)
    # the start, 1/3, 2/3 (and the video's end, where it has B-frames)
    assert len(spans) == (4 if name in ("b-frames", "audio-outlasts-video") else 3)
    reads: list[tuple[int, int]] = []
    read_at = LazyInput.read_at

    def recording(self: LazyInput, offset: int, length: int) -> bytes:
        data = read_at(self, offset, length)
        reads.append((offset, offset + len(data)))
        return data

    monkeypatch.setattr(LazyInput, "read_at", recording)
    remote = FileRemote(path)
    with LazyInput(tmp_path / path.name, remote.size, remote, block_size=BLOCK, readahead=0) as lazy:
        assert probe(lazy.path).to_dict() | {"path": ""} == probe(path).to_dict() | {"path": ""}
    packets = video_packets(path)
    packet_reads = [(a, b) for a, b in reads if any(p < b and a < q for p, q in packets)]
    missed = [(a, b) for a, b in packet_reads if not any(p - IO_SLACK <= a and b <= q + IO_SLACK for p, q in spans)]
    assert not missed, f"{len(missed)} of the {len(packet_reads)} reads of packets are in no span: {missed}"
    spanned = sum(q - p for p, q in spans)
    read = len({offset // 1024 for a, b in packet_reads for offset in range(a, b, 1024)}) * 1024
    assert spanned <= read, f"spans of {spanned} bytes for {read} read"


def test_probe_spans_need_an_index_of_every_packet(inputs: dict[str, Path], tmp_path: Path) -> None:
    ffmpeg = shutil.which("ffmpeg") or "ffmpeg"
    for name in ("game.mkv", "game.ts"):  # Matroska's Cues list key frames only; MPEG-TS has no index
        subprocess.run([ffmpeg, "-v", "error", "-i", str(inputs["faststart"]), "-c", "copy", str(tmp_path / name)],
                       check=True)
        assert probe_spans(tmp_path / name) == []


@pytest.mark.parametrize("name", ["faststart", "b-frames"])
def test_the_exports_probe_fetches_its_samples_ahead_and_nothing_past_them(
        name: str, inputs: dict[str, Path], tmp_path: Path) -> None:
    """The exports' probe (``Probes``) fetches the spans in a few requests on the prefetch
    threads; its own reads fetch no block past what they read (no read-ahead), so every block
    fetched is one the probe reads or one of the spans."""
    path = inputs[name]
    remote = FileRemote(path)
    threads: list[str] = []

    def fetch(offset: int, length: int) -> bytes:
        threads.append(threading.current_thread().name)
        time.sleep(0.002)  # a little latency: the probe's reads meet the prefetch's under way
        return remote(offset, length)

    with LazyInput(tmp_path / path.name, remote.size, fetch, block_size=BLOCK) as lazy:
        info = Probes(DEFAULT_LIMITS)(lazy.path)
        requests = lazy.requests
    on_demand = FileRemote(path)
    (tmp_path / "on_demand").mkdir()
    with LazyInput(tmp_path / "on_demand" / path.name, on_demand.size, on_demand, block_size=BLOCK,
                   readahead=0) as lazy:
        assert probe(lazy.path).to_dict() | {"path": ""} == info.to_dict() | {"path": ""}
        on_demand_requests = lazy.requests

    def blocks(calls: list[tuple[int, int]]) -> set[int]:
        return {b for offset, length in calls for b in range(offset // BLOCK, (offset + length - 1) // BLOCK + 1)}

    spanned = blocks([(a, b - a) for a, b in probe_spans(path)])
    extra = blocks(remote.calls) - blocks(on_demand.calls) - spanned
    assert not extra, f"blocks {sorted(extra)} fetched that the probe never reads"
    assert any(t.startswith("reelgpu-prefetch") for t in threads)
    assert requests < on_demand_requests / 2, f"{requests} requests with the spans fetched ahead, " \
                                              f"{on_demand_requests} block by block"
