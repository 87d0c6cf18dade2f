"""Corrupt and hostile media, generated here from a valid tiny video.

Every case must end in CORRUPT_MEDIA, UNSUPPORTED_MEDIA or LIMIT_EXCEEDED - through the library
(framing, and overlay with a highlight: both decode) and through the handler - within a bounded
time, with no output object, no partial file and no temp file left behind (the handler's
per-job scratch root and a dedicated TMPDIR are both checked).

The cases: truncation at several offsets, bytes flipped inside the video samples, an empty file,
zeros, text / a PNG / an HLS playlist renamed .mp4, audio only, a video track with no frames,
16x2048 and 2048x16 strips, a width over the limit, duration headers (mvhd, mdhd) that lie,
a genuinely long (4 h) but cheap video, forged sample tables (50 M samples in 12 bytes: a
memory bomb for FFmpeg's index), a forged frame rate and a zero timescale.
"""

from __future__ import annotations

import asyncio
import random
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reelgpu
from handler import job as hjob
from handler.settings import Settings
from handler.storage import LocalStorage

SUPPORT = sys.modules["reelgpu_reliability_support"]  # loaded by conftest.py
USER = "media/users/u1"
FRAMING = {"target_width": 90, "target_height": 160, "encode": {"preset": "ultrafast"}}
OVERLAY = {"highlight_regions": [{"id": "r", "start_time": 0.0, "end_time": 1.0, "keyframes": [
    {"time": 0.0, "x": 60, "y": 48, "radiusX": 20, "radiusY": 30}]}], "encode": {"preset": "ultrafast"}}
STEP_LIMIT_S = 15.0  # per export call / per job; the real cost of each case is well under 1 s
STATS: Counter = Counter()  # outcomes per test family, for docs/reliability.md


# --------------------------------------------------------------------------- building the cases
def boxes(data: bytes, start: int = 0, end: int | None = None, prefix: str = "") -> list[tuple[str, int, int]]:
    """(dotted path, offset, size) of every box, descending into the containers we patch."""
    end = len(data) if end is None else end
    out, pos = [], start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        name = prefix + kind.decode("latin-1")
        out.append((name, pos, size))
        if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"):
            out.extend(boxes(data, pos + 8, pos + size, name + "."))
        pos += size
    return out


def first(data: bytes, path: str) -> int:
    return next(pos for name, pos, _ in boxes(data) if name == path)


def patch(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, *values)
    return bytes(out)


STBL = "moov.trak.mdia.minf.stbl"  # the first trak is the video track


def flip_video_samples(data: bytes, src: Path) -> bytes:
    """Flip bytes in the second half of every video sample (the slice data, not the SEI)."""
    with av.open(str(src)) as c:
        packets = [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.pos is not None and p.size]
    out, rng = bytearray(data), random.Random(7)
    for pos, size in packets:
        for _ in range(4):
            out[pos + size // 2 + rng.randrange(max(1, size // 2))] ^= 0xFF
    return bytes(out)


def zero_frames(data: bytes) -> bytes:
    """The video track keeps its header but every sample table is emptied."""
    video_end = next(pos + size for name, pos, size in boxes(data) if name == "moov.trak")
    for name, pos, _ in boxes(data):
        if pos < video_end and name.rsplit(".", 1)[-1] in ("stts", "stss", "stsc", "stco"):
            data = patch(data, pos + 12, ">I", 0)
        elif pos < video_end and name.endswith(".stsz"):
            data = patch(data, pos + 12, ">II", 0, 0)
    return data


def consistent_frames(data: bytes, n: int) -> bytes:
    """Sample tables and every duration header agree on ``n`` frames of 512 ticks (30 fps):
    a 46 KB file that is, by all its headers, a long video."""
    mdhd, mvhd = first(data, "moov.trak.mdia.mdhd"), first(data, "moov.mvhd")
    timescale, movie_scale = struct.unpack_from(">I", data, mdhd + 20)[0], struct.unpack_from(">I", data, mvhd + 20)[0]
    seconds = n * 512 // timescale
    data = patch(data, first(data, f"{STBL}.stts") + 16, ">I", n)
    data = patch(data, first(data, f"{STBL}.stsz") + 12, ">II", 1500, n)
    data = patch(data, mdhd + 24, ">I", n * 512)
    data = patch(data, mvhd + 24, ">I", seconds * movie_scale)
    data = patch(data, first(data, "moov.trak.tkhd") + 28, ">I", seconds * movie_scale)
    return patch(data, first(data, "moov.trak.edts.elst") + 16, ">I", seconds * movie_scale)


def encoded(width: int, height: int, frames: int, fps: Fraction | int = 30,
            ext: str = "mp4") -> Callable[[Path], bytes]:
    """A cheap real video: black frames, one GOP, ultrafast."""
    def build(tmp: Path) -> bytes:
        path = tmp / f"enc_{width}x{height}_{frames}_{float(fps):g}.{ext}"
        with av.open(str(path), "w", options={"movflags": "+faststart"} if ext == "mp4" else {}) as out:
            stream = out.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"preset": "ultrafast"}
            stream.codec_context.gop_size = 100_000
            frame = av.VideoFrame(width, height, "yuv420p")
            for i in range(frames):
                frame.pts, frame.time_base = i, Fraction(1) / Fraction(fps)
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        return path.read_bytes()
    return build


def audio_only(tmp: Path) -> bytes:
    import numpy as np

    path = tmp / "audio_only.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48000)
        stream.layout = "stereo"
        for start in range(0, 48000, 1024):
            frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = 48000, start, Fraction(1, 48000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path.read_bytes()


def png_image(tmp: Path) -> bytes:
    from PIL import Image

    Image.new("RGB", (160, 96), (200, 10, 10)).save(tmp / "image.png", format="PNG")
    return (tmp / "image.png").read_bytes()


# name -> (expected code, builder(base bytes, base path, tmp dir) -> bytes)
Builder = Callable[[bytes, Path, Path], bytes]
CASES: dict[str, tuple[str, Builder]] = {
    "truncated inside ftyp": ("CORRUPT_MEDIA", lambda d, p, t: d[:20]),
    "truncated inside moov": ("CORRUPT_MEDIA", lambda d, p, t: d[: first(d, "moov") + 300]),
    "truncated after the mdat header": ("CORRUPT_MEDIA", lambda d, p, t: d[: first(d, "mdat") + 16]),
    "truncated at 30%": ("CORRUPT_MEDIA", lambda d, p, t: d[: len(d) * 3 // 10]),
    "truncated at 60%": ("CORRUPT_MEDIA", lambda d, p, t: d[: len(d) * 6 // 10]),
    "truncated at 90%": ("CORRUPT_MEDIA", lambda d, p, t: d[: len(d) * 9 // 10]),
    "last byte missing": ("CORRUPT_MEDIA", lambda d, p, t: d[:-1]),
    "bytes flipped in the video samples": ("CORRUPT_MEDIA", lambda d, p, t: flip_video_samples(d, p)),
    "empty file": ("CORRUPT_MEDIA", lambda d, p, t: b""),
    "4 KiB of zeros": ("CORRUPT_MEDIA", lambda d, p, t: b"\0" * 4096),
    "text renamed .mp4": ("CORRUPT_MEDIA", lambda d, p, t: b"this is not a video\n" * 200),
    "PNG image renamed .mp4": ("CORRUPT_MEDIA", lambda d, p, t: png_image(t)),
    # FFmpeg's HLS reader would render the local file this playlist names (another job's input).
    "HLS playlist naming a local video": ("CORRUPT_MEDIA", lambda d, p, t: (
        f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1,\n{p}\n#EXT-X-ENDLIST\n").encode()),
    "audio only": ("UNSUPPORTED_MEDIA", lambda d, p, t: audio_only(t)),
    "video track with zero frames": ("CORRUPT_MEDIA", lambda d, p, t: zero_frames(d)),
    "16x2048 strip": ("LIMIT_EXCEEDED", lambda d, p, t: encoded(16, 2048, 10)(t)),
    "2048x16 strip": ("LIMIT_EXCEEDED", lambda d, p, t: encoded(2048, 16, 10)(t)),
    "8208 px wide (over 8192)": ("LIMIT_EXCEEDED", lambda d, p, t: encoded(8208, 1024, 2)(t)),
    "mvhd declares 49 days": ("CORRUPT_MEDIA", lambda d, p, t: patch(d, first(d, "moov.mvhd") + 24, ">I", 0xFFFFFFF0)),
    "mdhd declares 3 days": ("CORRUPT_MEDIA", lambda d, p, t: patch(d, first(d, "moov.trak.mdia.mdhd") + 24, ">I",
                                                                    0xFFFFFFF0)),
    "4 hours at 1/8 fps (genuine)": ("LIMIT_EXCEEDED", lambda d, p, t: encoded(32, 32, 1802, Fraction(1, 8))(t)),
    "stsz declares 50 M samples": ("CORRUPT_MEDIA", lambda d, p, t: patch(d, first(d, f"{STBL}.stsz") + 12, ">II",
                                                                          4000, 50_000_000)),
    "stts declares 50 M frames": ("CORRUPT_MEDIA", lambda d, p, t: patch(d, first(d, f"{STBL}.stts") + 16, ">I",
                                                                         50_000_000)),
    "consistent tables of 6 M frames (55 h)": ("LIMIT_EXCEEDED", lambda d, p, t: consistent_frames(d, 6_000_000)),
    "frame duration of 2^31 ticks": ("CORRUPT_MEDIA", lambda d, p, t: patch(d, first(d, f"{STBL}.stts") + 20, ">I",
                                                                            0x7FFFFFFF)),
    "Matroska at 5000 fps": ("UNSUPPORTED_MEDIA", lambda d, p, t: encoded(64, 64, 3, 5000, "mkv")(t)),
    "Matroska at 1 frame per 1000 s": ("UNSUPPORTED_MEDIA", lambda d, p, t: encoded(64, 64, 3, Fraction(1, 1000),
                                                                                    "mkv")(t)),
    "timescale 0": ("CORRUPT_MEDIA", lambda d, p, t: patch(d, first(d, "moov.trak.mdia.mdhd") + 20, ">I", 0)),
    # A real video in a container FFmpeg reads and reelgpu does not accept: unsupported, not
    # "not a video file" (it said that, as CORRUPT_MEDIA, helper-42).
    "FLV renamed .mp4": ("UNSUPPORTED_MEDIA", lambda d, p, t: encoded(64, 64, 3, 30, "flv")(t)),
    "MPEG program stream renamed .mp4": ("UNSUPPORTED_MEDIA", lambda d, p, t: encoded(64, 64, 3, 30, "mpg")(t)),
}
NAMES = list(CASES)
SNIFFED = {"4 KiB of zeros", "text renamed .mp4", "PNG image renamed .mp4", "HLS playlist naming a local video"}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory, sample_video: Path) -> dict[str, Path]:
    """Every case written to disk once (named .mp4, except the playlist)."""
    tmp = tmp_path_factory.mktemp("hostile")
    base = sample_video.read_bytes()
    files = {}
    for i, (name, (_, build)) in enumerate(CASES.items()):
        path = tmp / (f"case{i:02d}.m3u8" if "HLS" in name else f"case{i:02d}.mp4")
        path.write_bytes(build(base, sample_video, tmp))
        files[name] = path
    return files


def call_with_timeout(fn: Callable[[], Any], timeout: float) -> tuple[BaseException | None, float]:
    """Run ``fn`` on a thread; return what it raised (None when it returned) and its duration."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            box["error"] = exc

    t0 = time.monotonic()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"still running after {timeout} s"
    return box.get("error"), time.monotonic() - t0


# --------------------------------------------------------------------------- the library
@pytest.mark.parametrize("name", NAMES)
def test_the_library_refuses_hostile_media(name: str, hostile: dict[str, Path], tmp_path: Path,
                                          isolated_tmp: Path, rel: Any) -> None:
    expected, _ = CASES[name]
    for export, params in (("framing", FRAMING), ("overlay", OVERLAY)):
        out_dir = tmp_path / export
        out_dir.mkdir()
        error, elapsed = call_with_timeout(
            lambda e=export, p=params, o=out_dir: getattr(reelgpu, e)(hostile[name], o / "out.mp4", p, device="cpu"),
            STEP_LIMIT_S * 2)
        assert isinstance(error, reelgpu.ReelGpuError), (export, error)
        assert error.code == expected, (export, error.code, str(error))
        if name in SNIFFED:  # refused from the first bytes, before any demuxer parsed the file
            assert "not a video file" in str(error), str(error)
        assert elapsed < STEP_LIMIT_S, (export, elapsed)
        assert not rel.files_under(out_dir), "an output or partial file was left"
    assert not rel.files_under(isolated_tmp)


# --------------------------------------------------------------------------- the handler
def run_job(path: Path, tmp: Path, key: str = "raw/in.mp4", kind: str = "framing",
            params: dict[str, Any] | None = None) -> tuple[dict[str, Any], float, LocalStorage, Settings]:
    storage = LocalStorage(tmp / "storage")
    storage.upload(path, f"{USER}/{key}")
    settings = Settings(device="cpu", scratch_dir=str(tmp / "scratch"), job_timeout_s=STEP_LIMIT_S,
                        progress_interval_s=0.0)
    job = {"id": "hostile", "input": {"job_id": "hostile-1", "user_id": USER, "type": kind, "input_key": key,
                                      "output_key": "exports/out.mp4",
                                      "params": params or (FRAMING if kind == "framing" else OVERLAY)}}
    t0 = time.monotonic()
    result = asyncio.run(asyncio.wait_for(hjob.run(job, storage=storage, settings=settings, send=lambda p: None),
                                          STEP_LIMIT_S * 3))
    return result, time.monotonic() - t0, storage, settings


@pytest.mark.parametrize("name", NAMES)
def test_the_handler_refuses_hostile_media(name: str, hostile: dict[str, Path], tmp_path: Path,
                                          isolated_tmp: Path, rel: Any) -> None:
    expected, _ = CASES[name]
    key = "raw/evil.m3u8" if "HLS" in name else "raw/in.mp4"
    result, elapsed, storage, settings = run_job(hostile[name], tmp_path, key=key)
    assert rel.assert_clean(result, allow=rel.MEDIA_CODES) == expected, result
    assert result["retryable"] is False
    STATS[f"case:{expected}"] += 1
    assert elapsed < STEP_LIMIT_S
    stored = rel.files_under(storage.root)
    assert sorted(k for k in stored if not k.startswith(".reelgpu-meta/")) == [f"{USER}/{key}"], stored
    assert not rel.files_under(Path(settings.scratch_dir or "")), "the job's scratch dir survived"
    assert not rel.files_under(isolated_tmp), "a temp file survived the job"
    assert str(tmp_path) not in result["error"]  # named by key, never by a local path


def test_only_accepted_demuxers_and_local_files_are_opened(hostile: dict[str, Path]) -> None:
    """The second gate behind the content sniffing: every reader opens inputs through
    ``open_media``, whose FFmpeg whitelists refuse the HLS demuxer (and any nested protocol)."""
    from reelgpu.media.probe import open_media

    with pytest.raises(av.error.FFmpegError):
        open_media(hostile["HLS playlist naming a local video"])
    with open_media(hostile["4 hours at 1/8 fps (genuine)"]) as container:
        assert "mp4" in container.format.name


def test_the_forged_sample_table_costs_no_memory(hostile: dict[str, Path], sample_video: Path, rel: Any) -> None:
    """50 M samples declared in 12 bytes: FFmpeg would build a ~650 MB index while opening the
    file, before any limit could look at it. The structure scan refuses it first."""
    # VmHWM, not ru_maxrss: the latter also counts the forked copy of this (large) test process.
    code = ("import sys, reelgpu\n"
            "try:\n    reelgpu.probe(sys.argv[1])\nexcept reelgpu.ReelGpuError:\n    pass\n"
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
            "print(int(hwm.split()[1]) // 1024)")

    def peak_mib(path: Path) -> int:
        out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60,
                             env=rel.clean_env())
        return int(out.stdout.strip().splitlines()[-1])

    valid = peak_mib(sample_video)
    for name in ("stsz declares 50 M samples", "stts declares 50 M frames"):
        assert peak_mib(hostile[name]) < valid + 64, name
    rel.report("hostile_media_memory", valid_probe_peak_mib=valid,
               forged_probe_peak_mib=peak_mib(hostile["stsz declares 50 M samples"]))


def test_a_key_extension_does_not_pick_the_demuxer(sample_video: Path, tmp_path: Path, isolated_tmp: Path,
                                                   rel: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A video stored as ``clip.m3u8`` or ``clip.txt`` is copied to ``00.bin``: a key's extension
    never chooses how FFmpeg reads the bytes (".m3u8" would pick the HLS playlist reader)."""
    seen: list[str] = []
    real = reelgpu.framing

    def spy(src: Any, dst: Any, spec: Any, **kwargs: Any) -> Any:
        seen.append(Path(src).name)
        return real(src, dst, spec, **kwargs)

    monkeypatch.setattr(reelgpu, "framing", spy)
    for key in ("raw/clip.m3u8", "raw/clip.txt", "raw/clip.MOV"):
        result, _, _, _ = run_job(sample_video, tmp_path / key.rsplit(".", 1)[-1], key=key)
        assert rel.assert_clean(result) == "success", result
    assert seen == ["00.bin", "00.bin", "00.mov"], seen


# --------------------------------------------------------------------------- mutation fuzzing
@SUPPORT.fuzz_settings(0.15)
@given(edits=st.lists(st.tuples(st.integers(0, 2300), st.integers(0, 255)), min_size=1, max_size=8))
def test_mutated_headers_probe_cleanly(sample_video: Path, tmp_path_factory: pytest.TempPathFactory,
                                       edits: list[tuple[int, int]]) -> None:
    """Random bytes in ftyp/moov: probing raises a typed error or succeeds, quickly."""
    data = bytearray(sample_video.read_bytes())
    for offset, value in edits:
        data[offset] = value
    path = tmp_path_factory.mktemp("mut", numbered=True) / "m.mp4"
    path.write_bytes(bytes(data))
    error, elapsed = call_with_timeout(lambda: reelgpu.probe(path), 20)
    assert error is None or isinstance(error, reelgpu.ReelGpuError), repr(error)
    assert elapsed < 5
    STATS[f"probe:{getattr(error, 'code', 'ok')}"] += 1


@SUPPORT.fuzz_settings(0.05, minimum=10)
@given(edits=st.lists(st.tuples(st.integers(0, 46_000), st.integers(0, 255)), min_size=1, max_size=8),
       kind=st.sampled_from(["framing", "overlay"]))
def test_mutated_files_through_the_handler(sample_video: Path, tmp_path_factory: pytest.TempPathFactory, rel: Any,
                                           edits: list[tuple[int, int]], kind: str) -> None:
    """Random bytes anywhere (headers or samples), through a whole job: a verified video or a
    media error, never INTERNAL, nothing published on failure, no scratch left."""
    data = bytearray(sample_video.read_bytes())
    for offset, value in edits:
        data[offset % len(data)] = value
    tmp = tmp_path_factory.mktemp("mutjob", numbered=True)
    (tmp / "in.mp4").write_bytes(bytes(data))
    result, elapsed, storage, settings = run_job(tmp / "in.mp4", tmp, kind=kind)
    outcome = rel.assert_clean(result, allow=rel.MEDIA_CODES)
    assert elapsed < STEP_LIMIT_S
    STATS[f"job:{outcome}"] += 1
    if outcome == "success":
        assert reelgpu.probe(storage.root / USER / "exports/out.mp4").faststart
    else:
        assert not storage.exists(f"{USER}/exports/out.mp4")
    assert not rel.files_under(Path(settings.scratch_dir or ""))


@pytest.fixture(scope="module", autouse=True)
def _figures(rel: Any) -> Iterator[None]:
    STATS.clear()
    t0 = time.monotonic()
    yield
    rel.report("hostile_media", cases=len(CASES), outcomes=dict(STATS), seconds=round(time.monotonic() - t0, 1))


def test_a_forged_matroska_duration_at_nanosecond_ticks(sample_video: Path, tmp_path: Path) -> None:
    """mkvmerge can store nanosecond ticks; a segment Duration (EBML 0x4489) forged to 10^10 s
    then puts the probe's seek to the file's last seconds at 10^19 ticks, which overflowed a C
    long (OverflowError: INTERNAL). The probe reads the video's real end instead: 2 s."""
    import shutil

    if shutil.which("mkvmerge") is None:
        pytest.skip("mkvmerge (mkvtoolnix) is not installed; scripts/setup.sh installs it")
    mkv = tmp_path / "ns.mkv"
    subprocess.run(["mkvmerge", "-q", "--timestamp-scale", "1", "-o", str(mkv), str(sample_video)], check=True)
    data = mkv.read_bytes()
    at = data.index(b"\x44\x89") + 2  # Duration: a 4- or 8-byte float, in ticks
    size = {0x84: 4, 0x88: 8}[data[at]]
    mkv.write_bytes(data[:at + 1] + struct.pack(">f" if size == 4 else ">d", 1e19) + data[at + 1 + size:])
    info = reelgpu.probe(mkv)
    assert info.duration_s == pytest.approx(reelgpu.probe(sample_video).duration_s, abs=0.05)
