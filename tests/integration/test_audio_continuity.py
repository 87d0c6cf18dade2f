"""Decoded and re-encoded audio stays continuous: no clicks where frames join.

Matroska/WebM stamp audio in whole milliseconds, so a 44.1 kHz frame's timestamp can be half
a millisecond off where the frame before it ended; placing every frame at its own timestamp
cut slivers of silence or skipped samples into the audio every few frames (500-800 broken
samples in 3 s, found by helper-42's fuzz). The resampler's delay at 8 kHz (96 samples) made
one more at the start. A pure tone shows any of these: it obeys
``x[n+1] + x[n-1] = 2 cos(w) x[n]`` everywhere but at a discontinuity.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

import reelgpu

TONE_HZ = 997.0


def tone_source(ffmpeg: str, dst: Path, codec: str, rate: int, channels: int, audio_filter: str = "") -> Path:
    video = ["-c:v", "libvpx-vp9", "-deadline", "realtime"] if dst.suffix == ".webm" else ["-c:v", "libx264"]
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=3",
                    "-f", "lavfi", "-i", f"sine=f={TONE_HZ}:r={rate}:d=3,volume=3{audio_filter}",
                    "-map", "0:v", "-map", "1:a", *video, "-pix_fmt", "yuv420p", "-c:a", codec,
                    "-ac", str(channels), str(dst)], check=True)
    return dst


def mono_48k(path: Path) -> np.ndarray:
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=48000)
    with av.open(str(path)) as c:
        return np.concatenate([x.to_ndarray()[0] for f in c.decode(audio=0) for x in resampler.resample(f)])


def broken_samples(x: np.ndarray) -> np.ndarray:
    """Times (s) where the tone's recurrence breaks, away from the ends (AAC's start-up and the
    padding after the last frame)."""
    w = 2 * np.pi * TONE_HZ / 48000
    inner = x[4800:-9600]
    residual = np.abs(inner[2:] + inner[:-2] - 2 * np.cos(w) * inner[1:-1])
    return (np.nonzero(residual > 0.05)[0] + 4801) / 48000


EXPORTS = {
    "overlay copy": lambda src, dst: reelgpu.overlay(src, dst, {}, device="cpu"),  # TranscodedAudio
    "framing trim": lambda src, dst: reelgpu.framing(src, dst, {"segment_data": {"trim_start": 0.3}},
                                                     device="cpu"),  # read_audio
    "annotate": lambda src, dst: reelgpu.annotate(src, dst, {"clips": [{"start_time": 0.3, "end_time": 2.9}]},
                                                  device="cpu"),
}


@pytest.mark.parametrize(("name", "codec", "rate", "channels"), [
    ("pcm44.mkv", "pcm_s16le", 44100, 2),  # millisecond timestamps
    ("aac44.mkv", "aac", 44100, 2),
    ("vorbis22.webm", "libvorbis", 22050, 1),
    ("pcm8.mov", "pcm_s16le", 8000, 1),  # the resampler's delay
])
@pytest.mark.parametrize("export", EXPORTS)
def test_no_clicks_where_frames_join(ffmpeg: str, tmp_path: Path, name: str, codec: str, rate: int, channels: int,
                                     export: str) -> None:
    src = tone_source(ffmpeg, tmp_path / name, codec, rate, channels)
    out = EXPORTS[export](src, tmp_path / "out.mp4").output
    assert broken_samples(mono_48k(out)).size == 0


@pytest.mark.parametrize("export", ["overlay copy", "framing trim"])
def test_a_real_gap_stays_a_gap(ffmpeg: str, tmp_path: Path, export: str) -> None:
    """Frames 300 ms apart are a gap in the recording, not rounding: silence fills it and the
    tone resumes on time (sync kept), within a millisecond."""
    src = tone_source(ffmpeg, tmp_path / "gap.mkv", "pcm_s16le", 44100, 2,
                      ",aselect='not(between(t\\,1.2\\,1.5))'")
    with av.open(str(src)) as c:  # aselect drops whole frames: the tone resumes with the first one kept
        source_resumes = min(float(p.pts * p.time_base) for p in c.demux(audio=0)
                             if p.pts is not None and p.pts * p.time_base > 1.3)
    out = mono_48k(EXPORTS[export](src, tmp_path / "out.mp4").output)
    shift = 0.3 if export == "framing trim" else 0.0
    loud = np.abs(out) > 0.1
    silent_from = (1.2 - shift) + 0.05
    assert not loud[int(silent_from * 48000):int((1.5 - shift - 0.05) * 48000)].any()
    resumes = (np.nonzero(loud[int(silent_from * 48000):])[0][0]) / 48000 + silent_from
    assert resumes == pytest.approx(source_resumes - shift, abs=0.001)
    assert broken_samples(out[int((1.5 - shift + 0.05) * 48000):]).size == 0  # continuous after it


@pytest.mark.parametrize("export", ["overlay copy", "framing trim"])
def test_audio_that_changes_rate_mid_stream(ffmpeg: str, tmp_path: Path, export: str) -> None:
    """A broadcast capture's MP2 switching from 44.1 to 48 kHz at a programme change: PyAV's
    resampler refused the first 48 kHz frame with a bare ValueError (an INTERNAL error; the
    overlay's copy used to pass such audio through untouched). The tone carries on at its
    pitch and level across the change (helper-43)."""
    halves = []
    for k, rate in enumerate((44100, 48000)):
        half = tmp_path / f"{k}.mp2"
        subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"sine=f={TONE_HZ}:r={rate}:d=1,volume=3", "-c:a", "mp2", str(half)], check=True)
        halves.append(half.read_bytes())
    (tmp_path / "both.mp2").write_bytes(b"".join(halves))
    src = tmp_path / "capture.ts"
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=2",
                    "-i", str(tmp_path / "both.mp2"), "-c:v", "libx264", "-c:a", "copy", "-f", "mpegts", str(src)],
                   check=True)
    out = mono_48k(EXPORTS[export](src, tmp_path / "out.mp4").output)
    shift = 0.3 if export == "framing trim" else 0.0
    for a, b in ((0.4, 0.8), (1.2, 1.6)):  # inside each half
        part = out[int((a - shift) * 48000):int((b - shift) * 48000)]
        peak = np.fft.rfftfreq(len(part), 1 / 48000)[np.abs(np.fft.rfft(part)).argmax()]
        assert abs(peak - TONE_HZ) < 3 and np.sqrt(np.mean(part ** 2)) > 0.2


@pytest.mark.parametrize("export", ["overlay copy", "framing trim"])
def test_audio_runs_to_the_video_end(ffmpeg: str, tmp_path: Path, export: str) -> None:
    """Audio as long as its video keeps its last samples: the resampler holds its delay's worth
    (96 samples at 8 kHz), which were lost at the end of the stream and became silence."""
    src = tone_source(ffmpeg, tmp_path / "pcm8.mov", "pcm_s16le", 8000, 1)
    out = mono_48k(EXPORTS[export](src, tmp_path / "out.mp4").output)
    end = round((3.0 - (0.3 if export == "framing trim" else 0.0)) * 48000)
    assert np.abs(out[end - 48:end]).max() > 0.3  # the last millisecond: the tone, not silence


SLOWED = {"segment_data": {"trim_start": 0.2, "segments": [{"start": 0.6, "end": 1.6, "speed": 0.5}]}}


def test_slowed_audio_stays_with_its_pictures(ffmpeg: str, tmp_path: Path) -> None:
    """atempo hands its output out early and short: a slowed piece's audio ran 36 ms ahead of
    its pictures at 0.5x (83 ms at 0.25x) and ended in a sliver of silence before the next
    piece (helper-44). A 10 ms burst at 1.00 s belongs at 0.4 + 0.4 / 0.5 = 1.20 s."""
    src = tmp_path / "burst.mov"
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=3",
                    "-f", "lavfi", "-i", "aevalsrc='if(between(t,1.0,1.01),0.5*sin(2*PI*1000*t),0)':s=48000:d=3",
                    "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le",
                    str(src)], check=True)
    out = mono_48k(reelgpu.framing(src, tmp_path / "out.mp4", SLOWED, device="cpu").output)
    energy = out[int(1.0 * 48000):int(1.5 * 48000)] ** 2
    centre = 1.0 + float((energy * np.arange(energy.size)).sum() / energy.sum()) / 48000
    assert centre == pytest.approx(1.20 + 0.01, abs=0.008)  # the burst lasts 20 ms once slowed


def test_slowed_audio_runs_to_the_end_of_its_piece(ffmpeg: str, tmp_path: Path) -> None:
    src = tone_source(ffmpeg, tmp_path / "tone.mp4", "aac", 48000, 2)
    out = mono_48k(reelgpu.framing(src, tmp_path / "out.mp4", SLOWED, device="cpu").output)
    end = int(2.4 * 48000)  # the slowed piece ends at 0.4 + 1.0 / 0.5 s
    assert np.abs(out[end - 1200:end]).min(initial=1.0) > 0 and np.abs(out[end - 960:end]).max() > 0.3


def test_a_dissolve_of_part_frames_keeps_audio_to_the_video_end(tmp_path: Path) -> None:
    """Clips of 1.16 s and 0.76 s dissolving over 0.38 s (9.5 frames at 25 fps): the video's
    frame count rounds the total up to 39 frames (1.56 s); the audio ended at 1.54 s."""
    from reelgpu.media.samples import make_sample_video

    src = make_sample_video(tmp_path / "src.mp4", width=160, height=96, fps=25, seconds=4)
    spec = {"clips": [{"source_start_time": 0.68, "source_end_time": 1.84},
                      {"source_start_time": 2.96, "source_end_time": 3.72}],
            "transition": {"type": "dissolve", "duration": 0.5}}
    result = reelgpu.framing(src, tmp_path / "out.mp4", spec, device="cpu")
    with av.open(str(result.output)) as c:
        audio_s = max(float((p.pts + p.duration) * p.time_base) for p in c.demux(audio=0) if p.pts is not None)
    assert result.frames == 39 and audio_s == pytest.approx(1.56, abs=0.002)


@pytest.mark.parametrize("speed", [0.5, 0.25, 2.0])
def test_no_clicks_where_pieces_of_different_speeds_meet(ffmpeg: str, tmp_path: Path, speed: float) -> None:
    """A slowed piece's audio does not continue its 1x neighbours' in phase: each join broke
    the tone by more than its amplitude. The pieces now cross-fade over 10 ms."""
    src = tone_source(ffmpeg, tmp_path / "tone.mp4", "aac", 48000, 2)
    spec = {"segment_data": {"trim_start": 0.2, "segments": [{"start": 0.6, "end": 1.6, "speed": speed}]}}
    out = mono_48k(reelgpu.framing(src, tmp_path / "out.mp4", spec, device="cpu").output)
    assert broken_samples(out).size == 0


def test_matroska_audio_from_before_the_first_key_frame(ffmpeg: str, tmp_path: Path) -> None:
    """A Matroska recording cut mid-GOP (its video starts with frames that are not key frames;
    the first key frame is at 6 s) has audio from 0 s. A clip at 1.5 s gets it: Matroska's audio
    is reached by the video's key frames (Cues), which here lie after the clip's lead-in, and
    the audio seek takes over (a first version left the clip silent, or failed with the only
    key frame: helper-46)."""
    src = tmp_path / "src.mkv"
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=10:d=20",
                    "-f", "lavfi", "-i", f"sine=f={TONE_HZ}:d=20", "-c:v", "libx264", "-g", "100", "-c:a", "aac",
                    "-ar", "48000", str(src)], check=True)
    cut = tmp_path / "cut.mkv"  # from 4 s: non-key frames up to the key frame at 10 s (6 s in the cut)
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(src), "-ss", "4", "-c", "copy", "-copyinkf",
                    str(cut)], check=True)
    with av.open(str(cut)) as c:
        keys = [float(p.pts * p.time_base) for p in c.demux(c.streams.video[0]) if p.is_keyframe]
    assert keys and keys[0] > 5.5
    result = reelgpu.annotate(cut, tmp_path / "out.mp4", {"clips": [{"start_time": 1.5, "end_time": 4.5, "rating": 5}],
                                                          "encode": {"preset": "ultrafast"}}, device="cpu")
    x = mono_48k(result.output)
    seconds = [float(np.sqrt(np.mean(x[i:i + 48000] ** 2))) for i in range(0, len(x) - 47999, 48000)]
    assert len(seconds) == 3 and min(seconds) > 0.05, seconds  # the tone throughout, no silent start
