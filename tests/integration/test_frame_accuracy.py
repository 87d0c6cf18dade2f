"""Which source frame every output frame shows, in every container, read back from the picture.

Each source frame carries its index as 8 binary luma blocks, so an output frame says which
source frame it is. Expected: output frame n of a clip [start, end) shows the source frame on
screen at start + n / fps (CONTRACT.md: frame-accurate cuts and trims).
"""

from __future__ import annotations

import random
from collections.abc import Container
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import reelgpu
from reelgpu.media.decode_cpu import PyAVVideoSource
from reelgpu.media.probe import probe
from reelgpu.timeline import frame_count

BLOCKS = 8  # bits of the frame index: up to 255 frames


def index_luma(i: int) -> np.ndarray:
    """A 320x240 luma plane showing ``i`` as BLOCKS binary blocks (read back by :func:`index_of`)."""
    y = np.full((240, 320), 60, np.uint8)
    for b in range(BLOCKS):
        y[170:220, b * 40 + 4:b * 40 + 36] = 230 if (i >> b) & 1 else 20
    return y


def indexed_frame(i: int) -> av.VideoFrame:
    y = index_luma(i)
    return av.VideoFrame.from_ndarray(np.dstack([y, y, y]), format="rgb24")


def index_of(luma: np.ndarray) -> int:
    """The index a frame's luma shows (:func:`index_luma`)."""
    return sum(1 << b for b in range(BLOCKS) if luma[180:210, b * 40 + 10:b * 40 + 30].mean() > 120)


def write_indexed(path: Path, fps: Fraction, frames: int, *, fmt: str | None = None, audio: bool = False,
                  b_frames: int = 3, audio_s: float | None = None, options: dict[str, str] | None = None,
                  missing: Container[int] = ()) -> Path:
    """H.264 (key frame every second) whose frame i shows i in binary; AAC beside it if asked
    (as long as the video, or ``audio_s``). Frames in ``missing`` are left out, their time
    empty (a variable rate)."""
    with av.open(str(path), "w", format=fmt, options=options or {}) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        video.options = {"bf": str(b_frames), "g": str(round(fps)), "crf": "18", "preset": "veryfast"}
        sound = out.add_stream("aac", rate=48000) if audio else None
        for i in range(frames):
            if i in missing:
                continue
            frame = indexed_frame(i)
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if sound is not None:
            t = np.arange(int(48000 * (audio_s if audio_s is not None else frames / fps))) / 48000
            samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            for k in range(0, samples.shape[1], 1024):
                chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, k:k + 1024]), format="flt",
                                                   layout="mono")
                chunk.sample_rate, chunk.pts = 48000, k
                for packet in sound.encode(chunk):
                    out.mux(packet)
            for packet in sound.encode(None):
                out.mux(packet)
    return path


def shown(path: Path) -> list[int]:
    """The source frame index each frame of ``path`` shows (read from its blocks)."""
    with av.open(str(path)) as c:
        return [index_of(f.to_ndarray(format="gray")) for f in c.decode(video=0)]


@pytest.mark.parametrize("b_frames", [0, 3])
def test_avi_cuts_show_the_right_frames(tmp_path: Path, b_frames: int) -> None:
    """FFmpeg's guessed AVI times put every H.264 picture a frame late (frame 0 shown twice,
    the last one never) and, with B-frames, out of order."""
    src = write_indexed(tmp_path / "game.avi", Fraction(25), 100, b_frames=b_frames)
    spec = {"clips": [{"start_time": 0.0, "end_time": 0.2, "name": "a"}, {"start_time": 2.92, "end_time": 3.1, "name": "b"},
                      {"start_time": 3.92, "end_time": 4.0, "name": "c"}]}
    r = reelgpu.annotate(src, tmp_path / "cuts.mp4", spec, device="cpu")
    assert shown(r.output) == [0, 1, 2, 3, 4, 73, 74, 75, 76, 77, 98, 99]


@pytest.mark.parametrize("fps", [Fraction(30), Fraction(30000, 1001)])
@pytest.mark.parametrize("b_frames", [0, 3])
def test_h264_copied_into_avi_keeps_its_rate(tmp_path: Path, ffmpeg: str, fps: Fraction, b_frames: int) -> None:
    """The ffmpeg CLI copying H.264 into AVI (``-c copy``) writes a time base of half a frame
    and a header counting a frame per tick, twice the pictures: FFmpeg's average said 60 fps,
    and every picture was rendered twice (helper-49). The index counts the pictures."""
    import subprocess

    mp4 = write_indexed(tmp_path / "clip.mp4", fps, 90, b_frames=b_frames)
    avi = tmp_path / "copied.avi"
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-i", str(mp4), "-c", "copy", str(avi)], check=True)
    with av.open(str(avi)) as c:
        assert c.streams.video[0].average_rate == 2 * fps  # the case
    info = probe(avi)
    assert info.fps == fps and info.frame_count == 90
    r = reelgpu.annotate(avi, tmp_path / "cut.mp4", {"clips": [{"start_time": 1.0, "end_time": 2.0}]}, device="cpu")
    assert r.fps == pytest.approx(float(fps))
    first = int(fps * 1)  # on screen at 1.0 s: frame 30 at 30 fps, 29 at 29.97 (frame 30 comes at 1.001 s)
    assert shown(r.output) == list(range(first, first + frame_count(1.0, fps)))


@pytest.mark.parametrize("fps", [Fraction(30), Fraction(60), Fraction(30000, 1001), Fraction(25)])
@pytest.mark.parametrize("audio", [False, True])
def test_matroska_keeps_every_frame(tmp_path: Path, fps: Fraction, audio: bool) -> None:
    """Matroska stores whole milliseconds: frame 2 of 30 fps is at 0.067 s, after 2/30 s, and
    the frame loop dropped every third frame at 30, 60 and 29.97 fps. With AAC the file starts
    21 ms before the video and one frame too many was rendered."""
    frames = round(4 * fps)
    src = write_indexed(tmp_path / "clip.mkv", fps, frames, fmt="matroska", audio=audio)
    info = probe(src)
    assert info.frame_count == frames and info.duration_s == pytest.approx(frames / fps, abs=1e-3)
    whole = reelgpu.framing(src, tmp_path / "whole.mp4", {"keyframes": [{"time": 0, "x": 0, "y": 0, "width": 320, "height": 240}],
                                                            "target_width": 320, "target_height": 240}, device="cpu")
    assert shown(whole.output) == list(range(frames))
    cut = reelgpu.annotate(src, tmp_path / "cut.mp4", {"clips": [{"start_time": 1.0, "end_time": 1.5}]}, device="cpu")
    # At 1.0 + n / fps the frame on screen is floor(fps) + n: at 29.97 fps frame 30 starts at
    # 1.001 s, so it is frame 29 at 1.0 (its stored 1.001 must not count as on screen).
    first = int(fps)
    assert shown(cut.output) == list(range(first, first + frame_count(0.5, fps)))


@pytest.mark.parametrize("container", ["mp4", "mpegts"])
def test_mp4_and_mpeg_ts_cut_exactly(tmp_path: Path, container: str) -> None:
    src = write_indexed(tmp_path / f"clip.{'ts' if container == 'mpegts' else 'mp4'}", Fraction(30), 120, fmt=container,
                        audio=True)
    r = reelgpu.annotate(src, tmp_path / "cut.mp4", {"clips": [{"start_time": 0.5, "end_time": 1.0},
                                                               {"start_time": 3.8, "end_time": 4.0}]}, device="cpu")
    assert shown(r.output) == list(range(15, 30)) + list(range(114, 120))


@pytest.mark.parametrize("fmt", ["mpegts", "matroska"])
def test_audio_outlasting_the_video_adds_no_frames(tmp_path: Path, fmt: str) -> None:
    """The video's length is its own (its last packet's end), not the file's: 3 s of sound
    under 2 s of video made 90 frames, the last 30 a frozen picture."""
    src = write_indexed(tmp_path / f"clip.{'ts' if fmt == 'mpegts' else 'mkv'}", Fraction(30), 60, fmt=fmt, audio=True,
                        audio_s=3.0)
    info = probe(src)
    assert info.frame_count == 60 and info.duration_s == pytest.approx(2.0, abs=1e-3)
    r = reelgpu.overlay(src, tmp_path / "o.mp4", {"text_layers": [], "highlight_regions": [
        {"start_time": 0, "end_time": 0.1, "keyframes": [{"time": 0, "x": 10, "y": 10, "radiusX": 4, "radiusY": 4}]}],
        "overlay_settings": {"dim_strength": 0}}, device="cpu")
    assert shown(r.output) == list(range(60))


@pytest.mark.parametrize("sync_ms", [0, 500])
def test_matroska_from_mkvmerge_keeps_every_frame(tmp_path: Path, sync_ms: int) -> None:
    """mkvmerge's DURATION tag is a track's length, FFmpeg's its end time: reading it as an end
    lost the last frame (the video starts 23 ms in, after AAC's priming) or, with the video
    delayed 0.5 s, the last 16. The video's own last packet says where it ends."""
    import shutil
    import subprocess

    if shutil.which("mkvmerge") is None:
        pytest.skip("mkvmerge (mkvtoolnix) is not installed; scripts/setup.sh installs it")
    mp4 = write_indexed(tmp_path / "clip.mp4", Fraction(30), 60, fmt="mp4", audio=True)
    mkv = tmp_path / "clip.mkv"
    subprocess.run(["mkvmerge", "-q", "-o", str(mkv), "--sync", f"0:{sync_ms}", str(mp4)], check=True)
    info = probe(mkv)
    assert info.frame_count == 60 and info.duration_s == pytest.approx(2.0, abs=1e-3)
    r = reelgpu.framing(mkv, tmp_path / "f.mp4", {"keyframes": [{"time": 0, "x": 0, "y": 0, "width": 320, "height": 240}],
                                                  "target_width": 320, "target_height": 240}, device="cpu")
    assert shown(r.output) == list(range(60))


def capture_avi(ffmpeg: str, path: Path, skipped: tuple[int, ...], x264: list[str], frames: int = 90) -> Path:
    """An AVI as a capture writes it (the ffmpeg CLI): frame i shows i, with moving content so
    x264 uses its B-frames; the frames in ``skipped`` dropped, leaving empty chunks."""
    import subprocess

    raw = bytearray()
    for i in range(frames):
        y = index_luma(i)
        y[10:60, (i * 5) % 280:(i * 5) % 280 + 30] = 200
        raw += y.tobytes() + np.full(2 * 160 * 120, 128, np.uint8).tobytes()
    keep = "not(" + "+".join(f"eq(n,{k})" for k in skipped) + ")"
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", "320x240",
                    "-r", "30", "-i", "-", "-vf", f"select='{keep}'", "-fps_mode", "passthrough", "-c:v", "libx264",
                    *x264, str(path)], input=bytes(raw), check=True)
    return path


@pytest.mark.parametrize("start_s", [0.0, 0.7, 1.05, 2.128, 2.5])
def test_avi_with_skipped_frames_shows_the_frame_on_screen(tmp_path: Path, ffmpeg: str, start_s: float) -> None:
    """A capture that dropped frames writes empty AVI chunks: the times jump. With B-frames a
    key frame's guessed time after such a gap can be earlier than its display time, and a cut
    from 2.128 s began at frame 64 instead of 62."""
    skipped = (10, 12, 21, 26, 28, 34, 36, 40, 41, 58, 63, 65, 72, 73, 83)
    src = capture_avi(ffmpeg, tmp_path / "capture.avi", skipped, ["-bf", "3", "-g", "20"])
    held = [i for i in range(90) if i not in skipped]
    r = reelgpu.annotate(src, tmp_path / "cut.mp4", {"clips": [{"start_time": start_s, "end_time": start_s + 0.5}]},
                         device="cpu")
    # on screen at start + n / 30: the last frame the file holds at or before that time
    expected = [max(i for i in held if i <= start_s * 30 + n + 1e-6) for n in range(frame_count(0.5, Fraction(30)))]
    assert shown(r.output) == expected


@pytest.mark.parametrize("threads", [1, 4])
def test_avi_timing_does_not_depend_on_decoder_threads(tmp_path: Path, ffmpeg: str, threads: int) -> None:
    """Open GOPs and skipped frames: how many chunks the decoder holds when the first picture
    comes out (more with frame threads) decided which chunks a seek's leading pictures took."""
    skipped = (2, 22, 26, 30, 40, 51, 52, 65, 66, 70, 71, 75, 76, 79, 83)
    src = capture_avi(ffmpeg, tmp_path / "open_gop.avi", skipped, ["-bf", "3", "-g", "20", "-x264-params", "open-gop=1"])
    source = PyAVVideoSource(src, start_s=2.082, threads=threads)
    try:
        frames = [(round(f.pts_s * 30, 6), index_of(f.planes.y)) for f in source]
    finally:
        source.close()
    assert frames and all(t == i for t, i in frames), frames[:10]  # each picture at its own frame's time


@pytest.mark.parametrize("frames", [1, 3, 60])
def test_streamed_matroska_without_a_duration(tmp_path: Path, frames: int) -> None:
    """A streamed Matroska/WebM file (a browser's MediaRecorder, ``-live 1``) states no duration
    at all: it probed to 0 frames and rendered an audio-only file. Its packets say where the
    video ends, the first ones included (a 3-frame file's were all taken by the first frame's
    decoding)."""
    src = write_indexed(tmp_path / "live.mkv", Fraction(30), frames, fmt="matroska", audio=True, options={"live": "1"})
    with av.open(str(src)) as c:
        assert c.duration is None and c.streams.video[0].duration is None  # the case
    info = probe(src)
    assert info.frame_count == frames and info.duration_s == pytest.approx(frames / 30, abs=1e-3)
    if frames == 60:
        r = reelgpu.annotate(src, tmp_path / "cut.mp4", {"clips": [{"start_time": 1.0, "end_time": 2.0}]}, device="cpu")
        assert shown(r.output) == list(range(30, 60))


@pytest.mark.parametrize(("live", "offset_s"), [("0", 0), ("1", 0), ("0", 600), ("1", 600)])
def test_a_forged_last_frame_duration_does_not_hold_the_picture_for_hours(tmp_path: Path, live: str,
                                                                          offset_s: int) -> None:
    """A last packet claiming 3 h (FFmpeg's muxer then writes a 3 h segment duration too): the
    probe gave 324,059 frames, rendering 3 h of the last picture. A stated duration holds the
    picture a tenth of the video before it at most (0.2 s here), counted from the video's first
    frame: timestamps starting at 600 s (a cut from a recording) allowed a 10 s hold."""
    src = tmp_path / "forged.mkv"
    with av.open(str(src), "w", format="matroska", options={"live": live}) as out:
        video = out.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        packets = []
        for i in range(60):
            frame = av.VideoFrame.from_ndarray(np.zeros((120, 160, 3), np.uint8), format="rgb24")
            frame.pts = i + offset_s * 30
            packets += video.encode(frame)
        packets += video.encode(None)
        last = max(packets, key=lambda p: p.pts)
        last.duration = int(3 * 3600 / last.time_base)
        for packet in packets:
            out.mux(packet)
    info = probe(src)
    assert 60 <= info.frame_count <= 66 and info.duration_s < 2.2


def test_a_matroska_last_frame_held_still_keeps_its_hold(tmp_path: Path) -> None:
    """A screen recording that ends on a still: its last packet lasts 0.7 s of an 8.7 s clip.
    The probe counted two frames of it, and cuts into the still were refused as past the end."""
    src = tmp_path / "still.mkv"
    with av.open(str(src), "w", format="matroska") as out:
        video = out.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        video.options = {"bf": "0", "g": "30", "preset": "veryfast"}
        packets = []
        for i in range(240):
            frame = indexed_frame(i)
            frame.pts = i
            packets += video.encode(frame)
        packets += video.encode(None)
        last = max(packets, key=lambda p: p.pts)
        last.duration = int(round(0.7 / last.time_base))
        for packet in packets:
            out.mux(packet)
    info = probe(src)
    assert info.duration_s == pytest.approx(8.667, abs=2e-3) and info.frame_count == 260
    r = reelgpu.annotate(src, tmp_path / "cut.mp4", {"clips": [{"start_time": 7.8, "end_time": 8.6}]}, device="cpu")
    assert shown(r.output) == [min(234 + n, 239) for n in range(24)]


@pytest.mark.parametrize("fps", [Fraction(30), Fraction(30000, 1001), Fraction(60000, 1001), Fraction(24000, 1001)])
def test_matroska_without_a_default_duration_keeps_its_rate(tmp_path: Path, fps: Fraction) -> None:
    """A browser's WebM (MediaRecorder) has no DefaultDuration: FFmpeg's average over its
    millisecond times is 1000/33 for 30 fps and 125/2 for 59.94, and the export ran at 30.3 or
    62.5 fps (every frame twice). The base rate, a standard one near the average, is the rate."""
    import shutil
    import subprocess

    if shutil.which("mkvpropedit") is None:
        pytest.skip("mkvpropedit (mkvtoolnix) is not installed; scripts/setup.sh installs it")
    src = write_indexed(tmp_path / "clip.mkv", fps, 120, fmt="matroska")
    subprocess.run(["mkvpropedit", "-q", str(src), "--edit", "track:v1", "--delete", "default-duration"], check=True)
    with av.open(str(src)) as c:
        assert c.streams.video[0].average_rate != fps  # the case
    info = probe(src)
    assert info.fps == fps and info.frame_count == 120
    r = reelgpu.annotate(src, tmp_path / "cut.mp4", {"clips": [{"start_time": 0.0, "end_time": 2.0}]}, device="cpu")
    assert r.fps == pytest.approx(float(fps))
    assert shown(r.output) == list(range(frame_count(2.0, fps)))


def write_vfr_mp4(path: Path, held: list[int]) -> Path:
    """An MP4 as a phone writes it: 30 fps slots on a 1/15360 clock, the frames not in ``held``
    never stored (the next one starts later), AAC beside it for the slots' full length."""
    slots = max(held) + 1
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        video.time_base = Fraction(1, 15360)
        video.options = {"bf": "0", "g": "30", "crf": "18", "preset": "veryfast"}
        sound = out.add_stream("aac", rate=48000)
        for i in held:
            frame = indexed_frame(i)
            frame.pts, frame.time_base = i * 512, Fraction(1, 15360)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        t = np.arange(48000 * slots // 30) / 48000
        samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        for k in range(0, samples.shape[1], 1024):
            chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, k:k + 1024]), format="flt", layout="mono")
            chunk.sample_rate, chunk.pts = 48000, k
            for packet in sound.encode(chunk):
                out.mux(packet)
        for packet in sound.encode(None):
            out.mux(packet)
    return path


def test_a_variable_rate_mp4_overlay_keeps_its_whole_length(tmp_path: Path) -> None:
    """A 30 fps MP4 with 3 of its 90 frames never stored (a phone under load): the rate is 30
    (its average, 29, is within 5 % of it), but the probe counted the 87 samples, so the
    overlay rendered 87 slots of 1/30 s and cut the last 0.1 s. Every slot is rendered, each
    showing the frame on screen then."""
    held = [i for i in range(90) if i not in (20, 45, 70)]
    src = write_vfr_mp4(tmp_path / "phone.mp4", held)
    with av.open(str(src)) as c:
        assert c.streams.video[0].frames == 87  # the case
    info = probe(src)
    assert info.fps == 30 and info.frame_count == 90 and info.duration_s == pytest.approx(3.0, abs=1e-3)
    r = reelgpu.overlay(src, tmp_path / "o.mp4", {"text_layers": [], "highlight_regions": [
        {"start_time": 0, "end_time": 0.1, "keyframes": [{"time": 0, "x": 10, "y": 10, "radiusX": 4, "radiusY": 4}]}],
        "overlay_settings": {"dim_strength": 0}}, device="cpu")
    assert r.frames == 90 and r.duration_s == pytest.approx(3.0, abs=1e-3)
    assert shown(r.output) == [max(i for i in held if i <= n) for n in range(90)]


@pytest.mark.parametrize(("fps", "timescale", "frames"), [(Fraction(240), "600", 200), (Fraction(30), "100", 90)])
def test_a_high_rate_mp4_on_coarse_ticks_keeps_every_frame(tmp_path: Path, fps: Fraction, timescale: str,
                                                           frames: int) -> None:
    """240 fps slow motion on MP4's 1/600 s ticks (how an iPhone stores it): frames 2 and 3
    ticks apart. The probe took 40000/167 fps (the average; FFmpeg's base rate is H.264's field
    rate, 480), and every odd frame, stored half a tick late, was dropped: 44 of 199 frames
    missing from a cut, and from the overlay. 30 fps on 1/100 s ticks lost every third frame."""
    src = write_indexed(tmp_path / "slowmo.mp4", fps, frames, fmt="mp4", options={"video_track_timescale": timescale})
    with av.open(str(src)) as c:
        vs = c.streams.video[0]
        assert vs.time_base == Fraction(1, int(timescale)) and (1 / (vs.time_base * fps)).denominator != 1  # the case
    info = probe(src)
    assert info.fps == fps and info.frame_count == frames
    r = reelgpu.annotate(src, tmp_path / "cut.mp4", {"clips": [{"start_time": 0.0, "end_time": float(frames / fps)}]},
                         device="cpu")
    assert shown(r.output) == list(range(frames))
    r = reelgpu.overlay(src, tmp_path / "o.mp4", {"text_layers": [], "highlight_regions": [
        {"start_time": 0, "end_time": 0.1, "keyframes": [{"time": 0, "x": 10, "y": 10, "radiusX": 4, "radiusY": 4}]}],
        "overlay_settings": {"dim_strength": 0}}, device="cpu")
    assert shown(r.output) == list(range(frames))


@pytest.mark.parametrize(("held", "slots"), [
    ([i for i in range(90) if i % 10 != 3], 90),  # every tenth frame never stored: averages 27 fps
    ([*range(90), 149], 150),  # 3 s of motion, then a 2 s still (one more frame ends it): 18.2 fps
], ids=["gaps", "still"])
def test_a_phone_mp4_averaging_under_its_rate_keeps_every_frame(tmp_path: Path, held: list[int], slots: int) -> None:
    """An MP4 whose frames average under its 30 fps (gaps, or a held picture): the rate was the
    average, 27 or 18.2 fps, and the overlay dropped a frame in ten, or 36 of 91. At the base
    rate every stored frame gets its slot."""
    src = write_vfr_mp4(tmp_path / "phone.mp4", held)
    with av.open(str(src)) as c:
        vs = c.streams.video[0]
        assert vs.base_rate == 30 and vs.average_rate < 28  # the case
    info = probe(src)
    assert info.fps == 30 and info.frame_count == slots
    r = reelgpu.overlay(src, tmp_path / "o.mp4", {"text_layers": [], "highlight_regions": [
        {"start_time": 0, "end_time": 0.1, "keyframes": [{"time": 0, "x": 10, "y": 10, "radiusX": 4, "radiusY": 4}]}],
        "overlay_settings": {"dim_strength": 0}}, device="cpu")
    assert shown(r.output) == [max(i for i in held if i <= n) for n in range(slots)]


def write_at_times(path: Path, times: list[float], fps: Fraction, timescale: int) -> Path:
    """An MP4 whose frame k (showing k) is stored at ``times[k]`` seconds on a 1/``timescale``
    clock, as a camera stamps capture times; x264's timing info states ``fps`` (FFmpeg's base
    rate is then often its field rate, 2 x ``fps``)."""
    ticks = [round(t * timescale) for t in times]
    with av.open(str(path), "w", options={"video_track_timescale": str(timescale)}) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        video.options = {"bf": "0", "g": str(round(fps)), "crf": "18", "preset": "veryfast"}
        video.time_base = Fraction(1, timescale)
        packets = []
        for k in range(len(times)):
            frame = indexed_frame(k)
            frame.pts = k
            packets += video.encode(frame)
        packets += video.encode(None)
        for packet in packets:
            k = int(round(packet.pts * video.codec_context.time_base * fps))  # the frame it holds
            packet.time_base = Fraction(1, timescale)
            packet.pts = packet.dts = ticks[k]
            packet.duration = ticks[k + 1] - ticks[k] if k + 1 < len(ticks) else round(timescale / fps)
            out.mux(packet)
    return path


def _jittered(n: int, jitter_s: float, drop: float, seed: int, fps: float = 30) -> list[float]:
    """Capture times of ``n`` frames at ``fps``, each ± ``jitter_s``, a ``drop`` share missing."""
    rnd = random.Random(seed)
    times = [i / fps + rnd.uniform(-jitter_s, jitter_s) for i in range(n) if i == 0 or rnd.random() > drop]
    return [0.0, *times[1:]]


@pytest.mark.parametrize("case", ["jitter-1ms", "jitter-and-gaps", "still-averaging-25", "60fps-on-1/100s",
                                  "late-last-frame"])
def test_captured_frame_times_keep_every_frame(tmp_path: Path, case: str) -> None:
    """Frames stored where a camera captured them, and the rate read from their spacing.
    ±1 ms around a 30 fps grid: one frame in four was never on screen at any n / 30 (stored a
    little late, the next a little early). ±8 ms with a frame in ten missing: FFmpeg's base
    rate is 60 (the field rate). A still ending whose average is 25 fps: the export ran at 25
    and dropped 17 of 100 frames. 60 fps on 1/100 s ticks: a third of the frames dropped. A
    last frame after a still, 15 ms past a slot and 40 ms long (5.455-5.495 s at 25 fps): 137
    slots were counted (5.495 x 25 = 137.4), the last at 5.44 s, and it was never shown."""
    if case == "late-last-frame":
        times = [n / 25 for n in range(100)] + [5.455]
        src = write_at_times(tmp_path / "src.mp4", times, Fraction(25), 600)
        stored, fps = list(range(len(times))), Fraction(25)
    elif case == "60fps-on-1/100s":
        src = write_indexed(tmp_path / "src.mp4", Fraction(60), 240, fmt="mp4", options={"video_track_timescale": "100"})
        stored, fps = list(range(240)), Fraction(60)
    elif case == "still-averaging-25":
        stored, fps = [*range(99), 119], Fraction(30)
        src = write_vfr_mp4(tmp_path / "src.mp4", stored)
    else:
        times = _jittered(150, 0.001, 0.0, 5) if case == "jitter-1ms" else _jittered(150, 0.25 / 30, 0.1, 810)
        src = write_at_times(tmp_path / "src.mp4", times, Fraction(30), 90000 if case == "jitter-1ms" else 600)
        stored, fps = list(range(len(times))), Fraction(30)
    info = probe(src)
    assert info.fps == pytest.approx(fps, rel=2e-3)  # 30 or 29.97 where the jitter hides which
    r = reelgpu.overlay(src, tmp_path / "o.mp4", {"text_layers": [], "highlight_regions": [
        {"start_time": 0, "end_time": 0.1, "keyframes": [{"time": 0, "x": 10, "y": 10, "radiusX": 4, "radiusY": 4}]}],
        "overlay_settings": {"dim_strength": 0}}, device="cpu")
    got = shown(r.output)
    assert got == sorted(got) and set(got) == set(stored)  # every stored frame, in order


@pytest.mark.parametrize("fps", [Fraction(25), Fraction(30000, 1001)])
def test_an_avi_keeps_its_last_frame(tmp_path: Path, fps: Fraction) -> None:
    """AVI's tick is a whole frame: counting a tick's worth of a remainder as a slot (as 240 fps
    on 1/600 s needs) took one off the frame count of every AVI, and the last frame was lost."""
    src = write_indexed(tmp_path / "clip.avi", fps, 100, fmt="avi")
    assert probe(src).frame_count == 100
    r = reelgpu.overlay(src, tmp_path / "o.mp4", {"text_layers": [], "highlight_regions": [
        {"start_time": 0, "end_time": 0.1, "keyframes": [{"time": 0, "x": 10, "y": 10, "radiusX": 4, "radiusY": 4}]}],
        "overlay_settings": {"dim_strength": 0}}, device="cpu")
    assert shown(r.output) == list(range(100))


@pytest.mark.parametrize("order", ["30-then-60", "60-then-30"])
def test_clips_of_two_rates_joined_keep_every_frame(tmp_path: Path, order: str) -> None:
    """A file joined from a 30 fps and a 60 fps clip (4 s each): the rate was read from the
    first 120 frames, and at 30 fps every other frame of the 60 fps part was dropped (59 of
    240). The spacing is read at a third and two thirds of the way in too; the fastest wins."""
    slow = [n / 30 for n in range(120)]
    fast = [n / 60 for n in range(120)]
    times = slow + [4 + t for t in fast] if order == "30-then-60" else fast + [2 + t for t in slow]
    src = write_at_times(tmp_path / "joined.mp4", times, Fraction(60), 15360)
    assert probe(src).fps == 60
    r = reelgpu.overlay(src, tmp_path / "o.mp4", {"text_layers": [], "highlight_regions": [
        {"start_time": 0, "end_time": 0.1, "keyframes": [{"time": 0, "x": 10, "y": 10, "radiusX": 4, "radiusY": 4}]}],
        "overlay_settings": {"dim_strength": 0}}, device="cpu")
    got = shown(r.output)
    assert got == sorted(got) and set(got) == set(range(240))


def test_jitter_late_in_a_clip_is_not_a_second_rate(tmp_path: Path) -> None:
    """15 fps ±17 ms ending on a 1.5 s still: the window two thirds in holds a few gaps and
    read 15.1 fps; taken as a faster second rate, the clip rendered at 30, every frame twice."""
    times = _jittered(75, 1 / 60, 0.0, 705, fps=15)
    times.append(times[-1] + 1.5)
    src = write_at_times(tmp_path / "src.mp4", times, Fraction(15), 600)
    assert probe(src).fps == 15



@pytest.mark.parametrize("fmt", ["mp4", "mov"])
def test_a_variable_rate_b_frame_mp4_keeps_its_last_frame(tmp_path: Path, fmt: str) -> None:
    """B-frames and missing frames (a phone's variable rate): an MP4's stated duration, its
    sample deltas summed, is a decode-time span and ended a frame before the last frame's
    presentation; that frame was never shown (helper-42). 50 slots at 25 fps, every fifth
    frame missing."""
    src = write_indexed(tmp_path / f"vfr_b.{fmt}", Fraction(25), 50, missing={i for i in range(50) if i % 5 == 3})
    info = probe(src)
    assert (info.duration_s, info.frame_count) == (2.0, 50)
    r = reelgpu.overlay(src, tmp_path / "o.mp4", {"highlight_regions": [
        {"start_time": 0, "end_time": 0.1, "keyframes": [{"time": 0, "x": 10, "y": 10, "radiusX": 4, "radiusY": 4}]}],
        "overlay_settings": {"dim_strength": 0}}, device="cpu")
    got = shown(r.output)
    assert len(got) == 50 and got[-2:] == [47, 49]  # frame 48 is one of the missing


def test_a_frame_hidden_by_the_edit_list_stays_hidden(tmp_path: Path) -> None:
    """The same presentation end must not count a frame the MP4's edit list hides: FFmpeg hands
    such packets over marked as discarded, and one more (repeated) frame was rendered
    (helper-43). A 2 s B-frame MP4 whose edit list ends a frame early: 49 frames, as the
    decoder shows."""
    import struct

    src = write_indexed(tmp_path / "full.mp4", Fraction(25), 50)
    data = bytearray(src.read_bytes())
    elst = data.index(b"elst")
    assert data[elst + 4] == 0  # version 0: 32-bit segment duration at +12, movie timescale
    (duration,) = struct.unpack_from(">I", data, elst + 12)
    struct.pack_into(">I", data, elst + 12, duration - 40)  # mvhd timescale 1000: 40 ms, a frame
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(bytes(data))
    with av.open(str(cut)) as c:
        decoded = sum(1 for _ in c.decode(video=0))
    info = probe(cut)
    assert decoded == 49 and (info.duration_s, info.frame_count) == (1.96, 49)
