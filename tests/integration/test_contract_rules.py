"""Regression tests for CONTRACT.md rules that no other test pinned down.

An audit broke each of these rules in a copy of the code (one mutant per rule: a changed default,
a constant, a swapped argument, a reordered step) and the whole suite stayed green. Each test
below names the rule it guards and fails under that rule's mutant. Media are tiny (160x96 or
320x180, at most 2 s); where a rule is a property of one function it is checked on that function,
where it is about how the export wires things together it is checked on real output frames.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
from PIL import Image

import reelgpu
from handler.context import JobContext
from handler.settings import Settings
from reelgpu.exports.overlay import TextPlan, _plan_region, highlight_at
from reelgpu.media.samples import make_sample_video
from reelgpu.ops.color import hex_to_yuv
from reelgpu.ops.highlight import HighlightDraw
from reelgpu.render.banner import RATING_COLORS, display_title, render_banner
from reelgpu.specs import OverlaySpec, parse_spec
from tests.conftest import decode_frames

W, H = 160, 96  # the tiny overlay source
KEY = {"radiusX": 20, "radiusY": 20, "strokeOpacity": 0.0, "color": "#FFFFFF"}


# --------------------------------------------------------------------------- helpers
def contract_catmull_rom(p0: float, p1: float, p2: float, p3: float, u: float) -> float:
    """CONTRACT.md, Framing semantics: the Catmull-Rom formula, written out independently."""
    return 0.5 * (2 * p1 + (-p0 + p2) * u + (2 * p0 - 5 * p1 + 4 * p2 - p3) * u**2
                  + (-p0 + 3 * p1 - 3 * p2 + p3) * u**3)


def lumas(path: Path) -> list[np.ndarray]:
    return [y.astype(np.float64) for _, y in decode_frames(path)]


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def crop_errors(out: np.ndarray, src: np.ndarray, xs: list[int], width: int = 160) -> dict[int, float]:
    """MSE of an output frame against the unscaled crop of a source frame at each x in ``xs``."""
    return {x: mse(out, src[:, x:x + width]) for x in xs}


def dim_at(out: np.ndarray, src: np.ndarray, region: tuple[slice, slice]) -> float:
    """Measured dim of a patch: 1 - (out - 16) / (src - 16) (0 = untouched, 0.6 = dimmed by 0.6)."""
    return float(1 - np.mean(out[region] - 16) / np.mean(src[region] - 16))


def png_b64(box: tuple[int, int, int, int], rgba: tuple[int, int, int, int]) -> str:
    """A full-frame (W x H) RGBA PNG, transparent but for ``box`` (x0, y0, x1, y1)."""
    img = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    img.paste(Image.new("RGBA", (box[2] - box[0], box[3] - box[1]), rgba), box[:2])
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def crop_key(x: float, *, time: float | None = None, frame: float | None = None) -> dict:
    key: dict = {"x": x, "y": 0, "width": 160, "height": 180}
    key.update({"time": time} if frame is None else {"frame": frame})
    return key


def framing_spec(keyframes: list[dict], trim: tuple[float, float], **extra) -> dict:
    """A 160x180 output of a 160x180 box: the crop is copied unscaled, so a box at integer x is
    compared with a plain slice of the decoded source."""
    clip = {"keyframes": keyframes, "segment_data": {"trim_start": trim[0], "trim_end": trim[1]}}
    clip.update(extra.pop("clip", {}))
    return {"clips": [clip], "target_width": 160, "target_height": 180, "include_audio": False,
            "encode": {"crf": 4}, **extra}


def plan(spec: OverlaySpec, index: int = 0, width: int = W, height: int = H):
    return _plan_region(spec.highlight_regions[index], width, height)


def draw(spec: OverlaySpec, t: float) -> HighlightDraw | None:
    regions = [plan(spec, i) for i in range(len(spec.highlight_regions))]
    return highlight_at(t, regions, spec, H)


def overlay_spec(*regions: dict, **extra) -> OverlaySpec:
    spec = parse_spec("overlay", {"highlight_regions": list(regions), **extra})
    assert isinstance(spec, OverlaySpec)
    return spec


@pytest.fixture(scope="module")
def tiny(media_dir: Path) -> Path:
    """160x96, 30 fps, 1 s, no audio, near-lossless (crf 4) so dims and alphas measure cleanly."""
    return make_sample_video(media_dir / "contract_tiny.mp4", width=W, height=H, fps=30, seconds=1.0,
                             audio=False, crf=4)


@pytest.fixture(scope="module")
def tiny_frames(tiny: Path) -> list[np.ndarray]:
    return lumas(tiny)


# --------------------------------------------------------------------------- framing
def test_interpolation_defaults_to_catmull_rom(sample_30: Path, tmp_path: Path) -> None:
    """Framing: `interpolation`: catmull_rom (default; HEAD) or linear (ERA)."""
    assert parse_spec("framing", {"clips": [{}]}).interpolation == "catmull_rom"
    # A two-keyframe pan x 0 -> 128 over 0.8 s with no `interpolation` given. At t = 0.2
    # (u = 0.25) clamped Catmull-Rom gives 128 * (u + 3u^2 - 2u^3) / 2 = 26; linear gives 32.
    assert contract_catmull_rom(0, 0, 128, 128, 0.25) == pytest.approx(26.0)
    spec = framing_spec([crop_key(0, time=0), crop_key(128, time=0.8)], (0.0, 0.3))
    out = lumas(reelgpu.framing(sample_30, tmp_path / "o.mp4", spec, device="cpu").output)
    src = lumas(sample_30)
    errors = crop_errors(out[6], src[6], [26, 32])
    assert errors[26] < 2.0, errors
    assert errors[32] > 100 * max(errors[26], 1.0), errors


def test_frame_keyframes_use_the_source_fps(sample_25: Path, tmp_path: Path) -> None:
    """Framing keyframes: accept `frame` instead of `time` (converted with the source fps).
    On a 25 fps source {"frame": 50} is t = 2 s (a fixed 30 fps would make it 1.667 s)."""
    spec = framing_spec([crop_key(0, frame=0), crop_key(160, frame=50)], (0.4, 1.04), interpolation="linear")
    out = lumas(reelgpu.framing(sample_25, tmp_path / "o.mp4", spec, device="cpu").output)
    src = lumas(sample_25)
    assert len(out) == 16
    # Output frame k shows source frame 10 + k (t = 0.4 + k/25); the box is at x = 80 t.
    for k, (x, x_at_30fps) in {0: (32, 38), 15: (80, 96)}.items():
        errors = crop_errors(out[k], src[10 + k], [x, x_at_30fps])
        assert errors[x] < 2.0, (k, errors)
        assert errors[x_at_30fps] > 100 * max(errors[x], 1.0), (k, errors)


def test_crop_keyframe_time_counts_from_clip_start_untrimmed(sample_30: Path, tmp_path: Path) -> None:
    """Framing keyframes: `time` in seconds from the clip start on the untrimmed clip timeline.
    With source_start_time = 1 and trim_start = 0.5 the first output frame is source time 1.5,
    clip time 0.5: its box is the one at clip time 0.5 (x = 40), not at the trimmed time 0
    (x = 0) nor at the source time 1.5 (x = 120)."""
    spec = framing_spec([crop_key(0, time=0), crop_key(160, time=2)], (0.5, 0.6), interpolation="linear",
                        clip={"source_start_time": 1.0})
    out = lumas(reelgpu.framing(sample_30, tmp_path / "o.mp4", spec, device="cpu").output)
    src = lumas(sample_30)
    assert len(out) == 3
    errors = crop_errors(out[0], src[45], [0, 40, 120])
    assert errors[40] < 2.0, errors
    assert min(errors[0], errors[120]) > 100 * max(errors[40], 1.0), errors


# --------------------------------------------------------------------------- overlay
def test_active_region_is_the_first_by_start_time(tiny: Path, tiny_frames: list[np.ndarray], tmp_path: Path) -> None:
    """Overlay: the active region is the first (by start time) with start <= t <= end, whatever
    the order of the list. Region B (start 0) is listed after region A (start 0.3); both hold
    t = 0.5, so B's spotlight (undimmed at x = 120) is drawn, not A's (x = 40)."""
    a = {"start_time": 0.3, "end_time": 1.0, "keyframes": [{**KEY, "x": 40, "y": 48, "time": 0.3},
                                                          {**KEY, "x": 40, "y": 48, "time": 1.0}]}
    b = {"start_time": 0.0, "end_time": 1.0, "keyframes": [{**KEY, "x": 120, "y": 48, "time": 0.0},
                                                          {**KEY, "x": 120, "y": 48, "time": 1.0}]}
    spec = {"highlight_regions": [a, b], "overlay_settings": {"dim_strength": 0.6}, "encode": {"crf": 0}}
    out = lumas(reelgpu.overlay(tiny, tmp_path / "o.mp4", spec, device="cpu").output)
    n = 15  # t = 0.5
    at_a, at_b = (slice(44, 52), slice(36, 44)), (slice(44, 52), slice(116, 124))
    assert dim_at(out[n], tiny_frames[n], at_b) == pytest.approx(0.0, abs=0.02)
    assert dim_at(out[n], tiny_frames[n], at_a) == pytest.approx(0.6, abs=0.02)


def test_exit_fade_q_squared_is_applied_by_the_export(tiny: Path, tiny_frames: list[np.ndarray],
                                                      tmp_path: Path) -> None:
    """Overlay: exit fade over the last min(0.25, (end - start)/2) s: factor q^2, multiplying
    the dim (and every layer). Measured on every output frame of a region [0.2, 0.8]."""
    key = {**KEY, "x": 80, "y": 48}
    spec = {"highlight_regions": [{"start_time": 0.2, "end_time": 0.8,
                                   "keyframes": [{**key, "time": 0.2}, {**key, "time": 0.8}]}],
            "overlay_settings": {"dim_strength": 0.6}, "encode": {"crf": 0}}
    out = lumas(reelgpu.overlay(tiny, tmp_path / "o.mp4", spec, device="cpu").output)
    corner = (slice(2, 20), slice(2, 40))
    faded = 0
    for n, frame in enumerate(out):
        t = n / 30
        if 0.2 <= t <= 0.8:
            q = min(1.0, max(0.0, (0.8 - t) / 0.25))
            expected = 0.6 * (q * q if t > 0.8 - 0.25 else 1.0)
        else:
            expected = 0.0
        faded += 0.0 < expected < 0.59
        assert dim_at(frame, tiny_frames[n], corner) == pytest.approx(expected, abs=0.01), (n, t)
    assert faded == 7  # frames 17..23 are inside the fade


def test_region_keyframes_within_40ms_outside_the_region_count() -> None:
    """Overlay: a region's keyframes are those within [start - 0.04, end + 0.04]. A keyframe at
    end + 0.02 (or start - 0.02) belongs to the region; one at end + 0.06 does not."""
    def region(start: float, end: float, *keys: tuple[float, float]) -> dict:
        return {"start_time": start, "end_time": end,
                "keyframes": [{**KEY, "time": t, "x": x, "y": 48} for t, x in keys]}

    spec = overlay_spec(region(0.0, 0.5, (0.0, 40.0), (0.52, 120.0)))
    assert plan(spec).times == (0.0, 0.52)
    d = draw(spec, 0.45)  # before the last keyframe (0.52): drawn, moving towards x = 120
    assert d is not None and d.cx == pytest.approx(contract_catmull_rom(40, 40, 120, 120, 0.45 / 0.52))
    # Before the region's start.
    spec = overlay_spec(region(0.5, 1.0, (0.48, 40.0), (1.0, 120.0)))
    assert plan(spec).times == (0.48, 1.0)
    d = draw(spec, 0.5)
    assert d is not None and d.cx == pytest.approx(contract_catmull_rom(40, 40, 120, 120, 0.02 / 0.52))
    # Beyond the window: only the keyframe at 0 is the region's, and nothing is drawn after it.
    spec = overlay_spec(region(0.0, 0.5, (0.0, 40.0), (0.56, 120.0)))
    assert plan(spec).times == (0.0,)
    assert draw(spec, 0.25) is None
    # Exactly on the window's edge: the interval is closed (0.30 + 0.04 is 0.33999999999999997).
    spec = overlay_spec(region(0.0, 0.30, (0.0, 40.0), (0.34, 120.0)))
    assert plan(spec).times == (0.0, 0.34)


def test_region_video_size_scales_x_by_width_and_y_by_height() -> None:
    """Overlay: if videoWidth/videoHeight differ from the video's size, scale x/radiusX by
    W/videoWidth and y/radiusY by H/videoHeight. Here W/videoWidth = 2, H/videoHeight = 0.5."""
    key = {**KEY, "x": 30, "y": 100, "radiusX": 10, "radiusY": 40, "time": 0}
    spec = overlay_spec({"start_time": 0, "end_time": 1, "videoWidth": W // 2, "videoHeight": H * 2,
                         "keyframes": [key, {**key, "time": 1}]})
    d = draw(spec, 0.5)
    assert d is not None
    assert (d.cx, d.cy, d.rx, d.ry) == pytest.approx((60, 50, 20, 20))


def test_highlight_color_overrides_keyframe_colours() -> None:
    """Overlay: `highlight_color` (optional) overrides every keyframe colour."""
    keys = [{**KEY, "x": 80, "y": 48, "time": 0, "color": "#FF0000"},
            {**KEY, "x": 80, "y": 48, "time": 1, "color": "#0000FF"}]
    region = {"start_time": 0, "end_time": 1, "keyframes": keys}
    for t in (0.0, 0.5, 0.9):
        d = draw(overlay_spec(region, highlight_color="#00FF00"), t)
        assert d is not None
        assert d.stroke_yuv == d.fill_yuv == hex_to_yuv("#00FF00"), t
        assert d.outline_yuv == hex_to_yuv("#00FF00", scale=0.3), t
    d = draw(overlay_spec(region), 0.5)  # without it: the keyframe's own colour
    assert d is not None and d.stroke_yuv == hex_to_yuv("#FF0000")


def test_ellipse_centre_is_catmull_rom_between_keyframes() -> None:
    """Overlay semantics: Catmull-Rom on x, y, radii and opacities (clamped end neighbours)."""
    xs, ys = (20.0, 100.0, 60.0), (30.0, 60.0, 40.0)
    keys = [{**KEY, "x": x, "y": y, "time": float(i)} for i, (x, y) in enumerate(zip(xs, ys))]
    spec = overlay_spec({"start_time": 0, "end_time": 2, "keyframes": keys})
    for t, i in ((0.5, 0), (1.25, 1), (1.5, 1)):
        u = t - i
        neighbours = [min(max(j, 0), 2) for j in (i - 1, i, i + 1, i + 2)]
        want_x = contract_catmull_rom(*(xs[j] for j in neighbours), u)
        want_y = contract_catmull_rom(*(ys[j] for j in neighbours), u)
        linear_x = xs[i] + (xs[i + 1] - xs[i]) * u
        assert abs(want_x - linear_x) > 1.0  # where the two differ
        d = draw(spec, t)
        assert d is not None
        assert (d.cx, d.cy) == pytest.approx((want_x, want_y), abs=1e-6), t


def test_text_layers_are_blended_after_the_highlight(tiny: Path, tmp_path: Path) -> None:
    """Overlay compositing order: text layers are blended after the highlight, so an opaque
    (black) text patch covers the (white) stroke where they overlap."""
    key = {**KEY, "x": 80, "y": 48, "radiusX": 30, "radiusY": 30, "strokeOpacity": 1.0}
    spec = {"highlight_regions": [{"start_time": 0, "end_time": 1, "keyframes": [{**key, "time": 0},
                                                                                 {**key, "time": 1}]}],
            "effect_type": "original", "overlay_settings": {"stroke_width": 40},  # 4 px at 96 lines
            "text_layers": [{"start_time": 0, "end_time": 1, "png_b64": png_b64((40, 6, 120, 40), (0, 0, 0, 255))}],
            "encode": {"crf": 4}}
    out = lumas(reelgpu.overlay(tiny, tmp_path / "o.mp4", spec, device="cpu").output)
    frame = out[6]
    # The top of the ring (y 16..20 at x = 80; y ~31 at x = 55) lies inside the patch.
    patch = frame[9:37, 43:117]
    assert patch.max() < 30, patch.max()
    # The stroke is drawn where there is no text (bottom of the ring, y = 78).
    assert frame[76:81, 78:83].max() > 200


@pytest.fixture(scope="module")
def text_export(tiny: Path, tiny_frames: list[np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> list[float]:
    """Measured alpha per output frame of a white text patch shown over [0.5, 1.0)."""
    spec = {"text_layers": [{"start_time": 0.5, "end_time": 1.0,
                             "png_b64": png_b64((20, 60, 140, 90), (255, 255, 255, 255))}],
            "encode": {"crf": 0}}
    out = lumas(reelgpu.overlay(tiny, tmp_path_factory.mktemp("text") / "t.mp4", spec, device="cpu").output)
    p = (slice(62, 88), slice(22, 138))
    return [float(np.mean(o[p] - s[p]) / np.mean(235 - s[p])) for o, s in zip(out, tiny_frames)]


def test_text_fade_alpha_per_frame(text_export: list[float]) -> None:
    """Overlay: text alpha x min(1, (end - t)/0.25) while start <= t < end, on every frame."""
    assert len(text_export) == 30
    for n, alpha in enumerate(text_export):
        t = n / 30
        expected = min(1.0, (1.0 - t) / 0.25) if 0.5 <= t < 1.0 else 0.0
        assert alpha == pytest.approx(expected, abs=0.02), (n, t)
    sprite = SimpleNamespace()  # opacity() does not look at the sprite
    layer = TextPlan(0.5, 1.0, sprite)  # type: ignore[arg-type]
    assert [layer.opacity(t) for t in (0.75, 0.8, 0.875, 0.95)] == pytest.approx([1.0, 0.8, 0.5, 0.2])


def test_text_visible_from_its_start_time(text_export: list[float]) -> None:
    """Overlay: text layers are shown while start <= t < end: the frame at t == start has it."""
    assert text_export[14] == pytest.approx(0.0, abs=0.02)  # t = 0.4667
    assert text_export[15] == pytest.approx(1.0, abs=0.02)  # t = 0.5 == start
    layer = TextPlan(0.5, 1.0, SimpleNamespace())  # type: ignore[arg-type]
    assert layer.opacity(0.5) == 1.0
    assert layer.opacity(1.0) == 0.0


def test_duplicate_keyframe_times_later_wins() -> None:
    """Duplicate keyframe times: the later one wins (its colour as well as its geometry)."""
    keys = [{**KEY, "time": 0.0, "x": 40, "y": 48, "color": "#FF0000"},
            {**KEY, "time": 0.5, "x": 60, "y": 48, "color": "#00FF00"},
            {**KEY, "time": 0.5, "x": 100, "y": 48, "color": "#0000FF"},
            {**KEY, "time": 1.0, "x": 100, "y": 48, "color": "#FFFFFF"}]
    spec = overlay_spec({"start_time": 0, "end_time": 1, "keyframes": keys})
    assert plan(spec).colors == ("#FF0000", "#0000FF", "#FFFFFF")
    for t in (0.5, 0.7):
        d = draw(spec, t)
        assert d is not None and d.stroke_yuv == hex_to_yuv("#0000FF"), t
    d = draw(spec, 0.5)
    assert d is not None and d.cx == pytest.approx(100)


# --------------------------------------------------------------------------- annotate
def test_annotate_rating_defaults_to_3(tiny: Path, tmp_path: Path) -> None:
    """Annotate: rating 1-5 (default 3): notation '!?', border colour #1565C0, word Interesting."""
    spec = parse_spec("annotate", {"clips": [{"start_time": 0.1, "end_time": 0.4, "name": "Run"}]})
    rating = spec.clips[0].rating
    assert rating == 3
    assert display_title("Run", rating, [], 0) == "!?  Run"
    assert RATING_COLORS[rating] == "#1565C0"
    banner = render_banner(title=display_title("Run", rating, [], 0), notes="", rating=rating, frame_w=W, frame_h=H)
    assert tuple(banner.rgba[0, 0]) == (0x15, 0x65, 0xC0, 255)
    # The export: the sidecar's rating and the display name made from it.
    r = reelgpu.annotate(tiny, tmp_path / "c.mp4", {"clips": [{"start_time": 0.1, "end_time": 0.4, "tags": ["Goal"]}]},
                         device="cpu")
    sidecar = json.loads(Path(f"{r.output}.json").read_text())
    assert [(c["rating"], c["name"]) for c in sidecar["clips"]] == [(3, "Interesting Goal")]


# --------------------------------------------------------------------------- encoding
def test_audio_bitrate_defaults_to_192k(sample_30: Path, tmp_path: Path) -> None:
    """Encoding: audio_bitrate: 192k (default). A trim makes the export re-encode the audio (the
    source's AAC is 128k), so the output's AAC bit rate is the encoder's."""
    assert parse_spec("framing", {"clips": [{}]}).encode.audio_bitrate == "192k"
    spec = {"clips": [{"segment_data": {"trim_start": 0.0, "trim_end": 1.0}}], "target_width": 96,
            "target_height": 160}
    r = reelgpu.framing(sample_30, tmp_path / "o.mp4", spec, device="cpu")
    with av.open(str(r.output)) as c:
        audio = c.streams.audio[0]
        assert audio.codec_context.name == "aac"
        assert 172_000 < audio.bit_rate < 212_000, audio.bit_rate


# --------------------------------------------------------------------------- handler
def test_handler_progress_is_throttled_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Handler: progress is throttled (no more than about 2 per second). The default interval
    (settings field `progress_interval_s`, env REELGPU_PROGRESS_INTERVAL_S) is >= 0.5 s, and a
    job reporting every frame for 5 s (on a fake clock) sends at most ~2 updates a second."""
    assert Settings().progress_interval_s >= 0.5
    assert Settings.from_env({}).progress_interval_s >= 0.5
    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr("handler.progress.time", SimpleNamespace(monotonic=lambda: clock.now))
    sent: list[dict] = []
    ctx = JobContext(Settings.from_env({}), sent.append)
    for done in range(100):  # a frame every 50 ms, each a new percentage
        clock.now = done * 0.05
        ctx.progress.frames(done, 100)
    assert 2 <= len(sent) <= 11, sent
    assert [p["progress"] for p in sent] == sorted(p["progress"] for p in sent)
