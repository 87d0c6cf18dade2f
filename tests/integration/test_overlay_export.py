"""The overlay export end to end: spotlight, text layers, no-op remux, bad inputs."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import reelgpu
from reelgpu import InvalidSpec
from reelgpu.media.probe import probe, top_level_atoms
from tests.conftest import decode_frames

KEY = {"x": 160, "y": 90, "radiusX": 40, "radiusY": 50, "strokeOpacity": 0.85, "fillOpacity": 0.0, "color": "#FFFFFF"}


def region(start: float, end: float, *times: float, **extra) -> dict:
    return {"start_time": start, "end_time": end, "keyframes": [{**KEY, "time": t} for t in times], **extra}


def png_b64(width: int, height: int, box: tuple[int, int, int, int], rgba=(255, 0, 0, 255)) -> str:
    img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    img.paste(Image.new("RGBA", (box[2] - box[0], box[3] - box[1]), rgba), box[:2])
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope="module")
def source_frames(sample_30: Path) -> list[np.ndarray]:
    return [y for _, y in decode_frames(sample_30)]


def test_same_frames_and_timestamps_as_input(sample_30: Path, tmp_path: Path) -> None:
    r = reelgpu.overlay(sample_30, tmp_path / "o.mp4", {"highlight_regions": [region(0, 2, 0, 2)]}, device="cpu")
    src, out = decode_frames(sample_30), decode_frames(r.output)
    assert len(out) == len(src) == r.frames == 60
    assert [round(t, 4) for t, _ in out] == [round(t, 4) for t, _ in src]
    assert probe(r.output).has_audio and probe(r.output).faststart


def test_dims_outside_not_inside_at_the_keyframed_position(sample_30: Path, source_frames, tmp_path: Path) -> None:
    spec = {"highlight_regions": [region(0, 2, 0, 2)], "overlay_settings": {"dim_strength": 0.4},
            "encode": {"crf": 6}}
    out = [y for _, y in decode_frames(reelgpu.overlay(sample_30, tmp_path / "o.mp4", spec, device="cpu").output)]
    n = 20
    src, got = source_frames[n].astype(float), out[n].astype(float)
    inside = (slice(75, 105), slice(145, 175))  # well inside the 40x50 ellipse at (160, 90)
    outside = (slice(5, 40), slice(5, 60))  # top-left corner
    assert abs((got[inside] - src[inside]).mean()) < 2
    expected = 16 + (src[outside] - 16) * 0.6
    assert np.abs(got[outside] - expected).mean() < 2.5


def test_nothing_drawn_after_last_keyframe_and_disabled_regions(sample_30: Path, source_frames, tmp_path: Path) -> None:
    spec = {"highlight_regions": [region(0, 2, 0, 0.5), region(0, 2, 0, 2, enabled=False)],
            "overlay_settings": {"dim_strength": 0.5}, "encode": {"crf": 6}}
    out = [y for _, y in decode_frames(reelgpu.overlay(sample_30, tmp_path / "o.mp4", spec, device="cpu").output)]
    corner = (slice(5, 40), slice(5, 60))
    assert out[10][corner].mean() < source_frames[10][corner].mean() - 15  # dimmed while keyed
    assert abs(out[40][corner].astype(float).mean() - source_frames[40][corner].mean()) < 2  # after the last key


def test_lone_keyframe_region_and_colour_none(sample_30: Path, tmp_path: Path) -> None:
    spec = {"highlight_regions": [region(0.5, 1.5, 0.5)], "highlight_color": "none"}
    r = reelgpu.overlay(sample_30, tmp_path / "o.mp4", spec, device="cpu")
    assert r.frames == 60


def test_text_layer_visible_only_in_its_window(sample_30: Path, tmp_path: Path) -> None:
    layer = {"start_time": 0.5, "end_time": 1.0, "png_b64": png_b64(320, 180, (20, 120, 100, 160), (255, 255, 255, 255))}
    out = decode_frames(reelgpu.overlay(sample_30, tmp_path / "o.mp4", {"text_layers": [layer], "encode": {"crf": 6}},
                                        device="cpu").output)
    patch = (slice(125, 155), slice(25, 95))
    white = [float(y[patch].mean()) for _, y in out]
    assert white[20] > 225  # inside the window, before the fade-out
    assert white[10] < 200 and white[40] < 200  # before and after
    assert white[29] < white[25]  # fading out over the last 0.25 s


def test_png_key_from_sources(sample_30: Path, tmp_path: Path) -> None:
    png = tmp_path / "layer.png"
    png.write_bytes(base64.b64decode(png_b64(320, 180, (0, 0, 10, 10))))
    r = reelgpu.overlay(sample_30, tmp_path / "o.mp4", {"text_layers": [{"start_time": 0, "end_time": 1, "png_key": "l.png"}]},
                        sources={"l.png": png}, device="cpu")
    assert r.frames == 60


def test_no_regions_no_text_is_a_faststart_remux(sample_30: Path, tmp_path: Path) -> None:
    r = reelgpu.overlay(sample_30, tmp_path / "o.mp4", {}, device="cpu")
    assert r.backend["encode"] == "copy"
    atoms = top_level_atoms(r.output)
    assert atoms.index("moov") < atoms.index("mdat")
    import av

    def packets(p: Path) -> list[bytes]:
        with av.open(str(p)) as c:
            return [bytes(k) for k in c.demux(c.streams.video[0]) if k.size]

    assert packets(r.output) == packets(sample_30)  # bit-exact video, not re-encoded


@pytest.mark.parametrize("size", [(321, 180), (160, 90)])
def test_png_of_wrong_size_is_an_error_and_nothing_is_written(sample_30: Path, tmp_path: Path, size) -> None:
    out = tmp_path / "out"
    out.mkdir()
    layer = {"start_time": 0, "end_time": 1, "png_b64": png_b64(*size, (0, 0, 4, 4))}
    with pytest.raises(InvalidSpec, match=r"params.text_layers\[0\]"):
        reelgpu.overlay(sample_30, out / "o.mp4", {"text_layers": [layer]}, device="cpu")
    assert list(out.iterdir()) == []


def test_video_size_rescaling_of_keyframes(sample_30: Path, source_frames, tmp_path: Path) -> None:
    # Keyframes given in a 640x360 space land at half the coordinates on this 320x180 video.
    spec = {"highlight_regions": [{"start_time": 0, "end_time": 2, "videoWidth": 640, "videoHeight": 360,
                                   "keyframes": [{**KEY, "time": 0, "x": 320, "y": 180, "radiusX": 80, "radiusY": 100}]}],
            "overlay_settings": {"dim_strength": 0.4}, "encode": {"crf": 6}}
    out = [y for _, y in decode_frames(reelgpu.overlay(sample_30, tmp_path / "o.mp4", spec, device="cpu").output)]
    inside = (slice(75, 105), slice(145, 175))
    assert abs(out[0][inside].astype(float).mean() - source_frames[0][inside].mean()) < 2


@pytest.mark.parametrize("draw", [True, False], ids=["drawing", "nothing-to-draw"])
def test_audio_that_is_not_aac(sample_30: Path, tmp_path: Path, ffmpeg: str, draw: bool) -> None:
    """Every output's audio is AAC (CONTRACT.md, "Encoding"). Drawing re-encodes the video;
    with nothing to draw the video is stream-copied (no re-encode, CONTRACT.md, "Overlay") and
    the PCM audio beside it is encoded (it used to be copied as PCM)."""
    import subprocess

    import av

    src = tmp_path / "pcm.mov"
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-i", str(sample_30), "-c:v", "copy", "-c:a", "pcm_s16le",
                    str(src)], check=True)
    spec = {"highlight_regions": [region(0, 2, 0, 2)]} if draw else {}
    r = reelgpu.overlay(src, tmp_path / "o.mp4", spec, device="cpu")
    out = probe(r.output)
    assert out.audio_codec == "aac" and out.audio_sample_rate == 48000
    assert out.duration_s == pytest.approx(2.0, abs=0.05) and r.has_audio
    assert (r.backend["encode"] == "copy") == (not draw)

    def video_packets(path: Path) -> list[bytes]:
        with av.open(str(path)) as c:
            return [bytes(p) for p in c.demux(video=0) if p.size]

    def tone(path: Path) -> np.ndarray:
        with av.open(str(path)) as c:
            return np.concatenate([f.to_ndarray()[0] for f in c.decode(audio=0)])

    if not draw:
        assert video_packets(r.output) == video_packets(src)  # bit-exact: not re-encoded
    # The source's 440 Hz tone, encoded: its spectrum peaks there, at about the source's level.
    got, want = tone(r.output)[4800:86400], tone(src).astype(np.float32)[4800:86400] / 32768
    assert abs(np.fft.rfftfreq(len(got), 1 / 48000)[np.abs(np.fft.rfft(got)).argmax()] - 440) < 2
    assert np.sqrt(np.mean(got ** 2)) == pytest.approx(np.sqrt(np.mean(want ** 2)), rel=0.1)


def test_a_region_without_keyframes_draws_nothing_and_holds_its_time(sample_30: Path, source_frames,
                                                                      tmp_path: Path) -> None:
    """The active region is the first by start time holding t, keyframes or not (HEAD's rule):
    a keyframe-less region draws nothing, and a later overlapping region does not take over."""
    spec = {"highlight_regions": [{"id": "A", "start_time": 0, "end_time": 1.0, "keyframes": []},
                                  region(0.5, 2, 0.5, 2)],
            "overlay_settings": {"dim_strength": 0.5}, "encode": {"crf": 6}}
    out = [y for _, y in decode_frames(reelgpu.overlay(sample_30, tmp_path / "o.mp4", spec, device="cpu").output)]
    corner = (slice(5, 40), slice(5, 60))
    dimmed = [out[n][corner].mean() < source_frames[n][corner].mean() - 15 for n in range(60)]
    assert not any(dimmed[:31])  # t <= 1.0: region A is active and has nothing to draw
    assert all(dimmed[31:55])  # then B, until its exit fade


def test_colour_on_the_last_keyframe_is_that_keyframes(sample_30: Path) -> None:
    """Colour comes from the keyframe at or before t: on the last keyframe, the last colour (it
    was the one before it, the spline's last segment)."""
    from reelgpu.exports.overlay import _plan_region, highlight_at
    from reelgpu.ops.color import hex_to_yuv
    from reelgpu.specs import parse_spec

    keys = [{**KEY, "time": 0.0, "color": "#FF0000"}, {**KEY, "time": 0.5, "color": "#0000FF"},
            {**KEY, "time": 1.0, "color": "#00FF00"}]
    spec = parse_spec("overlay", {"highlight_regions": [{"start_time": 0, "end_time": 2, "keyframes": keys}]})
    plan = _plan_region(spec.highlight_regions[0], 320, 180)
    stroke = {t: highlight_at(t, [plan], spec, 180).stroke_yuv for t in (0.0, 0.25, 0.5, 0.75, 1.0)}
    red, blue, green = hex_to_yuv("#FF0000"), hex_to_yuv("#0000FF"), hex_to_yuv("#00FF00")
    assert stroke == {0.0: red, 0.25: red, 0.5: blue, 0.75: blue, 1.0: green}
