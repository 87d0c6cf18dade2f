"""NVDEC source against PyAV on the same files: same frames, same PTS, same pixels (within the
GPU tolerance), rotation applied like decode_cpu, seeking that never starts late."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reelgpu.media.decode_cpu import PyAVVideoSource
from tests.gpu._parity import assert_planes_close

pytestmark = pytest.mark.nvdec


def nvdec_frames(gpu: Any, path: Path, **kw: Any) -> list[tuple[float, Any]]:
    from reelgpu.media.decode_nvdec import NvdecVideoSource

    src = NvdecVideoSource(path, **kw)
    try:
        return [(f.pts_s, gpu.to_host(f.planes)) for f in src]
    finally:
        src.close()


def pyav_frames(path: Path, **kw: Any) -> list[tuple[float, Any]]:
    src = PyAVVideoSource(path, **kw)
    try:
        return [(f.pts_s, tuple(np.array(p) for p in f.planes)) for f in src]
    finally:
        src.close()


@pytest.mark.parametrize("fixture", ["sample_30", "sample_25", "sample_60", "sample_noaudio"])
def test_frame_count_pts_and_pixels_match_pyav(gpu: Any, request: pytest.FixtureRequest, fixture: str) -> None:
    path = request.getfixturevalue(fixture)
    got, ref = nvdec_frames(gpu, path), pyav_frames(path)
    assert len(got) == len(ref)
    assert [round(t, 6) for t, _ in got] == [round(t, 6) for t, _ in ref]
    for (t, g), (_, r) in zip(got, ref):
        # Both are the same H.264 decode; NVDEC is bit-exact to libavcodec for 8-bit 4:2:0.
        assert_planes_close(g, r, max_diff=1, what=f"{fixture} t={t:.3f}")


def test_rotation_metadata_is_applied(gpu: Any, sample_rotated: Path) -> None:
    got = nvdec_frames(gpu, sample_rotated, rotation=90)
    ref = pyav_frames(sample_rotated, rotation=90)
    assert got[0][1][0].shape == ref[0][1][0].shape == (320, 180)
    for (_, g), (_, r) in zip(got, ref):
        assert_planes_close(g, r, max_diff=1, what="rot90")


@pytest.mark.parametrize("quarter", [1, 2, 3])
def test_every_quarter_turn(gpu: Any, sample_30: Path, quarter: int) -> None:
    got = nvdec_frames(gpu, sample_30, rotation=90 * quarter)[:3]
    ref = pyav_frames(sample_30, rotation=90 * quarter)[:3]
    for (_, g), (_, r) in zip(got, ref):
        assert_planes_close(g, r, max_diff=1, what=f"{90 * quarter} deg")


@pytest.mark.parametrize("start_s", [0.0, 0.7, 1.3])
def test_seek_never_starts_after_start(gpu: Any, media_dir: Path, start_s: float) -> None:
    from reelgpu.media.samples import make_sample_video

    path = make_sample_video(media_dir / "gop10.mp4", seconds=2.0, gop=10)
    got = nvdec_frames(gpu, path, start_s=start_s)
    assert got and got[0][0] <= start_s + 1e-6
    all_pts = [t for t, _ in pyav_frames(path)]
    assert [round(t, 6) for t, _ in got] == [round(t, 6) for t in all_pts[-len(got):]]


def test_close_is_idempotent(gpu: Any, sample_30: Path) -> None:
    from reelgpu.media.decode_nvdec import NvdecVideoSource

    src = NvdecVideoSource(sample_30)
    next(iter(src))
    src.close()
    src.close()


def test_mpegts_with_a_start_time_decodes(gpu: Any, media_dir: Path) -> None:
    """PyNvVideoCodec's own index seek aborted the process on MPEG-TS; the source seeks with PyAV."""
    from reelgpu.media.samples import make_sample_video
    from tests.conftest import remux_video

    mp4 = make_sample_video(media_dir / "for_ts.mp4", seconds=3.0, gop=15, audio=False)
    ts = remux_video(mp4, media_dir / "clip.ts", "mpegts")
    got = nvdec_frames(gpu, ts, start_s=1.8)
    ref = pyav_frames(ts, start_s=1.8)
    assert got and [round(t, 6) for t, _ in got] == [round(t, 6) for t, _ in ref]


def test_damaged_data_raises_instead_of_ending_the_process(gpu: Any, media_dir: Path) -> None:
    """A decode failure must reach the caller as an exception (ThreadedDecoder aborted instead)."""
    from reelgpu.errors import CorruptMedia, UnsupportedMedia
    from reelgpu.media.samples import make_sample_video

    path = make_sample_video(media_dir / "to_damage.mp4", seconds=2.0, audio=False)
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(7)
    for i in rng.integers(len(data) // 3, len(data) - 64, 400):  # garbage inside the coded pictures
        data[i:i + 16] = rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
    damaged = media_dir / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    try:
        frames = nvdec_frames(gpu, damaged)
    except (CorruptMedia, UnsupportedMedia):
        return  # reported: what the export turns into CORRUPT_MEDIA
    assert len(frames) <= len(pyav_frames(path))  # concealed by NVDEC: still this process, still running


def test_an_odd_sized_picture_matches_the_cpu_path(gpu: Any, tmp_path: Path) -> None:
    """AV1 allows odd sizes: PyNvVideoCodec exports int(1.5 h) rows of an even width, and the
    chroma starts after all h luma rows (decode_nvdec.split_nv12). Both paths give 318x180."""
    from reelgpu import capabilities

    if "av1" not in capabilities().nvdec_codecs:
        pytest.skip(f"NVDEC on this GPU ({capabilities().gpu}) does not decode AV1")
    import av

    from tests.conftest import write_moving_bar

    try:  # a bar each way: a plane read one row or column off shows
        path = write_moving_bar(tmp_path / "odd.mp4", "libsvtav1", {"preset": "12"}, frames=12, width=319, height=181)
    except (av.error.FFmpegError, av.codec.codec.UnknownCodecError) as exc:
        pytest.skip(f"no libsvtav1 encoder in this PyAV build ({exc})")
    got, ref = nvdec_frames(gpu, path), pyav_frames(path)
    assert len(got) == len(ref) == 12
    assert got[0][1][0].shape == ref[0][1][0].shape == (180, 318)
    for (t, g), (_, r) in zip(got, ref):
        assert_planes_close(g, r, max_diff=1, what=f"odd AV1 t={t:.3f}")
