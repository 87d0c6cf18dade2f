"""Stream copy into a new MP4 with ``+faststart`` (no re-encode): the overlay's no-op path."""

from __future__ import annotations

from pathlib import Path

import av

from ..errors import CorruptMedia
from .atomic import published
from .probe import open_media


def remux_faststart(src: str | Path, dst: str | Path, *, include_audio: bool = True) -> Path:
    """Copy the first video (and audio) stream's packets bit-exactly; publish atomically."""
    dst = Path(dst)
    try:
        with published(dst) as tmp, open_media(src) as inp, \
                av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            streams = [inp.streams.video[0]]
            if include_audio and inp.streams.audio:
                streams.append(inp.streams.audio[0])
            mapping = {s.index: out.add_stream_from_template(s) for s in streams}
            for packet in inp.demux(streams):
                if packet.dts is None:
                    continue  # demux's end-of-stream flush packets carry no data
                packet.stream = mapping[packet.stream.index]
                out.mux(packet)
    except av.error.FFmpegError as exc:
        raise CorruptMedia(f"{Path(src).name}: stream copy failed ({exc.__class__.__name__})") from None
    return dst
