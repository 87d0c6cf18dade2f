"""``NvdecVideoSource`` itself, its decoding loop run against the real PyNvVideoCodec 2.2.4 binary.

Only the two GPU-bound pieces are replaced (``_attach_gpu``: no CuPy stream, a recording fake
backend; ``_planes``: no kernels), so what runs is the source's own code: opening, the seek,
the Annex B feed, the end-of-stream flush, the wait before each ``Decode`` for the kernels that
read the previous output, the error mapping, and ``close()`` from another thread.
"""

from __future__ import annotations

from typing import Any

import pytest

from reelgpu.media.decode_cpu import PyAVVideoSource

SOURCE = """
import threading
from reelgpu.media.decode_nvdec import NvdecVideoSource

log = []  # the source's calls into the (fake) backend, interleaved with its Decode calls

class Event:
    def __init__(self, n):
        self.n = n
    def synchronize(self):
        log.append(["sync", self.n])

class Backend:  # what the source uses of reelgpu.ops.cuda's backend
    class stream:
        ptr = 0x5EED000
    n = 0
    def record(self):
        Backend.n += 1
        log.append(["record", Backend.n])
        return Event(Backend.n)

class Source(NvdecVideoSource):
    def _attach_gpu(self):
        self._nvc, self._b = nvc, Backend()
    def _planes(self, frame):
        log.append(["planes"])
        return None
    def _decode(self, packet):
        log.append(["decode"])
        return super()._decode(packet)

src = Source(ARGS["path"], start_s=ARGS.get("start_s", 0.0))
pts, outcome = [], None
try:
    for i, frame in enumerate(src):
        pts.append(frame.pts_s)
        if ARGS.get("close_after") == i + 1:
            threading.Thread(target=src.close).start()  # the pipeline stopping its decoder thread
            threading.Event().wait(0.2)
except Exception as exc:
    outcome = [type(exc).__name__, type(exc).__module__, str(exc)]
emit({"pts": pts, "log": log, "outcome": outcome, "closed": src._closed, "decoder": src._decoder is None})
"""


def cpu_pts(path: str, start_s: float = 0.0) -> list[float]:
    src = PyAVVideoSource(path, start_s=start_s)
    try:
        return [f.pts_s for f in src]
    finally:
        src.close()


@pytest.mark.parametrize("name", ["h264.mp4", "h264.ts", "hevc.mkv", "av1.mp4"])
@pytest.mark.parametrize("start_s", [0.0, 0.6])
def test_same_frames_and_times_as_the_cpu_source(run_nvc: Any, media: Any, name: str, start_s: float) -> None:
    path = str(media(name))
    result = run_nvc(SOURCE, args={"path": path, "start_s": start_s})
    assert result.returncode == 0, result.explain()
    assert result.value["outcome"] is None, result.value["outcome"]
    assert result.value["pts"] == pytest.approx(cpu_pts(path, start_s), abs=1e-6)
    assert result.value["closed"] and result.value["decoder"]  # released at the end
    assert result.calls("cuvidParseVideoData")[-1]["size"] == "0"  # the flush was sent


def test_each_decode_waits_for_the_kernels_that_read_the_last_output(run_nvc: Any, media: Any) -> None:
    result = run_nvc(SOURCE, args={"path": str(media("h264.mp4"))})
    assert result.returncode == 0, result.explain()
    log = [tuple(entry) for entry in result.value["log"]]
    last_planes = max(i for i, entry in enumerate(log) if entry == ("planes",))
    batch_events: list[int] = []
    for i, entry in enumerate(log[: last_planes + 2]):
        if entry[0] == "record":  # one event per batch, recorded after its conversions
            assert log[i - 1] == ("planes",)
            batch_events.append(entry[1])
        if entry == ("decode",) and batch_events:
            assert ("sync", batch_events[-1]) in log[:i], "Decode ran before the last batch's kernels were done"
    # at the end: one wait for everything queued, and close() waits for the last batch's event
    tail = log[last_planes + 2:]
    final = batch_events[-1] + 1
    assert ("record", final) in tail and ("sync", final) in tail and ("sync", batch_events[-1]) in tail


def test_close_from_another_thread_ends_the_iteration(run_nvc: Any, media: Any) -> None:
    result = run_nvc(SOURCE, args={"path": str(media("h264.mp4")), "close_after": 3})
    assert result.returncode == 0, result.explain()
    assert result.value["outcome"] is None, result.value["outcome"]
    assert 3 <= len(result.value["pts"]) < len(cpu_pts(str(media("h264.mp4"))))
    assert result.value["closed"] and result.value["decoder"]


def test_unsupported_streams_and_decode_failures(run_nvc: Any, media: Any) -> None:
    path = str(media("h264.mp4"))
    unsupported = run_nvc(SOURCE, args={"path": path}, env={"PYNVVC_STUB_NVDEC_UNSUPPORTED": "1"})
    assert unsupported.returncode == 0, unsupported.explain()
    name, module, message = unsupported.value["outcome"]
    assert (name, module) == ("NvdecRefused", "reelgpu.errors") and "use device='cpu'" in message
    # A failed picture is the GPU's or the driver's failure, not the file's: it goes up as it is
    # (the handler answers INTERNAL and asks RunPod for a fresh worker).
    failed = run_nvc(SOURCE, args={"path": path}, env={"PYNVVC_STUB_FAIL_DECODE_AT": "5"})
    assert failed.returncode == 0, failed.explain()
    name, module, _ = failed.value["outcome"]
    assert (name, module) == ("PyNvVCException", "_PyNvVideoCodec")
    assert failed.value["closed"] and failed.value["decoder"]
