"""PassthroughAudio: the audio packet copy opens inputs like every other reader, and a source
whose packets cannot be copied is the source's fault (CORRUPT_MEDIA), not a bug."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from reelgpu.errors import CorruptMedia
from reelgpu.media.audio_feed import PassthroughAudio


def _copy_all(feed: PassthroughAudio, dst: Path) -> int:
    with av.open(str(dst), "w", format="mp4") as out:
        feed.attach(out)
        feed.finish(out)
    with av.open(str(dst)) as check:
        return sum(1 for p in check.demux(check.streams.audio[0]) if p.size)


def test_copies_the_audio_of_a_video(sample_30: Path, tmp_path: Path) -> None:
    assert _copy_all(PassthroughAudio(sample_30), tmp_path / "a.mp4") > 50  # 2 s of AAC: ~94 packets


@pytest.mark.parametrize("name", ["list.m3u8", "list.mp4"])
def test_a_playlist_naming_another_file_is_refused(sample_30: Path, tmp_path: Path, name: str) -> None:
    """An HLS playlist opened with a plain ``av.open`` reads the local file it names (another
    job's input, say): the whitelists of ``open_media`` refuse the HLS demuxer, whatever the name."""
    playlist = tmp_path / name
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:2,\n{sample_30}\n#EXT-X-ENDLIST\n")
    with pytest.raises(CorruptMedia, match=name):
        PassthroughAudio(playlist)


def test_a_concat_list_is_refused(sample_30: Path, tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(f"ffconcat version 1.0\nfile '{sample_30}'\n")
    with pytest.raises(CorruptMedia):
        PassthroughAudio(listing)


def test_a_video_without_audio_is_a_clean_error(sample_noaudio: Path) -> None:
    with pytest.raises(CorruptMedia, match="no audio stream"):
        PassthroughAudio(sample_noaudio)


def test_packets_the_muxer_refuses_are_corrupt_media(sample_30: Path, tmp_path: Path) -> None:
    """Timestamps going backwards (a forged source) make FFmpeg's muxer raise; that error names
    the source instead of escaping as an INTERNAL error."""
    feed = PassthroughAudio(sample_30)
    packets = list(feed._packets)
    feed._packets = iter(packets[:10] + packets[:10])  # the same DTS again: not monotonic
    with pytest.raises(CorruptMedia, match=r"s30\.mp4: its audio packets cannot be copied"):
        _copy_all(feed, tmp_path / "a.mp4")
