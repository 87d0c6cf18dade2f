"""NvencWriter on an NVENC GPU: playable MP4 with the right frames, PTS, tags and audio."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from reelgpu.media.audio_feed import PassthroughAudio
from reelgpu.media.decode_cpu import PyAVVideoSource
from reelgpu.media.probe import top_level_atoms
from reelgpu.specs import EncodeSettings
from tests.gpu._parity import psnr

pytestmark = pytest.mark.nvenc


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_nvenc_roundtrip(gpu: Any, sample_30: Path, tmp_path: Path, codec: str) -> None:
    from reelgpu.media.encode_nvenc import NvencWriter

    src = PyAVVideoSource(sample_30)
    frames = [tuple(np.array(p) for p in f.planes) for f in src]
    src.close()
    dst = tmp_path / f"nvenc_{codec}.mp4"
    writer = NvencWriter(dst, width=320, height=180, fps=Fraction(30), encode=EncodeSettings(codec=codec, cq=19),
                         audio=PassthroughAudio(sample_30))
    try:
        for planes in frames:
            writer.write(gpu.to_device(planes))
        writer.close()
    except BaseException:
        writer.abort()
        raise
    assert writer.backend == f"{codec}_nvenc" and writer.frames == 60
    atoms = top_level_atoms(dst)
    assert atoms.index("moov") < atoms.index("mdat")
    assert not any(".partial" in p.name for p in tmp_path.iterdir())
    with av.open(str(dst)) as c:
        s = c.streams.video[0]
        assert c.streams.audio, "audio was not muxed"
        cc = s.codec_context
        assert (cc.color_primaries, cc.color_trc, cc.colorspace) == (1, 1, 1)
        decoded = list(c.decode(s))
    assert len(decoded) == 60
    assert [round(float(f.pts * s.time_base) * 30) for f in decoded] == list(range(60))
    for f, ref in zip(decoded, frames):
        y = np.frombuffer(f.planes[0], np.uint8).reshape(-1, f.planes[0].line_size)[:180, :320]
        assert psnr(y, ref[0]) >= 38.0


def test_abort_leaves_nothing(gpu: Any, tmp_path: Path) -> None:
    from reelgpu.media.encode_nvenc import NvencWriter

    writer = NvencWriter(tmp_path / "x.mp4", width=64, height=64, fps=Fraction(25), encode=EncodeSettings())
    writer.abort()
    assert list(tmp_path.iterdir()) == []
