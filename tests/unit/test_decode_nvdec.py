"""What the NVDEC source hands PyNvVideoCodec, checked without a GPU: the packets (Annex B,
every one, in file order, with the container's timestamps) and the PacketData fields.

tests/pynvvc runs the same packets through the real PyNvVideoCodec binary (stub drivers) and
compares NVDEC's parser calls with PyNvVideoCodec's own demuxer; tests/gpu decodes them.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import av
import pytest

from reelgpu.errors import NvdecRefused
from reelgpu.media.decode_nvdec import annexb_packets, packet_data
from reelgpu.media.seek import packets_from
from tests.conftest import write_moving_bar

H264_SPS, H264_IDR = 7, 5
HEVC_VPS, HEVC_IDR = 32, range(16, 22)


def encode(path: Path, codec: str, options: dict[str, str], fmt: str | None = None, frames: int = 40) -> Path:
    return write_moving_bar(path, codec, options, fmt=fmt, frames=frames)


def nal_types(data: bytes, hevc: bool) -> list[int]:
    """NAL unit types after each 00 00 01 start code."""
    types, i = [], data.find(b"\x00\x00\x01")
    while i >= 0:
        header = data[i + 3]
        types.append((header >> 1) & 0x3F if hevc else header & 0x1F)
        i = data.find(b"\x00\x00\x01", i + 3)
    return types


def container_packets(path: Path) -> list[tuple[int | None, bool]]:
    with av.open(str(path)) as c:
        return [(p.pts, p.is_keyframe) for p in c.demux(c.streams.video[0]) if p.size]


def nvdec_packets(path: Path) -> list[tuple[bytes, int | None, bool]]:
    with av.open(str(path)) as c:
        return [(bytes(p), p.pts, p.is_keyframe) for p in annexb_packets(c.streams.video[0], c.demux(c.streams.video[0]))]


@pytest.mark.parametrize(("name", "codec", "options", "fmt"), [
    ("b.mp4", "libx264", {"preset": "medium", "bf": "3"}, None),  # AVCC in MP4, B-frames
    ("b.mkv", "libx264", {"preset": "medium"}, None),
    ("b.ts", "libx264", {"preset": "medium"}, "mpegts"),  # already Annex B
    ("h.mp4", "libx265", {"preset": "fast", "x265-params": "log-level=error"}, None),
])
def test_h264_and_hevc_become_annex_b_with_parameter_sets_on_key_frames(tmp_path: Path, name: str, codec: str,
                                                                        options: dict[str, str], fmt: str | None) -> None:
    path = encode(tmp_path / name, codec, options, fmt)
    got, ref = nvdec_packets(path), container_packets(path)
    assert [(pts, key) for _, pts, key in got] == ref  # every packet, in file order, same pts and key flags
    hevc = codec == "libx265"
    for data, _, key in got:
        assert data.startswith((b"\x00\x00\x00\x01", b"\x00\x00\x01"))
        types = nal_types(data, hevc)
        if key:  # the parser needs the parameter sets with each random access point
            assert (HEVC_VPS in types and any(t in HEVC_IDR for t in types)) if hevc else \
                (H264_SPS in types and H264_IDR in types)


def test_an_already_annex_b_stream_only_gains_parameter_sets_on_key_frames(tmp_path: Path) -> None:
    path = encode(tmp_path / "b.ts", "libx264", {"preset": "medium"}, "mpegts")
    with av.open(str(path)) as c:
        raw = [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]
    got = nvdec_packets(path)
    assert len(got) == len(raw)
    for (data, _, key), stored in zip(got, raw):
        assert data.endswith(stored)
        assert data == stored or (key and set(nal_types(data[: len(data) - len(stored)], False)) <= {7, 8})


def test_a_seek_into_an_open_gop_still_starts_with_parameter_sets(tmp_path: Path) -> None:
    """x264's open GOPs have non-IDR key frames, which *_mp4toannexb alone sends without SPS/PPS:
    after a seek NVDEC would decode nothing while the CPU path (avcC extradata) decodes fine."""
    path = encode(tmp_path / "open.mp4", "libx264",
                  {"x264-params": "open-gop=1:keyint=15:min-keyint=15:scenecut=0"}, frames=90)
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        first = next(annexb_packets(stream, packets_from(c, stream, 1.5)))
    types = nal_types(bytes(first), False)
    assert first.is_keyframe and H264_IDR not in types  # the case: a key frame that is no IDR
    slice_at = next(i for i, t in enumerate(types) if t in (1, 5))
    assert H264_SPS in types[:slice_at] and 8 in types[:slice_at]


def test_av1_goes_as_stored(tmp_path: Path) -> None:
    if "libsvtav1" not in av.codecs_available:
        pytest.skip("this PyAV build has no AV1 encoder (libsvtav1) to make a sample")
    path = encode(tmp_path / "a.mkv", "libsvtav1", {}, frames=20)
    with av.open(str(path)) as c:
        raw = [(bytes(p), p.pts) for p in c.demux(c.streams.video[0]) if p.size]
    assert [(data, pts) for data, pts, _ in nvdec_packets(path)] == raw


def test_other_codecs_are_refused(tmp_path: Path) -> None:
    path = encode(tmp_path / "m.mp4", "mpeg4", {}, frames=5)
    with av.open(str(path)) as c, pytest.raises(NvdecRefused, match="NVDEC is not used for mpeg4"):
        next(annexb_packets(c.streams.video[0], c.demux(c.streams.video[0])))


def test_packet_data_fields(tmp_path: Path) -> None:
    nvc = SimpleNamespace(PacketData=SimpleNamespace)  # PyNvVideoCodec's PacketData is a plain struct
    path = encode(tmp_path / "b.mp4", "libx264", {"preset": "medium", "bf": "3"})
    with av.open(str(path)) as c:
        packet = list(annexb_packets(c.streams.video[0], c.demux(c.streams.video[0])))[1]
        pd, keep = packet_data(nvc, packet)
        assert keep is not None and pd.bsl == packet.size == keep.size
        assert pd.bsl_data == keep.ctypes.data and keep.tobytes() == bytes(packet)  # points at the packet's bytes
        assert (pd.pts, pd.dts, pd.key) == (packet.pts, packet.dts, 0)
    flush, nothing = packet_data(nvc, None)
    assert nothing is None and not hasattr(flush, "bsl")  # an empty PacketData: bsl 0 = end of stream


def test_probe_names_the_codec_not_pyavs_decoder(tmp_path: Path) -> None:
    """NVDEC's gate looks codecs up by name: PyAV decodes AV1 with "libdav1d", the codec is "av1"."""
    from reelgpu import probe

    if "libsvtav1" not in av.codecs_available:
        pytest.skip("this PyAV build has no AV1 encoder (libsvtav1) to make a sample")
    assert probe(encode(tmp_path / "a.mp4", "libsvtav1", {}, frames=5)).video_codec == "av1"
    assert probe(encode(tmp_path / "h.mp4", "libx265", {"x265-params": "log-level=error"}, frames=5)).video_codec == "hevc"


@pytest.mark.parametrize(("w", "h"), [(320, 180), (320, 181), (319, 181), (1920, 1080)])
def test_split_nv12_takes_chroma_after_every_luma_row(w: int, h: int) -> None:
    # A surface as PyNvVideoCodec 2.2.4 exports it: int(1.5 h) rows, width rounded up to even,
    # luma rows numbered 0.., chroma rows 1000.. (so a misplaced slice shows).
    import numpy as np

    from reelgpu.media.decode_nvdec import split_nv12

    cols = w + w % 2
    surface = np.zeros((int(1.5 * h), cols), np.uint16)
    surface[:h] = np.arange(h)[:, None]
    surface[h:] = 1000 + np.arange(int(1.5 * h) - h)[:, None]
    y, uv, width, height = split_nv12(surface, h, w)
    assert (width, height) == (w - w % 2, h - h % 2)  # the CPU path's even picture
    assert y.shape == (height, width) and uv.shape == (height // 2, width)
    assert y[-1, 0] == height - 1 and uv[0, 0] == 1000 and uv[-1, 0] == 1000 + height // 2 - 1
