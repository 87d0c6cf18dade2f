"""Where packets are copied rather than encoded (the overlay's no-op stream copy, a whole 1x
framing clip's AAC audio), the output still follows the encoded outputs' rules: the video
starts at time 0, the audio is no longer than the video, colours the source leaves unspecified
are tagged BT.709, and the caller's progress and cancel are honoured."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

import reelgpu

AAC_FRAME_S = 1024 / 48000  # a copied track ends on a whole AAC frame
REGION = {"highlight_regions": [{"start_time": 0, "end_time": 2, "keyframes": [
    {"time": 0, "x": 60, "y": 60, "radiusX": 20, "radiusY": 20}, {"time": 2, "x": 90, "y": 60, "radiusX": 20,
                                                                  "radiusY": 20}]}]}


def encode(ffmpeg: str, dst: Path, *args: str, audio_s: float = 2.0) -> Path:
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=2",
                    "-f", "lavfi", "-i", f"sine=f=440:r=48000:d={audio_s}", "-c:v", "libx264", "-preset",
                    "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", *args, str(dst)], check=True)
    return dst


def spans(path: Path) -> dict[str, tuple[float, float]]:
    """(first timestamp, end) of the video and audio packets, in seconds."""
    times: dict[str, list[tuple[float, float]]] = {}
    with av.open(str(path)) as c:
        for p in c.demux(c.streams.video[0], *c.streams.audio[:1]):
            if p.pts is not None:
                times.setdefault(p.stream.type, []).append((float(p.pts * p.time_base),
                                                            float((p.pts + p.duration) * p.time_base)))
    return {kind: (min(t for t, _ in ts), max(e for _, e in ts)) for kind, ts in times.items()}


@pytest.fixture(scope="module")
def long_audio(ffmpeg: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2.0 s of video under 2.6 s of AAC: the audio runs on past the last frame."""
    return encode(ffmpeg, tmp_path_factory.mktemp("m") / "long_audio.mp4", audio_s=2.6)


@pytest.mark.parametrize(("export", "spec"), [("framing", {}), ("overlay", {}), ("overlay", REGION)],
                         ids=["framing whole clip", "overlay copy", "overlay drawn"])
def test_audio_running_past_the_video_is_cut_at_its_end(long_audio: Path, tmp_path: Path, export: str,
                                                        spec: dict) -> None:
    result = getattr(reelgpu, export)(long_audio, tmp_path / "o.mp4", spec, device="cpu")
    got = spans(result.output)
    assert got["video"][1] == pytest.approx(2.0, abs=0.001)
    assert 2.0 - AAC_FRAME_S <= got["audio"][1] <= 2.0 + AAC_FRAME_S  # was 2.6 s


def packets(path: Path, kind: str) -> list[bytes]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0] if kind == "video" else c.streams.audio[0]
        return [bytes(p) for p in c.demux(stream) if p.size]


def test_a_plain_mp4_is_copied_packet_for_packet(sample_30: Path, tmp_path: Path) -> None:
    """Audio no longer than its video loses nothing, not even the AAC priming packet before
    time 0 (its edit list hides it; the decoder needs it for the first real samples)."""
    copied = reelgpu.overlay(sample_30, tmp_path / "o.mp4", {}, device="cpu").output
    for kind in ("video", "audio"):
        assert packets(copied, kind) == packets(sample_30, kind)


def test_a_transport_stream_copy_starts_at_zero(ffmpeg: str, tmp_path: Path) -> None:
    """An MPEG-TS capture's clock starts where the broadcast was (1.4 s here); the copy, as every
    encoded output, starts its video at 0 and keeps the audio in step."""
    src = encode(ffmpeg, tmp_path / "capture.ts", "-f", "mpegts")
    with av.open(str(src)) as c:
        assert c.streams.video[0].start_time * c.streams.video[0].time_base > 1
    result = reelgpu.overlay(src, tmp_path / "o.mp4", {}, device="cpu")
    assert result.backend["encode"] == "copy"
    got = spans(result.output)
    assert got["video"] == (0.0, pytest.approx(2.0, abs=0.001))
    assert got["audio"][0] == pytest.approx(0.0, abs=AAC_FRAME_S)
    assert got["audio"][1] == pytest.approx(2.0, abs=AAC_FRAME_S)
    # The framing passthrough keeps the same audio: the copy rule is one (audio_feed.plays_within).
    framed = spans(reelgpu.framing(src, tmp_path / "f.mp4", {}, device="cpu").output)
    assert framed["audio"] == pytest.approx(got["audio"], abs=1e-6)


def colours(path: Path) -> tuple[str, str, str, str]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=color_primaries,color_transfer,color_space,color_range", "-of",
                          "default=nw=1:nk=1", str(path)], capture_output=True, text=True, check=True).stdout.split()
    return tuple(out)  # type: ignore[return-value]


def test_unspecified_colours_are_tagged_bt709_and_stated_ones_kept(ffmpeg: str, tmp_path: Path) -> None:
    untagged = encode(ffmpeg, tmp_path / "untagged.mp4")
    assert "bt709" not in colours(untagged)
    copied = reelgpu.overlay(untagged, tmp_path / "a.mp4", {}, device="cpu").output
    assert colours(copied) == ("tv", "bt709", "bt709", "bt709")
    sd = encode(ffmpeg, tmp_path / "sd.mp4", "-color_primaries", "bt470bg", "-color_trc", "smpte170m",
                "-colorspace", "bt470bg", "-color_range", "tv")
    copied = reelgpu.overlay(sd, tmp_path / "b.mp4", {}, device="cpu").output
    assert colours(copied) == colours(sd) == ("tv", "bt470bg", "smpte170m", "bt470bg")  # the picture's own


def decoded(path: Path) -> tuple[tuple[int, int, int, int], list[np.ndarray]]:
    """The colours the decoder reads from the stream itself (its VUI), and every frame."""
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    first = frames[0]
    return ((first.color_primaries, first.color_trc, first.colorspace, first.color_range),
            [f.to_ndarray() for f in frames])


@pytest.mark.parametrize(("codec", "container"), [("libx264", "mp4"), ("libx265", "mp4"), ("libx264", "mkv"),
                                                   ("libx264", "ts"), ("libx265", "ts")])
def test_the_streams_own_colours_say_bt709_too(ffmpeg: str, tmp_path: Path, codec: str, container: str) -> None:
    """Decoders (browsers among them) read the colours from the stream's parameter sets, not
    the container's box: an untagged H.264/HEVC source gets BT.709 written there as well, and
    not one picture changes. MPEG-TS too: the filter handed the muxer the transport stream's
    codec tag (0x1b), which the MP4 muxer refused, so those sources got the box only."""
    if codec not in av.codecs_available:
        pytest.skip(f"this PyAV's FFmpeg has no {codec} encoder")
    src = tmp_path / f"untagged.{container}"
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=1",
                    "-c:v", codec, "-pix_fmt", "yuv420p", *(["-x265-params", "log-level=error"] if "265" in codec else []),
                    str(src)], check=True)
    before, frames = decoded(src)
    assert before[:3] == (2, 2, 2) and vui_colours(ffmpeg, src).get("colour_primaries", 2) == 2  # unspecified
    copied = reelgpu.overlay(src, tmp_path / "o.mp4", {}, device="cpu").output
    after, copied_frames = decoded(copied)
    assert after == (1, 1, 1, 1)  # BT.709, limited range (the box alone would give this for H.264)
    assert vui_colours(ffmpeg, copied) == BT709_LIMITED  # in the stream itself
    assert len(copied_frames) == len(frames) and all(np.array_equal(a, b) for a, b in zip(frames, copied_frames))


@pytest.mark.parametrize(("name", "args", "wanted"), [
    ("vp9.webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime"], {"colorspace": 1, "color_range": 1}),
    ("av1.mp4", ["-c:v", "libaom-av1", "-cpu-used", "8"],
     {"color_primaries": 1, "color_trc": 1, "colorspace": 1, "color_range": 1}),
])
def test_vp9_and_av1_say_bt709_in_their_own_headers(ffmpeg: str, tmp_path: Path, name: str, args: list[str],
                                                    wanted: dict[str, int]) -> None:
    """As H.264/HEVC do (helper-42): VP9's headers carry the matrix and range only, AV1's
    sequence header all four. The decoder reads them from there."""
    if args[1] not in subprocess.run([ffmpeg, "-hide_banner", "-encoders"], capture_output=True, text=True).stdout:
        pytest.skip(f"the ffmpeg CLI has no {args[1]} encoder to make the source")
    src = tmp_path / name
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=1",
                    "-pix_fmt", "yuv420p", *args, str(src)], check=True)
    copied = reelgpu.overlay(src, tmp_path / "o.mp4", {}, device="cpu")
    assert copied.backend["encode"] == "copy"
    with av.open(str(copied.output)) as c:
        first = next(c.decode(video=0))
    assert {k: getattr(first, k) for k in wanted} == wanted


BT709_LIMITED = {"colour_primaries": 1, "transfer_characteristics": 1, "matrix_coefficients": 1,
                 "video_full_range_flag": 0}


def vui_colours(ffmpeg: str, path: Path) -> dict[str, int]:
    """The colour fields of the stream's first parameter set, as FFmpeg's ``trace_headers``
    filter reads them (an outside oracle: the decoder's answer falls back on the MP4 box);
    empty where the stream states none."""
    log = subprocess.run([ffmpeg, "-nostdin", "-hide_banner", "-i", str(path), "-c:v", "copy", "-an",
                          "-bsf:v", "trace_headers", "-frames:v", "1", "-f", "null", "-"],
                         capture_output=True, text=True, check=True).stderr
    fields: dict[str, int] = {}
    for line in log.splitlines():
        words = line.split()
        if len(words) >= 4 and words[-4] in BT709_LIMITED and words[-2] == "=":  # NAME BITS = VALUE
            fields.setdefault(words[-4], int(words[-1]))
    return fields


@pytest.mark.parametrize(("name", "args"), [
    ("bframes.mkv", ["-c:v", "libx264", "-bf", "3"]),  # Matroska: no decode times on the first packets
    ("bframes.mov", ["-c:v", "libx264", "-bf", "3"]),
    ("bframes.ts", ["-c:v", "libx264", "-bf", "3", "-f", "mpegts"]),
    ("av1.mp4", ["-c:v", "libaom-av1", "-cpu-used", "8"]),  # PyAV found no encoder named libdav1d
    ("av1.webm", ["-c:v", "libaom-av1", "-cpu-used", "8"]),
])
def test_every_frame_is_copied(ffmpeg: str, tmp_path: Path, name: str, args: list[str]) -> None:
    """The copy of a B-frame stream from a Matroska file lost its first two frames (23 of 25):
    they come without a decode time and were dropped as empty end-of-stream packets. An AV1
    stream raised PyAV's UnknownCodecError (not reelgpu's): its stream was made for an encoder
    named after its decoder, libdav1d (helper-42)."""
    encoder = args[1]
    if encoder not in subprocess.run([ffmpeg, "-hide_banner", "-encoders"], capture_output=True, text=True).stdout:
        pytest.skip(f"the ffmpeg CLI has no {encoder} encoder to make the source")
    src = tmp_path / name
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=1",
                    "-pix_fmt", "yuv420p", *args, str(src)], check=True)
    _, frames = decoded(src)
    result = reelgpu.overlay(src, tmp_path / "o.mp4", {}, device="cpu")
    _, copied = decoded(result.output)
    assert result.backend["encode"] == "copy" and len(frames) == 25
    assert len(copied) == len(frames) and all(np.array_equal(a, b) for a, b in zip(frames, copied))


def test_a_cut_last_frame_is_kept(ffmpeg: str, tmp_path: Path) -> None:
    """A file cut by stream copy (``ffmpeg -ss ... -c copy``): its edit list ends a fraction of
    a millisecond after the last frame starts, and the copy's edit list (whole milliseconds)
    ended before it, losing that frame."""
    pre, src = tmp_path / "pre.mov", tmp_path / "cut.mov"
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-itsoffset", "0.05", "-f", "lavfi", "-i",
                    "testsrc2=size=160x90:rate=30000/1001:duration=2", "-f", "lavfi", "-i",
                    "sine=sample_rate=44100:duration=3", "-map", "0:v", "-map", "1:a", "-c:a", "libmp3lame",
                    "-vf", "select='not(eq(mod(n,5),2))'", "-vsync", "vfr", "-c:v", "mpeg4", "-g", "10",
                    str(pre)], check=True)
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-ss", "0.37", "-i", str(pre), "-c", "copy", str(src)],
                   check=True)
    _, frames = decoded(src)
    _, copied = decoded(reelgpu.overlay(src, tmp_path / "o.mp4", {}, device="cpu").output)
    assert len(copied) == len(frames) and all(np.array_equal(a, b) for a, b in zip(frames, copied))


def test_an_avi_is_encoded_even_with_nothing_to_draw(ffmpeg: str, tmp_path: Path) -> None:
    """AVI stores no presentation times: a copy carried FFmpeg's guesses (the first frame a
    frame late, B-frames out of order, "non monotonically increasing dts")."""
    src = tmp_path / "bframes.avi"
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=1",
                    "-pix_fmt", "yuv420p", "-c:v", "libx264", "-bf", "2", str(src)], check=True)
    result = reelgpu.overlay(src, tmp_path / "o.mp4", {}, device="cpu")
    assert result.backend["encode"] == "libx264" and result.frames == 25
    with av.open(str(result.output)) as c:
        times = [float(f.time) for f in c.decode(video=0)]
    assert times == sorted(times) and times[0] == 0.0 and len(times) == 25


def test_audio_whose_parameters_ffmpeg_did_not_find(ffmpeg: str, tmp_path: Path) -> None:
    """An M2TS whose audio starts 0.3 s after its 60 fps video: PyAV's FFmpeg reports the AAC
    stream with sample rate 0, and the MP4 muxer refused to copy it (CorruptMedia from
    framing and overlay alike). Such audio is decoded and encoded instead; the overlay's video
    is still a stream copy."""
    src = tmp_path / "late_audio.m2ts"
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=320x180:rate=60:duration=1.5", "-itsoffset", "0.3", "-f", "lavfi", "-i",
                    "sine=sample_rate=44100:duration=2", "-map", "0:v", "-map", "1:a", "-c:v", "libx264",
                    "-c:a", "aac", "-f", "mpegts", "-mpegts_m2ts_mode", "1", str(src)], check=True)
    if reelgpu.probe(src).audio_sample_rate:
        pytest.skip("this PyAV's FFmpeg finds the audio's parameters: the case does not arise")
    for export in (reelgpu.framing, reelgpu.overlay):
        result = export(src, tmp_path / f"{export.__name__}.mp4", {}, device="cpu")
        assert result.has_audio and reelgpu.probe(result.output).audio_sample_rate == 48000
        got = spans(result.output)
        assert got["audio"][0] <= AAC_FRAME_S and got["audio"][1] == pytest.approx(got["video"][1], abs=AAC_FRAME_S)
    assert result.backend["encode"] == "copy"


def test_the_copy_reports_progress_and_honours_cancel(long_audio: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    result = reelgpu.overlay(long_audio, tmp_path / "o.mp4", {}, device="cpu", progress=lambda *a: calls.append(a))
    assert calls == [(result.frames, result.frames)] and result.frames == 50
    with pytest.raises(reelgpu.Cancelled):
        reelgpu.overlay(long_audio, tmp_path / "c.mp4", {}, device="cpu", cancel=lambda: True)
    asked: list[int] = []
    monkeypatch.setattr("reelgpu.media.remux.CANCEL_EVERY", 16)  # a game video's thousands, in small
    with pytest.raises(reelgpu.Cancelled, match="during the stream copy"):  # asked as packets go
        reelgpu.overlay(long_audio, tmp_path / "c.mp4", {}, device="cpu",
                        cancel=lambda: asked.append(1) or len(asked) > 1)
    assert not list(tmp_path.glob("c.mp4*"))


@pytest.mark.parametrize("spec", [{}, REGION], ids=["copy", "drawn"])
def test_aac_wholly_after_the_video_is_no_audio_and_says_so(ffmpeg: str, tmp_path: Path, spec: dict) -> None:
    """AAC that starts after the last frame has nothing to copy into the output, which then
    has no audio track: the result said ``has_audio=True`` all the same (helper-42)."""
    src = tmp_path / "late.mkv"
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=2",
                    "-itsoffset", "2.5", "-f", "lavfi", "-i", "sine=r=48000:d=0.6", "-map", "0:v", "-map", "1:a",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(src)], check=True)
    assert reelgpu.probe(src).has_audio
    result = reelgpu.overlay(src, tmp_path / "o.mp4", spec, device="cpu")
    assert not reelgpu.probe(result.output).has_audio and result.has_audio is False
