"""Audio feeds. PassthroughAudio: the audio packet copy opens inputs like every other reader,
and a source whose packets cannot be copied is the source's fault (CORRUPT_MEDIA), not a bug.
TranscodedAudio: a whole source's audio streamed into AAC, as the in-memory path would make it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from reelgpu.errors import CorruptMedia
from reelgpu.media.audio import RATE, fit_length, read_audio
from reelgpu.media.audio_feed import EncodedAudio, PassthroughAudio, TranscodedAudio


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


def _encode_alone(feed, dst: Path, seconds: float, step_s: float = 1 / 30) -> np.ndarray:
    """``feed`` muxed as the writer does (a step per video frame), decoded back: (2, n) samples."""
    with av.open(str(dst), "w", format="mp4") as out:
        feed.attach(out)
        t = 0.0
        while t < seconds:
            t += step_s
            feed.mux_until(out, t)
        feed.finish(out)
    with av.open(str(dst)) as back:
        return np.concatenate([f.to_ndarray() for f in back.decode(audio=0)], axis=1)


@pytest.fixture(scope="module")
def pcm_source(sample_30: Path, tmp_path_factory: pytest.TempPathFactory, ffmpeg: str) -> Path:
    """sample_30 (440 Hz) with its audio as 44.1 kHz PCM: resampled on the way, as MP3s are."""
    dst = tmp_path_factory.mktemp("pcm") / "pcm.mov"
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-i", str(sample_30), "-c:v", "copy", "-c:a", "pcm_s16le",
                    "-ar", "44100", str(dst)], check=True)
    return dst


def test_transcoded_matches_the_in_memory_path(pcm_source: Path, tmp_path: Path) -> None:
    streamed = _encode_alone(TranscodedAudio(pcm_source, 2.0, 192_000), tmp_path / "s.mp4", 2.0)
    whole = fit_length(read_audio(pcm_source, 0.0, 2.0), int(2.0 * RATE))
    in_memory = _encode_alone(EncodedAudio(whole, 192_000), tmp_path / "m.mp4", 2.0)
    assert streamed.shape == in_memory.shape and abs(streamed.shape[1] - 2 * RATE) <= 1024
    # The same sound, at most 0.5 ms apart: read_audio places each resampled chunk at its frame's
    # timestamp, leaving the resampler's delay as a few zero samples after the first chunk; the
    # stream takes such small offsets as contiguous.
    inner = slice(4800, 4800 + 80_000)
    best = min(np.abs(streamed[:, inner] - np.roll(in_memory, -lag, axis=1)[:, inner]).max() for lag in range(-24, 25))
    assert best < 0.05  # AAC noise; a wrong or missing stretch of the 0.3-amplitude tone is ~0.3


def test_transcoded_streams_instead_of_decoding_everything(pcm_source: Path, tmp_path: Path) -> None:
    feed = TranscodedAudio(pcm_source, 2.0, 192_000)
    with av.open(str(tmp_path / "a.mp4"), "w", format="mp4") as out:
        feed.attach(out)
        feed.mux_until(out, 0.5)
        decoded = feed._encoder_pos() + feed._buffered
        assert 0.5 * RATE <= decoded < 0.5 * RATE + 8192  # half a second, plus one source frame
        feed.finish(out)


@pytest.mark.parametrize("seconds", [1.0, 3.0])
def test_transcoded_is_cut_or_padded_to_the_video(pcm_source: Path, tmp_path: Path, seconds: float) -> None:
    """The source has 2 s: a 1 s video cuts it, a 3 s one gets a second of silence."""
    got = _encode_alone(TranscodedAudio(pcm_source, seconds, 192_000), tmp_path / "a.mp4", seconds)
    assert abs(got.shape[1] - seconds * RATE) <= 1024
    if seconds > 2:
        assert np.abs(got[:, int(2.1 * RATE):]).max() < 1e-3 < np.abs(got[:, : int(1.9 * RATE)]).max()


def test_a_timestamp_jump_is_not_filled_with_an_hour_of_silence(tmp_path: Path) -> None:
    """Audio whose timestamps jump an hour ahead after 1 s (a damaged or hostile upload), then
    runs on for 20 s: the silence stops at the video's end instead of being allocated whole
    (1.4 GB), and the audio after the jump is read only for 5 s, not to the end (hours of it
    cost minutes of decoding)."""
    from fractions import Fraction

    src = tmp_path / "jump.mkv"
    with av.open(str(src), "w") as out:
        video = out.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        sound = out.add_stream("pcm_s16le", rate=RATE)
        sound.layout = "stereo"
        for i in range(60):
            frame = av.VideoFrame.from_ndarray(np.zeros((120, 160, 3), np.uint8), format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        for k in range(0, 21 * RATE, 1024):
            chunk = av.AudioFrame.from_ndarray(np.full((1, 2 * 1024), 1000, np.int16), format="s16", layout="stereo")
            chunk.sample_rate, chunk.time_base = RATE, Fraction(1, RATE)
            chunk.pts = k if k < RATE else k + 3600 * RATE
            for packet in sound.encode(chunk):
                out.mux(packet)
        for packet in sound.encode(None):
            out.mux(packet)
    feed = TranscodedAudio(src, 2.0, 128_000)
    pulled = [0]
    frames = feed._frames

    def counted() -> Any:
        for frame in frames:
            pulled[0] += frame.samples
            yield frame

    feed._frames = counted()
    held = []
    with av.open(str(tmp_path / "a.mp4"), "w", format="mp4") as out:
        feed.attach(out)
        for i in range(60):
            feed.mux_until(out, (i + 1) / 30)
            held.append(feed._encoder_pos() + feed._buffered)
        feed.finish(out)
    assert max(held) <= 2 * RATE + 8192  # never much more than the video's 2 s
    assert 6 * RATE <= pulled[0] <= 7 * RATE  # 1 s before the jump, 5 s after it; not the 20 s
    with av.open(str(tmp_path / "a.mp4")) as back:
        got = np.concatenate([f.to_ndarray() for f in back.decode(audio=0)], axis=1)
    assert abs(got.shape[1] - 2 * RATE) <= 1024
    assert np.abs(got[:, int(0.1 * RATE):int(0.9 * RATE)]).min() > 0.01 > np.abs(got[:, int(1.1 * RATE):]).max()
