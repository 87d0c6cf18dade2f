"""The output-length limits (``max_output_duration_s``, ``max_output_frames``) of every export,
checked once the inputs are probed and before the frame schedule is built."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import reelgpu
from reelgpu import LimitExceeded, Limits
from reelgpu.exports import annotate as annotate_module
from reelgpu.exports import framing as framing_module

TARGET = {"target_width": 90, "target_height": 160}


@pytest.fixture(autouse=True)
def _no_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building the schedule is the heavy step the limits protect: it must not be reached."""
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the frame schedule was built before the output length was checked")

    monkeypatch.setattr(framing_module, "schedule", refuse)
    monkeypatch.setattr(annotate_module, "schedule", refuse)


@pytest.mark.parametrize(("kind", "params", "limits", "needle"), [
    # 200 clips of a 2 s source at 1x: no speed segment, so the params alone bound nothing.
    ("framing", {"clips": [{}] * 200, **TARGET}, Limits(max_output_duration_s=60),
     "output duration of params.clips (s) is 400, over the limit of 60 (max_output_duration_s)"),
    # Slow motion plus the clip's 1x rest: the params alone bound only the slowed 20 s (under 20.5).
    ("framing", {"clips": [{"segment_data": {"segments": [{"start": 0, "end": 1, "speed": 0.05}]}}], **TARGET},
     Limits(max_output_duration_s=20.5), "output duration of params.clips (s) is 21, over the limit of 20.5"),
    # Hopeless from the params alone: refused before the source is even probed.
    ("framing", {"clips": [{"segment_data": {"segments": [{"start": 0, "end": 2, "speed": 1e-9}]}}], **TARGET},
     Limits(), "output duration of params.clips[].segment_data.segments (s) is 2e+09"),
    ("framing", {"clips": [{}], "fps": 240, **TARGET}, Limits(max_output_frames=100),
     "output frames of params.clips is 480, over the limit of 100 (max_output_frames)"),
    ("annotate", {"clips": [{"start_time": 0, "end_time": 2}] * 40}, Limits(max_output_duration_s=60),
     "output duration of params.clips (s) is 80"),
    ("annotate", {"clips": [{"start_time": 0, "end_time": 2, "rating": 5}] * 4, "mode": "clips"},
     Limits(max_output_frames=200), "output frames of params.clips is 240"),
    ("overlay", {}, Limits(max_output_duration_s=1), "the overlay of s30.mp4 (s) is 2"),
])
def test_long_outputs_are_refused_before_rendering(sample_30: Path, tmp_path: Path, kind: str,
                                                   params: dict[str, Any], limits: Limits, needle: str) -> None:
    with pytest.raises(LimitExceeded) as err:
        getattr(reelgpu, kind)(sample_30, tmp_path / "out.mp4", params, device="cpu", limits=limits)
    assert needle in str(err.value)
    assert not any(tmp_path.iterdir())  # nothing written, not even a partial file



def test_clips_mode_checks_every_clips_size_before_the_first_renders(sample_video: Path, sample_30: Path,
                                                                    tmp_path: Path) -> None:
    # 160x96 first, 320x180 second: in clips mode each file has its own video's size, so the
    # second one's width is over a 200 px limit. It was found only after clip 0 was rendered.
    spec = {"mode": "clips", "input_keys": {"2": "big"}, "clips": [
        {"start_time": 0, "end_time": 0.5, "rating": 5}, {"start_time": 0, "end_time": 0.5, "rating": 5, "video_sequence": 2}]}
    with pytest.raises(LimitExceeded, match=r"output width is 320, over the limit of 200 \(max_output_width\)"):
        reelgpu.annotate(sample_video, tmp_path / "clips", spec, sources={"big": sample_30}, device="cpu",
                         limits=Limits(max_output_width=200))
    assert not any(tmp_path.iterdir())
