"""NVDEC failures reach Python on the core decode path, and end the process on ThreadedDecoder's.

``reelgpu.media.decode_nvdec`` decodes with ``CreateDecoder``/``Decode`` on the calling thread
and maps ``nvc.PyNvVCExceptionUnsupported`` to ``NvdecRefused`` (an ``UnsupportedMedia``;
``device="auto"`` renders again on the CPU); any other ``nvc.PyNvVCException`` is the GPU's or
the driver's failure (NVDEC conceals damaged slices rather than failing a picture) and goes up
as it is, where ``handler.errors.needs_fresh_worker`` recognises it by its module. Two injected failures: the stub's capability answer "unsupported"
(what a GPU says to a profile or size it cannot decode) and a failing ``cuvidDecodePicture``.
"""

from __future__ import annotations

import signal
from typing import Any

import pytest

# The project's feed (see test_decode_feed.py), reporting the first exception and where it came from.
CORE = """
import av
from handler.errors import needs_fresh_worker
from reelgpu.media.decode_nvdec import annexb_packets, open_nvdec, packet_data

stage, frames = "CreateDecoder", 0
try:
    decoder = open_nvdec(nvc, "h264", gpu_id=0)
    stage = "Decode"
    with av.open(ARGS["path"]) as container:
        stream = container.streams.video[0]
        for packet in list(annexb_packets(stream, container.demux(stream))) + [None]:
            pd, keep_alive = packet_data(nvc, packet)
            frames += len(decoder.Decode(pd))
    emit({"raised": None, "frames": frames})
except Exception as exc:
    emit({"raised": type(exc).__name__, "module": type(exc).__module__, "stage": stage, "message": str(exc),
          "frames": frames, "is_unsupported": isinstance(exc, nvc.PyNvVCExceptionUnsupported),
          "is_pynvvc": isinstance(exc, nvc.PyNvVCException), "fresh_worker": needs_fresh_worker(exc)})
"""

THREADED = """
decoder = nvc.ThreadedDecoder(ARGS["path"], 12, gpu_id=0, cuda_context=0, cuda_stream=0x5EED000,
                              use_device_memory=True, start_frame=0)
frames = 0
try:
    while True:
        batch = decoder.get_batch_frames(4)
        if not batch:
            break
        frames += len(batch)
    emit({"raised": None, "frames": frames})
except BaseException as exc:
    emit({"raised": type(exc).__name__, "frames": frames})
decoder.end()
"""

UNSUPPORTED = {"PYNVVC_STUB_NVDEC_UNSUPPORTED": "1"}
BAD_PICTURE = {"PYNVVC_STUB_FAIL_DECODE_AT": "5"}


def test_clean_decode(run_nvc: Any, media: Any) -> None:
    """The control: without an injected failure every picture comes back."""
    result = run_nvc(CORE, args={"path": str(media("h264.mp4"))})
    assert result.returncode == 0, result.explain()
    assert result.value == {"raised": None, "frames": 30}


def test_unsupported_stream_raises_pynvvc_unsupported(run_nvc: Any, media: Any) -> None:
    result = run_nvc(CORE, args={"path": str(media("h264.mp4"))}, env=UNSUPPORTED)
    assert result.returncode == 0, result.explain()
    out = result.value
    # CreateDecoder does not ask; the parser's sequence callback does, on the first packet.
    assert (out["raised"], out["stage"], out["frames"]) == ("PyNvVCExceptionUnsupported", "Decode", 0)
    assert "not supported" in out["message"]
    # decode_nvdec catches this class first (-> NvdecRefused: "auto" renders again on the CPU)
    assert out["is_unsupported"] and not out["is_pynvvc"]
    assert out["module"] == "_PyNvVideoCodec" and out["fresh_worker"] is True


def test_failed_picture_raises_pynvvc_exception(run_nvc: Any, media: Any) -> None:
    result = run_nvc(CORE, args={"path": str(media("h264.mp4"))}, env=BAD_PICTURE)
    assert result.returncode == 0, result.explain()
    out = result.value
    assert (out["raised"], out["stage"]) == ("PyNvVCException", "Decode")
    assert "cuvidDecodePicture" in out["message"]
    assert out["frames"] < 30
    assert out["is_pynvvc"] and not out["is_unsupported"]  # decode_nvdec lets it go up as it is
    assert out["module"] == "_PyNvVideoCodec" and out["fresh_worker"] is True
    assert result.calls("cuvidDecodePicture") == [  # the injected failure is the one that fired
        {"picture": "5", "result": "CUDA_ERROR_INVALID_VALUE", "injected": "1"}]


@pytest.mark.parametrize("failure", [UNSUPPORTED, BAD_PICTURE], ids=["unsupported", "bad-picture"])
def test_threaded_decoder_aborts_the_process(run_nvc: Any, media: Any, failure: dict[str, str]) -> None:
    """Why the project does not use ThreadedDecoder: the same failures, raised on its C++ decode
    thread, call std::terminate. Nothing in Python can catch that; the worker dies with SIGABRT."""
    result = run_nvc(THREADED, args={"path": str(media("h264.mp4"))}, env=failure)
    assert result.returncode == -signal.SIGABRT, result.explain()
    assert "terminate called after throwing" in result.stderr
    assert "@@pynvvc-result@@" not in result.stdout  # not even the except clause ran


def test_threaded_decoder_without_failure(run_nvc: Any, media: Any) -> None:
    """The control for the abort test: the same snippet decodes every picture when nothing fails.

    Up to three tries: under load, ThreadedDecoder's own threads have also corrupted the heap
    with nothing injected ("malloc(): unaligned tcache chunk detected", SIGABRT, once in a full
    suite on 2 busy cores; the stubs write no host memory). One more reason the project does
    not use it; the control only needs it to work when nothing fails."""
    for _ in range(3):
        result = run_nvc(THREADED, args={"path": str(media("h264.mp4"))})
        if result.returncode == 0:
            break
        assert result.returncode in (-signal.SIGABRT, -signal.SIGSEGV), result.explain()  # its race, not ours
    assert result.returncode == 0, result.explain()
    assert result.value == {"raised": None, "frames": 30}
