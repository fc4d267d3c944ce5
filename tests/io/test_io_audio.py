"""Audio carried from a source file into a written video: copied, cut, re-encoded, or absent."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from synthvid.io.video import VideoWriter, probe_video, read_frames

W, H = 64, 48  # the size of the helpers' clips (conftest.py)
FPS, N = 25, 30  # 1.2 s clips
SECONDS = N / FPS


@pytest.fixture(scope="module")
def sources(io_media, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("audio_sources")
    return {
        "aac_mp4": io_media.make_clip(folder / "aac.mp4", n=N, fps=FPS, audio="aac"),
        "pcm_mov": io_media.make_clip(folder / "pcm.mov", n=N, fps=FPS, audio="pcm_s16le"),
        "pcm_mkv_stereo": io_media.make_clip(folder / "pcm.mkv", n=N, fps=FPS, audio="pcm_s16le",
                                             layout="stereo", rate=44100),
        "silent_mp4": io_media.make_clip(folder / "silent.mp4", n=N, fps=FPS),
        "wav": io_media.make_audio_file(folder / "speech.wav", "pcm_s16le", seconds=SECONDS),
    }


def _write(out: Path, n: int = N, **kwargs) -> Path:
    with VideoWriter(out, fps=FPS, width=W, height=H, preset="ultrafast", **kwargs) as writer:
        for i in range(n):
            writer.write(np.full((H, W, 3), 10 + 8 * i, np.uint8))
    return out


def test_sources_are_what_the_tests_think(io_media, sources: dict[str, Path]) -> None:
    assert io_media.audio_track(sources["aac_mp4"])["codec"] == "aac"
    assert io_media.audio_track(sources["pcm_mov"])["codec"] == "pcm_s16le"
    assert io_media.audio_track(sources["pcm_mkv_stereo"])["channels"] == 2
    assert io_media.audio_track(sources["silent_mp4"]) is None
    assert io_media.audio_track(sources["wav"])["seconds"] == pytest.approx(SECONDS, abs=1e-3)


def test_aac_is_copied_whole_and_bit_exact(io_media, sources: dict[str, Path], tmp_path: Path) -> None:
    src = io_media.audio_track(sources["aac_mp4"])
    out = _write(tmp_path / "out.mp4", audio_from=sources["aac_mp4"])
    info = probe_video(out)
    assert info.has_audio and info.audio_codec == "aac" and info.audio_rate == 48000
    assert info.frame_count == N
    got = io_media.audio_track(out)
    assert got["first_time"] == src["first_time"] == 0.0
    # Every packet, the encoder-priming one before t=0 included, is copied: the decoded samples are identical.
    assert np.array_equal(got["samples"], src["samples"])
    assert len(list(read_frames(out))) == N


@pytest.mark.parametrize("source", ["aac_mp4", "pcm_mov"])  # copied packets, and decoded + re-encoded samples
def test_audio_range_is_cut_to_the_right_part(io_media, sources: dict[str, Path], tmp_path: Path, source: str) -> None:
    start, end = 0.4, 0.8
    out = _write(tmp_path / "cut.mp4", n=10, audio_from=sources[source], audio_start=start, audio_end=end)
    got = io_media.audio_track(out)
    assert got["codec"] == "aac"
    assert got["seconds"] == pytest.approx(end - start, abs=0.06)
    assert got["first_time"] == pytest.approx(0.0, abs=0.03)
    # The source's amplitude ramps up with time: the cut's loudness says which part of it was kept.
    rate = got["rate"]
    middle = got["samples"][int(0.1 * rate): int(0.3 * rate)]  # output 0.1-0.3 s = source 0.5-0.7 s
    expected = io_media.ramp_amplitude(start + 0.2, SECONDS) / np.sqrt(2)
    assert io_media.rms(middle) == pytest.approx(expected, rel=0.15)


@pytest.mark.parametrize("source", ["pcm_mov", "pcm_mkv_stereo", "wav"])
def test_pcm_into_mp4_is_reencoded_to_aac(io_media, sources: dict[str, Path], tmp_path: Path, source: str) -> None:
    src = io_media.audio_track(sources[source])
    out = _write(tmp_path / "out.mp4", audio_from=sources[source])
    got = io_media.audio_track(out)
    assert got["codec"] == "aac"
    assert got["rate"] == src["rate"]
    assert got["channels"] == src["channels"]
    assert got["seconds"] == pytest.approx(src["seconds"], abs=0.06)
    assert io_media.rms(got["samples"]) == pytest.approx(io_media.rms(src["samples"]), rel=0.1)


def test_pcm_into_mov_is_copied(io_media, sources: dict[str, Path], tmp_path: Path) -> None:
    out = _write(tmp_path / "out.mov", audio_from=sources["pcm_mov"])
    got = io_media.audio_track(out)
    assert got["codec"] == "pcm_s16le"
    assert got["seconds"] == pytest.approx(SECONDS, abs=0.03)


def test_aac_into_mkv_is_copied(io_media, sources: dict[str, Path], tmp_path: Path) -> None:
    out = _write(tmp_path / "out.mkv", audio_from=sources["aac_mp4"])
    assert io_media.audio_track(out)["codec"] == "aac"
    assert probe_video(out).has_audio


def test_source_without_audio_gives_output_without_audio(sources: dict[str, Path], tmp_path: Path) -> None:
    out = _write(tmp_path / "out.mp4", audio_from=sources["silent_mp4"])
    info = probe_video(out)
    assert not info.has_audio and info.audio_codec is None
    assert info.frame_count == N


def test_cut_past_the_end_of_the_audio_gives_no_audio(io_media, sources: dict[str, Path], tmp_path: Path) -> None:
    out = _write(tmp_path / "out.mp4", n=5, audio_from=sources["aac_mp4"], audio_start=5.0)
    assert probe_video(out).frame_count == 5
    track = io_media.audio_track(out)
    assert track is None or track["seconds"] < 0.05


def test_audio_and_video_are_interleaved(sources: dict[str, Path], tmp_path: Path) -> None:
    """Audio packets are spread through the file, not all after the video (players that stream need that)."""
    out = _write(tmp_path / "out.mp4", audio_from=sources["pcm_mov"])
    with av.open(str(out)) as container:
        order = [p.stream.type for p in container.demux() if p.size]
    audio_positions = [i for i, kind in enumerate(order) if kind == "audio"]
    video_positions = [i for i, kind in enumerate(order) if kind == "video"]
    assert audio_positions and video_positions
    assert audio_positions[0] < video_positions[-1] and video_positions[0] < audio_positions[-1]


@pytest.mark.parametrize(("codec", "suffix", "start"), [("aac", ".mp4", 0.0), ("aac", ".mp4", 0.33),
                                                        ("pcm_s16le", ".mov", 0.0), ("pcm_s16le", ".mov", 0.33),
                                                        ("pcm_s16le", ".wav", 0.33)])
def test_audio_stays_in_sync_with_the_video(io_media, tmp_path: Path, codec: str, suffix: str, start: float) -> None:
    """A burst at source time 0.6 s must sound at output time 0.6 s - start (the frames also start at ``start``)."""
    if suffix == ".wav":
        source = io_media.make_audio_file(tmp_path / "src.wav", codec, seconds=SECONDS, signal=io_media.burst_signal)
    else:
        source = io_media.make_clip(tmp_path / f"src{suffix}", n=N, fps=FPS, audio=codec,
                                    signal=io_media.burst_signal)
    assert io_media.burst_time(io_media.audio_track(source)) == pytest.approx(0.6, abs=0.002)
    out = _write(tmp_path / "out.mp4", n=20, audio_from=source, audio_start=start, audio_end=start + 0.8)
    got = io_media.audio_track(out)
    # Re-encoded (PCM) audio is cut to the sample; copied AAC to the packet, with its timestamps still exact.
    assert io_media.burst_time(got) == pytest.approx(0.6 - start, abs=0.005)


@pytest.mark.parametrize(("codec", "out_suffix"), [("pcm_s16le", ".mp4"), ("pcm_s16le", ".mov"), ("aac", ".mp4")])
@pytest.mark.parametrize("start", [0.0, 0.1, 0.3])
def test_audio_that_starts_late_stays_late(io_media, tmp_path: Path, codec: str, out_suffix: str,
                                           start: float) -> None:
    """Source audio that begins 0.2 s after the video keeps that offset (re-encoded and copied alike)."""
    source = io_media.make_clip(tmp_path / "src.mov", n=N, fps=FPS, audio=codec, audio_seconds=0.8,
                                signal=lambda s, r: io_media.burst_signal(s, r, at=0.4), audio_delay=0.2)
    assert io_media.burst_time(io_media.audio_track(source)) == pytest.approx(0.6, abs=0.002)
    out = _write(tmp_path / f"out{out_suffix}", n=20, audio_from=source, audio_start=start, audio_end=start + 0.8)
    got = io_media.audio_track(out)
    assert io_media.burst_time(got) == pytest.approx(0.6 - start, abs=0.005)
