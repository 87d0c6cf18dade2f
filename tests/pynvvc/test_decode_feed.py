"""The NVDEC feed of ``reelgpu.media.decode_nvdec`` against the real PyNvVideoCodec 2.2.4 decoder.

The project demuxes with PyAV (``annexb_packets``) and hands each packet to PyNvVideoCodec's
core decoder as ``packet_data(nvc, packet)``, then ``packet_data(nvc, None)`` to flush. That is
right if NVDEC's parser gets what it gets when PyNvVideoCodec demuxes the file itself
(``CreateDemuxer``), save the parameter sets the project repeats before each key frame. The
stub parser logs every ``cuvidParseVideoData`` (flags, size, timestamp, a checksum of the
bytes); both feeds must make the same calls, flush included.

The stub parser holds pictures back and displays them by timestamp (like B-frame
reordering), releasing the rest at end of stream, so the frames' ``getPTS()`` also show
whether the timestamps and the flush arrived.
"""

from __future__ import annotations

from typing import Any

import av
import pytest

FEED = """
import av
from reelgpu.media.decode_nvdec import NVDEC_CODECS, annexb_packets, open_nvdec, packet_data

with av.open(ARGS["path"]) as container:
    stream = container.streams.video[0]
    name = stream.codec_context.codec.canonical_name
    member = NVDEC_CODECS[name][0]
    decoder = open_nvdec(nvc, name, gpu_id=0)  # what NvdecVideoSource opens
    pts, payloads = [], []
    if ARGS["feed"] == "project":
        for packet in list(annexb_packets(stream, container.demux(stream))) + [None]:
            if packet is not None:
                payloads.append([bytes(packet).hex(), bool(packet.is_keyframe)])
            pd, keep_alive = packet_data(nvc, packet)
            pts += [int(f.getPTS()) for f in decoder.Decode(pd)]
            del keep_alive
    else:  # PyNvVideoCodec's own demuxer; its last packet is the empty end-of-stream one
        import ctypes
        for packet in nvc.CreateDemuxer(ARGS["path"]):
            if packet.bsl:
                payloads.append([ctypes.string_at(packet.bsl_data, packet.bsl).hex(), bool(packet.key)])
            pts += [int(f.getPTS()) for f in decoder.Decode(packet)]
emit({"codec": member, "pts": pts, "payloads": payloads})
"""

PARAMETER_SETS = {"H264": {7, 8}, "HEVC": {32, 33, 34}}  # SPS, PPS / VPS, SPS, PPS


def nal_types(data: bytes, codec: str) -> list[int]:
    types, i = [], data.find(b"\x00\x00\x01")
    while i >= 0:
        header = data[i + 3]
        types.append((header >> 1) & 0x3F if codec == "HEVC" else header & 0x1F)
        i = data.find(b"\x00\x00\x01", i + 3)
    return types

CASES = ["h264.mp4", "h264.ts", "hevc.mp4", "hevc.mkv", "av1.mp4", "av1.mkv"]


def container_pts(path: str) -> list[int]:
    """PTS of every video packet, in presentation order, as stored."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        return sorted(int(p.pts) for p in container.demux(stream) if p.size)


@pytest.mark.parametrize("name", CASES)
def test_same_parser_calls_as_pynvvideocodecs_demuxer(run_nvc: Any, media: Any, name: str) -> None:
    path = str(media(name))
    ours = run_nvc(FEED, args={"path": path, "feed": "project"})
    assert ours.returncode == 0, ours.explain()
    theirs = run_nvc(FEED, args={"path": path, "feed": "pynvvideocodec"})
    assert theirs.returncode == 0, theirs.explain()

    calls, their_calls = ours.calls("cuvidParseVideoData"), theirs.calls("cuvidParseVideoData")
    pictures = container_pts(path)
    assert len(calls) == len(pictures) + 1, "one call per packet, then the end-of-stream flush"
    # Same flags and timestamps for every call; same payload except that ours repeats the
    # parameter sets before each key frame (decode_nvdec.NVDEC_CODECS, for seeks into open GOPs).
    assert [(c["flags"], c["timestamp"]) for c in calls] == [(c["flags"], c["timestamp"]) for c in their_calls]
    codec = ours.value["codec"]
    keys = [key for _, key in ours.value["payloads"]]
    assert keys == [key for _, key in theirs.value["payloads"]]
    for (mine, key), (their, _) in zip(ours.value["payloads"], theirs.value["payloads"]):
        mine, their = bytes.fromhex(mine), bytes.fromhex(their)
        if mine == their:
            continue
        assert key and codec in PARAMETER_SETS and mine.endswith(their), "only key frames may differ"
        assert set(nal_types(mine[: len(mine) - len(their)], codec)) <= PARAMETER_SETS[codec]
    for call, (mine, _) in zip(calls, ours.value["payloads"]):
        assert int(call["size"]) == len(mine) // 2  # the parser got our bytes, all of them
    assert (int(calls[-1]["flags"], 16) & 1, calls[-1]["size"]) == (1, "0")  # CUVID_PKT_ENDOFSTREAM
    assert all(int(c["flags"], 16) & 2 for c in calls[:-1])  # CUVID_PKT_TIMESTAMP on every picture

    # every picture comes back, in presentation order, stamped with the container's PTS
    assert ours.value["pts"] == pictures
    assert theirs.value["pts"] == pictures
    expected_codec = name.split(".")[0].upper()
    assert ours.value["codec"] == expected_codec
    assert {c["codec"] for c in ours.calls("cuvidCreateVideoParser")} == {
        str({"H264": 4, "HEVC": 8, "AV1": 11}[expected_codec])}


def test_each_surface_is_copied_out_before_it_is_unmapped(run_nvc: Any, media: Any) -> None:
    """NVDEC's mapped surface may be reused once unmapped: the copy out of it must have finished
    by then. On stream 0 PyNvVideoCodec synchronizes between the copy and the unmap; on a
    caller's stream it did not (only an event was recorded), and reelgpu passed its own."""
    result = run_nvc(FEED, args={"path": str(media("h264.mp4")), "feed": "project"})
    assert result.returncode == 0, result.explain()
    events = [line.split()[0] for line in result.log
              if line.split()[0] in ("cuMemcpy2DAsync", "cuStreamSynchronize", "cuvidUnmapVideoFrame")]
    unmaps = [i for i, name in enumerate(events) if name == "cuvidUnmapVideoFrame"]
    assert unmaps, result.explain()
    for i in unmaps:  # the calls since the last unmap: copies, then a synchronize, then this unmap
        before = events[:i]
        last_copy = max(j for j, name in enumerate(before) if name == "cuMemcpy2DAsync")
        assert "cuStreamSynchronize" in before[last_copy:], events[max(0, i - 6):i + 1]
    copies = result.calls("cuMemcpy2DAsync")
    assert {c["stream"] for c in copies} == {"0"}
