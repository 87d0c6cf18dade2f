"""The framing export end to end on real generated MP4 files, checked with PyAV and ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

import reelgpu
from reelgpu import BackendUnavailable, Cancelled, CorruptMedia, InvalidSpec, LimitExceeded, Limits
from reelgpu.media.probe import probe, top_level_atoms
from reelgpu.media.samples import marker_position
from tests.conftest import decode_frames, psnr

W, H = 320, 180
STATIC = {"keyframes": [{"time": 0, "x": 96, "y": 18, "width": 81, "height": 144}], "target_width": 180,
          "target_height": 320}


def marker_centroid(luma: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(luma > 225)
    assert len(xs) > 0, "marker not visible"
    return float(xs.mean()) + 0.5, float(ys.mean()) + 0.5


def no_partials(folder: Path) -> bool:
    return not any(".partial" in p.name for p in folder.iterdir())


def test_container_facts(sample_30: Path, tmp_path: Path) -> None:
    r = reelgpu.framing(sample_30, tmp_path / "out.mp4", STATIC, device="cpu")
    info = probe(r.output)
    assert (info.width, info.height) == (180, 320) == (r.width, r.height)
    assert info.frame_count == r.frames == 60
    assert info.fps == 30
    assert info.duration_s == pytest.approx(2.0, abs=1 / 30)
    atoms = top_level_atoms(r.output)
    assert atoms.index("moov") < atoms.index("mdat")  # +faststart
    assert info.has_audio and r.has_audio
    with av.open(str(r.output)) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.color_primaries, cc.color_trc, cc.colorspace) == (1, 1, 1)  # BT.709
    assert r.backend == {"decode": "pyav", "process": "numpy", "encode": "libx264"}
    assert {"decode", "process", "encode", "total"} <= set(r.timings_s)
    assert no_partials(tmp_path)


def test_audio_is_copied_bit_exact_when_timing_is_unchanged(sample_30: Path, tmp_path: Path, ffmpeg: str) -> None:
    r = reelgpu.framing(sample_30, tmp_path / "out.mp4", STATIC, device="cpu")
    md5 = lambda p: subprocess.run([ffmpeg, "-v", "error", "-i", str(p), "-map", "0:a", "-c", "copy", "-f", "md5", "-"],
                                   capture_output=True, text=True, check=True).stdout
    assert md5(r.output) == md5(sample_30)


def test_audio_off_and_absent(sample_30: Path, sample_noaudio: Path, tmp_path: Path) -> None:
    r = reelgpu.framing(sample_30, tmp_path / "a.mp4", {**STATIC, "include_audio": False}, device="cpu")
    assert not probe(r.output).has_audio and not r.has_audio
    r = reelgpu.framing(sample_noaudio, tmp_path / "b.mp4", STATIC, device="cpu")
    assert not probe(r.output).has_audio


def audio_tone_span(path: Path) -> tuple[float, float]:
    """(duration of the audio stream, dominant frequency) decoded with PyAV."""
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        chunks = [f.to_ndarray()[0] for f in c.decode(s)]
        rate = s.codec_context.sample_rate
    x = np.concatenate(chunks)
    spectrum = np.abs(np.fft.rfft(x[rate // 10: -rate // 10]))
    return len(x) / rate, float(np.argmax(spectrum) * rate / (len(x) - 2 * (rate // 10)))


@pytest.mark.parametrize(("codec", "ext"), [("pcm_s16le", "mov"), ("libmp3lame", "mp4"), ("libopus", "mkv")])
def test_audio_that_is_not_aac_is_encoded_to_aac(sample_30: Path, tmp_path: Path, ffmpeg: str, codec: str,
                                                 ext: str) -> None:
    """Outputs carry AAC (CONTRACT.md, "Encoding"): PCM, MP3 or Opus were copied into the MP4 as
    they were, even when timing was unchanged (PCM in MP4 does not play in browsers)."""
    src = tmp_path / f"source.{ext}"
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-i", str(sample_30), "-c:v", "copy", "-c:a", codec, str(src)],
                   check=True)
    assert probe(src).audio_codec != "aac"
    r = reelgpu.framing(src, tmp_path / "out.mp4", STATIC, device="cpu")
    assert probe(r.output).audio_codec == "aac"
    seconds, tone = audio_tone_span(r.output)
    assert seconds == pytest.approx(2.0, abs=0.05) and tone == pytest.approx(440, abs=5)  # the source's sound


def test_trim_and_slow_motion_retime_audio_in_sync(sample_30: Path, tmp_path: Path) -> None:
    spec = {**STATIC, "segment_data": {"trim_start": 0.5, "trim_end": 1.5, "segments": [{"start": 0.5, "end": 1.0, "speed": 0.5}]}}
    r = reelgpu.framing(sample_30, tmp_path / "slow.mp4", spec, device="cpu")
    assert r.duration_s == pytest.approx(1.5, abs=1 / 30)  # 0.5 s at 0.5x + 0.5 s
    assert r.frames == 45
    duration, tone = audio_tone_span(r.output)
    assert duration == pytest.approx(r.duration_s, abs=0.05)  # AAC frames, within ~2 frames
    assert tone == pytest.approx(440, abs=10)  # atempo keeps the pitch


def test_slow_motion_duplicates_frames(sample_30: Path, tmp_path: Path) -> None:
    spec = {**STATIC, "encode": {"crf": 10}, "segment_data": {"segments": [{"start": 0, "end": 1, "speed": 0.5}]}}
    r = reelgpu.framing(sample_30, tmp_path / "slow.mp4", spec, device="cpu")
    assert r.frames == 90
    frames = decode_frames(r.output)
    assert psnr(frames[20][1], frames[21][1]) > 45  # the same source frame twice
    assert psnr(frames[21][1], frames[22][1]) < 40  # then the next one


def test_trim_is_frame_accurate(media_dir: Path, tmp_path: Path) -> None:
    # Keyframes every 10 frames: a keyframe-aligned cut would start at 0.333 s, not 0.5 s.
    from reelgpu.media.samples import make_sample_video

    src = make_sample_video(media_dir / "gop10.mp4", width=W, height=H, fps=30, seconds=2, gop=10)
    spec = {**STATIC, "encode": {"crf": 8}, "include_audio": False}
    whole = decode_frames(reelgpu.framing(src, tmp_path / "whole.mp4", spec, device="cpu").output)
    trimmed = decode_frames(reelgpu.framing(src, tmp_path / "trim.mp4",
                                            {**spec, "segment_data": {"trim_start": 0.5}}, device="cpu").output)
    assert len(trimmed) == 45
    assert psnr(trimmed[0][1], whole[15][1]) > 40
    assert psnr(trimmed[0][1], whole[14][1]) < psnr(trimmed[0][1], whole[15][1]) - 3


def test_a_trimmed_clip_is_decoded_from_its_trim_start(media_dir: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Not from the clip's start: decoding 100 s to drop them would cost 100 s of decoding."""
    from reelgpu.media import decode_cpu
    from reelgpu.media.samples import make_sample_video

    opened: list[float] = []

    class Recording(decode_cpu.PyAVVideoSource):
        def __init__(self, *args: object, **kwargs: float) -> None:
            opened.append(kwargs["start_s"])
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    src = make_sample_video(media_dir / "gop10_3s.mp4", width=W, height=H, fps=30, seconds=3, gop=10)
    spec = {**STATIC, "encode": {"crf": 8}, "include_audio": False}
    whole = decode_frames(reelgpu.framing(src, tmp_path / "whole.mp4", spec, device="cpu").output)
    monkeypatch.setattr(decode_cpu, "PyAVVideoSource", Recording)
    trimmed = decode_frames(reelgpu.framing(src, tmp_path / "trim.mp4",
                                            {**spec, "segment_data": {"trim_start": 1.4}}, device="cpu").output)
    assert opened == [pytest.approx(1.4)]
    assert len(trimmed) == 90 - 42
    assert psnr(trimmed[0][1], whole[42][1]) > 40 and psnr(trimmed[-1][1], whole[-1][1]) > 40


def test_keyframed_crop_puts_the_marker_where_it_should_be(sample_30: Path, tmp_path: Path) -> None:
    # A fixed-size box panning with linear interpolation; the marker moves independently.
    box_w, box_h = 120.0, 160.0
    keys = [{"time": 0.0, "x": 20.0, "y": 10.0, "width": box_w, "height": box_h},
            {"time": 2.0, "x": 180.0, "y": 10.0, "width": box_w, "height": box_h}]
    spec = {"keyframes": keys, "interpolation": "linear", "target_width": 240, "target_height": 320,
            "encode": {"crf": 12}}
    r = reelgpu.framing(sample_30, tmp_path / "pan.mp4", spec, device="cpu")
    frames = decode_frames(r.output)
    checked = 0
    for n in (0, 10, 20, 30, 40):
        t = n / 30
        mx, my = marker_position(t, W, H)
        bx = 20 + 160 * t / 2
        ex, ey = (mx - bx) * 240 / box_w, (my - 10) * 320 / box_h
        if not (10 < ex < 230):
            continue
        gx, gy = marker_centroid(frames[n][1])
        assert gx == pytest.approx(ex, abs=2.5) and gy == pytest.approx(ey, abs=2.5)
        checked += 1
    assert checked >= 3


@pytest.mark.parametrize("fixture", ["sample_25", "sample_60"])
def test_other_frame_rates_keep_real_time(fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    src = request.getfixturevalue(fixture)
    r = reelgpu.framing(src, tmp_path / "o.mp4", {**STATIC, "fps": 30, "include_audio": False,
                                                   "target_width": 320, "target_height": 180,
                                                   "keyframes": [{"time": 0, "x": 0, "y": 0, "width": 320, "height": 180}]},
                        device="cpu")
    assert r.frames == 60 and r.duration_s == pytest.approx(2.0)
    frames = decode_frames(r.output)
    for n in (15, 45):  # the marker is where the source had it at the same wall-clock time
        mx, my = marker_position(n / 30, W, H)
        gx, _ = marker_centroid(frames[n][1])
        assert gx == pytest.approx(mx, abs=3.5)


def test_static_crop_matches_ffmpeg_crop_scale(sample_30: Path, tmp_path: Path, ffmpeg: str) -> None:
    """Outside oracle: ffmpeg's own crop + bicubic scale of the same box."""
    spec = {"keyframes": [{"time": 0, "x": 96, "y": 18, "width": 80, "height": 144}], "target_width": 180,
            "target_height": 324, "encode": {"crf": 10}, "include_audio": False}
    ours = reelgpu.framing(sample_30, tmp_path / "ours.mp4", spec, device="cpu").output
    theirs = tmp_path / "ffmpeg.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-i", str(sample_30), "-vf", "crop=80:144:96:18,scale=180:324:flags=bicubic",
                    "-c:v", "libx264", "-crf", "10", "-an", str(theirs)], check=True)
    a, b = decode_frames(ours), decode_frames(theirs)
    assert len(a) == len(b) == 60
    scores = [psnr(x[1], y[1]) for x, y in zip(a, b)]
    assert min(scores) >= 35, f"min PSNR {min(scores):.1f} dB"


def test_rotation_metadata_is_honoured(sample_rotated: Path, tmp_path: Path, ffmpeg: str) -> None:
    info = probe(sample_rotated)
    assert (info.width, info.height, info.rotation) == (180, 320, 90)
    spec = {"keyframes": [{"time": 0, "x": 0, "y": 0, "width": 180, "height": 320}], "target_width": 180,
            "target_height": 320, "encode": {"crf": 8}, "include_audio": False}
    ours = decode_frames(reelgpu.framing(sample_rotated, tmp_path / "o.mp4", spec, device="cpu").output)
    raw = subprocess.run([ffmpeg, "-v", "error", "-i", str(sample_rotated), "-frames:v", "1", "-f", "rawvideo",
                          "-pix_fmt", "yuv420p", "-"], capture_output=True, check=True).stdout
    upright = np.frombuffer(raw[: 320 * 180], np.uint8).reshape(320, 180)  # ffmpeg auto-rotates; Y plane
    assert psnr(ours[0][1], upright) > 38


def test_spec_rotation_turns_the_picture(sample_30: Path, tmp_path: Path) -> None:
    base = {"keyframes": [{"time": 0, "x": 0, "y": 0, "width": 320, "height": 180}], "target_width": 320,
            "target_height": 180, "include_audio": False, "encode": {"crf": 10}}
    flat = decode_frames(reelgpu.framing(sample_30, tmp_path / "a.mp4", base, device="cpu").output)[0][1]
    turned = decode_frames(reelgpu.framing(sample_30, tmp_path / "b.mp4", {**base, "rotation": 180},
                                           device="cpu").output)[0][1]
    inner = (slice(20, 160), slice(20, 300))
    assert psnr(turned[inner], np.rot90(flat, 2)[inner]) > 35


def test_a_custom_upscaler_replaces_the_resampler(sample_30: Path, tmp_path: Path) -> None:
    from reelgpu.ops.crop_scale import crop_scale

    calls = []

    def negative(planes, box, out_w, out_h, rotation):  # the built-in resampler, then inverted luma
        calls.append((tuple(box), out_w, out_h, rotation))
        out = crop_scale(planes, box, out_w, out_h, rotation_deg=rotation)
        return reelgpu.Planes(255 - out.y, out.u, out.v)

    spec = {**STATIC, "include_audio": False, "encode": {"crf": 10}}
    plain = decode_frames(reelgpu.framing(sample_30, tmp_path / "a.mp4", spec, device="cpu").output)[5][1]
    custom = decode_frames(reelgpu.framing(sample_30, tmp_path / "b.mp4", spec, device="cpu", upscaler=negative).output)
    assert psnr(custom[5][1], 255 - plain) > 35
    assert len(calls) == 60 and calls[0] == ((96.0, 18.0, 81.0, 144.0), 180, 320, 0.0)


def test_an_upscaler_returning_the_wrong_size_stops_the_export(sample_30: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"upscaler: returned planes of shapes \(\(180, 320\), .*expected .*\(320, 180\)"):
        reelgpu.framing(sample_30, tmp_path / "o.mp4", STATIC, device="cpu", upscaler=lambda planes, *_: planes)
    assert list(tmp_path.iterdir()) == []
    fake = type("Fake", (), {})

    def lookalike(planes, box, out_w, out_h, rotation):
        y = fake()
        y.shape, y.dtype = (out_h, out_w), "uint8"
        u = fake()
        u.shape, u.dtype = (out_h // 2, out_w // 2), "uint8"
        return (y, u, u)

    with pytest.raises(ValueError, match=r"types \['Fake'\]; expected .*numpy.ndarray"):
        reelgpu.framing(sample_30, tmp_path / "o.mp4", STATIC, device="cpu", upscaler=lookalike)


def test_default_crop_and_output_size_rule(sample_30: Path, tmp_path: Path) -> None:
    r = reelgpu.framing(sample_30, tmp_path / "o.mp4", {"clips": [{}], "include_audio": False}, device="cpu")
    # 9:16 box of 320x180: 101.25x180 -> x4 = 405x720, cap 2560x1440 -> even 404x720... conformed.
    assert r.height == 720 and r.width in (404, 405 // 2 * 2)


def test_multi_clip_transitions(sample_30: Path, sample_25: Path, tmp_path: Path) -> None:
    clip = {"keyframes": STATIC["keyframes"]}
    spec = {"clips": [clip, {**clip, "source_key": "second.mp4"}], "target_width": 180, "target_height": 320, "fps": 30}
    sources = {"second.mp4": sample_25}
    cut = reelgpu.framing(sample_30, tmp_path / "cut.mp4", spec, sources=sources, device="cpu")
    assert cut.frames == 120 and probe(cut.output).has_audio
    dis = reelgpu.framing(sample_30, tmp_path / "dis.mp4", {**spec, "transition": {"type": "dissolve", "duration": 0.5}},
                          sources=sources, device="cpu")
    assert dis.frames == 105
    assert audio_tone_span(dis.output)[0] == pytest.approx(3.5, abs=0.06)
    fade = reelgpu.framing(sample_30, tmp_path / "fade.mp4", {**spec, "transition": {"type": "fade", "duration": 0.5}},
                           sources=sources, device="cpu")
    luma = decode_frames(fade.output)
    assert luma[60][1].mean() < 40 < luma[45][1].mean()  # black at the join, picture before it


def tone_crossover_s(path: Path, low_hz: float, high_hz: float) -> float:
    """The first time (20 ms windows) the ``high_hz`` tone is louder than ``low_hz``."""
    with av.open(str(path)) as c:
        rate = c.streams.audio[0].codec_context.sample_rate
        x = np.concatenate([f.to_ndarray()[0] for f in c.decode(audio=0)])
    n = rate // 50
    t = np.arange(n) / rate
    for i in range(len(x) // n):
        w = x[i * n:(i + 1) * n]
        if abs(w @ np.exp(2j * np.pi * high_hz * t)) > abs(w @ np.exp(2j * np.pi * low_hz * t)):
            return i * n / rate
    raise AssertionError("the second tone never leads")


def test_a_dissolve_next_to_a_short_clip_keeps_the_audio_in_sync(sample_30: Path, media_dir: Path,
                                                                 tmp_path: Path) -> None:
    from reelgpu.media.samples import make_sample_video

    high = make_sample_video(media_dir / "s30_880.mp4", width=320, height=180, fps=30, seconds=2.0, tone_hz=880)
    clip = {"keyframes": STATIC["keyframes"]}
    spec = {"clips": [clip, {**clip, "source_key": "high"}, {**clip, "segment_data": {"trim_end": 0.4}}],
            "target_width": 180, "target_height": 320, "transition": {"type": "dissolve", "duration": 0.5}}
    r = reelgpu.framing(sample_30, tmp_path / "d.mp4", spec, sources={"high": high}, device="cpu")
    # Every overlap is half the 0.4 s clip (0.2 s), audio as video: 2 + 2 + 0.4 - 2 x 0.2 = 4 s.
    # Each join sized on its own overlapped 0.5 s at the first: 3.7 s of audio, sound 0.15 s early.
    assert r.duration_s == pytest.approx(4.0)
    assert audio_tone_span(r.output)[0] == pytest.approx(4.0, abs=0.03)
    assert tone_crossover_s(r.output, 440, 880) == pytest.approx(1.9, abs=0.04)  # the first dissolve's middle


def assert_nothing_written(folder: Path) -> None:
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        ({"clips": [{"source_start_time": 50}]}, InvalidSpec, r"params.clips\[0\].source_start_time"),
        ({"clips": [{"segment_data": {"trim_start": 5}}]}, InvalidSpec, r"params.clips\[0\].segment_data"),
        ({"clips": [{"source_key": "missing.mp4"}]}, InvalidSpec, r"params.clips\[0\].source_key"),
        ({"clips": [{}], "target_width": 5000, "target_height": 100}, LimitExceeded, "target_width"),
        ({"clips": [{"keyframes": [{"time": 0, "x": 0, "y": 0, "width": -1, "height": 1}]}]}, InvalidSpec, "width"),
    ],
)
def test_bad_specs_fail_before_any_work(sample_30: Path, tmp_path: Path, spec: dict, error: type, match: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(error, match=match):
        reelgpu.framing(sample_30, out / "x.mp4", spec, device="cpu")
    assert_nothing_written(out)


def test_input_limits_and_corrupt_media(sample_30: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(LimitExceeded, match="video width"):
        reelgpu.framing(sample_30, out / "x.mp4", STATIC, device="cpu", limits=Limits(max_input_width=100))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(CorruptMedia, match="junk.mp4"):
        reelgpu.framing(junk, out / "x.mp4", STATIC, device="cpu")
    assert_nothing_written(out)


def test_cancel_and_progress(sample_30: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    reelgpu.framing(sample_30, tmp_path / "ok.mp4", STATIC, device="cpu", progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (60, 60) and [d for d, _ in seen] == list(range(1, 61))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(Cancelled):
        reelgpu.framing(sample_30, out / "x.mp4", STATIC, device="cpu", cancel=lambda: len(seen) > 65,
                        progress=lambda d, t: seen.append((d, t)))
    assert_nothing_written(out)


def test_cuda_request_without_gpu_is_a_clear_error(sample_30: Path, tmp_path: Path) -> None:
    if reelgpu.capabilities().can_decode_gpu:
        pytest.skip("this machine can run the GPU path; covered by tests/gpu")
    with pytest.raises(BackendUnavailable, match="device='cuda'"):
        reelgpu.framing(sample_30, tmp_path / "x.mp4", STATIC, device="cuda")
    assert not (tmp_path / "x.mp4").exists()


def _x264_options(path: Path) -> dict[str, str]:
    """libx264's settings as it writes them into its SEI ("x264 - core N ... options: a=b c=d")."""
    data = path.read_bytes()
    start = data.index(b"x264 - core")
    sei = data[start:data.index(b"\x00", start)].decode("ascii", "replace")
    return dict(item.split("=", 1) for item in sei.split("options: ", 1)[1].split() if "=" in item)


def test_x264_gets_the_ffmpeg_cli_settings(sample_30: Path, tmp_path: Path, ffmpeg: str) -> None:
    # Frame threads at x264's automatic count, as the CLI runs them (PyAV's own default is
    # sliced threads): the benchmarks' "same x264 settings" is then literally true.
    r = reelgpu.framing(sample_30, tmp_path / "out.mp4", STATIC, device="cpu")
    cli = tmp_path / "cli.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(sample_30), "-vf", "crop=81:144:96:18,scale=180:320",
                    "-c:v", "libx264", "-preset", "fast", "-crf", "18", "-pix_fmt", "yuv420p", str(cli)], check=True)
    ours, theirs = _x264_options(r.output), _x264_options(cli)
    assert ours["sliced_threads"] == "0"
    assert int(ours["threads"]) >= 1
    common = sorted(set(ours) & set(theirs))
    assert len(common) > 30
    assert {k: ours[k] for k in common} == {k: theirs[k] for k in common}


@pytest.fixture(scope="module")
def odd_sized_gray(media_dir: Path, ffmpeg: str) -> Path:
    """A flat mid-grey 321x181 video (4:4:4 stores odd sizes): decoded pictures are 320x180."""
    path = media_dir / "odd_321x181.mp4"
    if not path.exists():  # the format filter first: lavfi's colour source would round to even
        subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=gray:size=321x181:rate=30:d=1,format=yuv444p",
                        "-c:v", "libx264", "-pix_fmt", "yuv444p", str(path)], check=True)
    return path


@pytest.mark.parametrize("spec", [
    {"clips": [{}]},  # the default crop
    {"keyframes": [{"time": 0, "x": 0, "y": 0, "width": 321, "height": 181}], "target_width": 320, "target_height": 180},
    {"keyframes": [{"time": 0, "x": 200, "y": 100, "width": 121, "height": 81}], "target_width": 120, "target_height": 80},
], ids=["default-crop", "whole-frame", "bottom-right-corner"])
def test_odd_sized_source_has_no_black_edge(odd_sized_gray: Path, tmp_path: Path, spec: dict) -> None:
    """Crops are clamped to the decoded picture: a box reaching the source's odd last column or
    row used to sample past it, and the resampler drew black there (the last 4 rows of a default
    crop were Y=16)."""
    assert (probe(odd_sized_gray).width, probe(odd_sized_gray).height) == (321, 181)
    r = reelgpu.framing(odd_sized_gray, tmp_path / "o.mp4", {**spec, "include_audio": False}, device="cpu")
    for _, y in decode_frames(r.output)[:3]:
        edges = [y[0], y[-1], y[:, 0], y[:, -1]]
        assert min(float(e.min()) for e in edges) > 110, [float(e.min()) for e in edges]  # grey, never black
