"""Video reading and writing: round trips, frame ranges, rotation, damaged and hostile files, writer checks."""

from __future__ import annotations

import gc
import tracemalloc
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from synthvid.errors import InputError, OutputError
from synthvid.io.video import (
    VideoReader,
    VideoWriter,
    probe_video,
    read_frames,
    read_metadata,
)

W, H = 64, 48  # the size of the helpers' clips (conftest.py)
NTSC = Fraction(30000, 1001)


def assert_one_line_naming(error: pytest.ExceptionInfo, path: Path) -> None:
    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message or path.name in message, message


@pytest.fixture(scope="module")
def levels_clip(io_media, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 frames, frame i a flat grey of level 10 + 8 i (written with synthvid's own writer)."""
    path = tmp_path_factory.mktemp("levels") / "levels.mp4"
    with VideoWriter(path, fps=25, width=W, height=H) as writer:
        for i in range(30):
            writer.write(io_media.level_frame(i))
    return path


# --- round trips ---------------------------------------------------------------------------------------------


def test_round_trip_fractional_fps_odd_size_pads_to_even(io_media, tmp_path: Path) -> None:
    width, height, n = 65, 49, 12
    frames = [io_media.smooth_frame(i, width, height, seed=3) for i in range(n)]
    path = tmp_path / "odd.mp4"
    with VideoWriter(path, fps=NTSC, width=width, height=height) as writer:
        assert (writer.stored_width, writer.stored_height) == (66, 50)
        for frame in frames:
            writer.write(frame)
    assert writer.frames_written == n

    info = probe_video(path)
    assert (info.width, info.height) == (66, 50)  # the stored size: odd sizes come back padded
    assert info.fps_fraction == NTSC
    assert info.fps == pytest.approx(29.97003, abs=1e-5)
    assert info.frame_count == n
    assert info.duration == pytest.approx(n * 1001 / 30000, abs=1e-3)
    assert (info.rotation, info.mirrored, info.codec, info.has_audio) == (0, False, "h264", False)

    with VideoReader(path) as reader:
        got = list(reader)
    assert reader.frames_read == n and not reader.truncated
    assert all(g.shape == (50, 66, 3) and g.dtype == np.uint8 and g.flags.c_contiguous for g in got)
    for original, decoded in zip(frames, got, strict=False):
        assert io_media.psnr(original, decoded[:height, :width]) > 30
        # The padding repeats the last column/row.
        assert np.abs(decoded[:height, width].astype(int) - decoded[:height, width - 1]).mean() < 4
        assert np.abs(decoded[height, :width].astype(int) - decoded[height - 1, :width]).mean() < 4


@pytest.mark.parametrize("suffix", [".mkv", ".mov"])
def test_round_trip_other_containers_keep_count_rate_and_tags(io_media, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"clip{suffix}"
    with VideoWriter(path, fps=NTSC, width=W, height=H, metadata={"synthvid_job": "t.roundtrip"}) as writer:
        for i in range(10):
            writer.write(io_media.level_frame(i))
    info = probe_video(path)
    assert info.fps_fraction == NTSC
    assert info.frame_count == 10
    assert [io_media.decode_level(f) for f in read_frames(path)] == list(range(10))
    assert read_metadata(path)["synthvid_job"] == "t.roundtrip"


@pytest.mark.parametrize(("fps", "expected"), [(29.97, NTSC), (23.976, Fraction(24000, 1001)), (25.0, Fraction(25)),
                                               (12.5, Fraction(25, 2)), (30, Fraction(30))])
def test_float_frame_rates_become_exact(io_media, tmp_path: Path, fps: float, expected: Fraction) -> None:
    path = tmp_path / "rate.mp4"
    with VideoWriter(path, fps=fps, width=W, height=H) as writer:
        for i in range(3):
            writer.write(io_media.level_frame(i))
    assert probe_video(path).fps_fraction == expected


def test_reader_of_a_foreign_clip(io_media, tmp_path: Path) -> None:
    """A clip written by plain PyAV (not our writer) reads back frame-exact in count and order."""
    path = io_media.make_clip(tmp_path / "foreign.mp4", n=20, fps=NTSC)
    info = probe_video(path)
    assert (info.width, info.height, info.frame_count, info.fps_fraction) == (W, H, 20, NTSC)
    assert [io_media.decode_level(f) for f in read_frames(path)] == list(range(20))


def test_written_colour_tags_are_bt601_limited(levels_clip: Path) -> None:
    with av.open(str(levels_clip)) as container:
        ctx = container.streams.video[0].codec_context
        assert (ctx.colorspace, ctx.color_range) == (6, 1)  # SMPTE170M matrix, limited range


# --- streaming ranges ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "end"), [(0, None), (0, 1), (0, 5), (7, 12), (25, None), (29, 30), (28, 99)])
def test_reader_range_yields_exactly_those_frames(io_media, levels_clip: Path, start: int, end: int | None) -> None:
    with VideoReader(levels_clip, start=start, end=end) as reader:
        got = [io_media.decode_level(f) for f in reader]
        expected = list(range(start, min(30, end or 30)))
        assert got == expected
        assert reader.frames_read == len(expected)
        assert len(reader) == len(expected)
        assert not reader.truncated


def test_read_frames_generator_matches_reader(io_media, levels_clip: Path) -> None:
    assert [io_media.decode_level(f) for f in read_frames(levels_clip, start=3, end=6)] == [3, 4, 5]


def test_iterating_again_restarts_from_start(io_media, levels_clip: Path) -> None:
    with VideoReader(levels_clip, start=2, end=5) as reader:
        first = [io_media.decode_level(f) for f in reader]
        second = [io_media.decode_level(f) for f in reader]
    assert first == second == [2, 3, 4]


def test_partial_iteration_then_close_is_clean(io_media, levels_clip: Path) -> None:
    reader = VideoReader(levels_clip)
    it = iter(reader)
    assert io_media.decode_level(next(it)) == 0
    reader.close()
    reader.close()
    # A closed reader can still be iterated again from the start (it reopens the file).
    assert [io_media.decode_level(f) for f in reader][:3] == [0, 1, 2]
    reader.close()


def test_pick_yields_only_the_wanted_frames_in_order(io_media, levels_clip: Path) -> None:
    with VideoReader(levels_clip) as reader:
        got = [(i, io_media.decode_level(f)) for i, f in reader.pick([29, 7, 2, 2, 40])]  # 40: past the end
        assert got == [(2, 2), (7, 7), (29, 29)]
        assert reader.frames_read == 3
        assert [i for i, _ in reader.pick([0, 1])] == [0, 1]  # a reader can pick again
    with VideoReader(levels_clip, start=3, end=10) as reader:  # only indices inside the range
        assert [(i, io_media.decode_level(f)) for i, f in reader.pick([1, 5, 12])] == [(5, 5)]
        assert list(reader.pick([])) == []


def test_range_past_the_end_raises(levels_clip: Path) -> None:
    with VideoReader(levels_clip, start=40) as reader, pytest.raises(InputError) as error:
        list(reader)
    assert "30 frames" in str(error.value)
    assert_one_line_naming(error, levels_clip)


@pytest.mark.parametrize(("start", "end"), [(-1, None), (5, 5), (5, 2)])
def test_empty_or_negative_range_raises(levels_clip: Path, start: int, end: int | None) -> None:
    with pytest.raises(InputError) as error:
        VideoReader(levels_clip, start=start, end=end)
    assert_one_line_naming(error, levels_clip)


def test_memory_stays_flat_while_streaming(io_media, tmp_path: Path) -> None:
    width, height, n = 128, 96, 40
    path = tmp_path / "long.mp4"
    with VideoWriter(path, fps=25, width=width, height=height, preset="ultrafast") as writer:
        for i in range(n):
            writer.write(io_media.level_frame(i % 30, width, height))
    frame_bytes = width * height * 3
    gc.collect()
    tracemalloc.start()
    try:
        count = 0
        for _frame in read_frames(path):
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n
    assert peak < 8 * frame_bytes, f"peak {peak} bytes while streaming {n} frames of {frame_bytes} bytes"


# --- rotation ------------------------------------------------------------------------------------------------


def _marked_frame(i: int) -> np.ndarray:
    """Dark frame with a bright red block in the top-left corner and a green one at the bottom-left."""
    frame = np.full((H, W, 3), 40, np.uint8)
    frame[:12, :16] = (250, 40, 40)
    frame[-8:, :8] = (40, 250, 40)
    return frame


@pytest.fixture(scope="module")
def upright_clip(io_media, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return io_media.make_clip(tmp_path_factory.mktemp("rot") / "upright.mp4", n=3, frame=_marked_frame)


ONE, MINUS_ONE, W30 = 0x10000, -0x10000, 0x40000000


@pytest.mark.parametrize(
    ("name", "matrix", "rotation", "mirrored", "expected"),
    [
        # The phone-portrait matrix: displayed turned 90° clockwise; FFmpeg reports -90, i.e. 270 counter-clockwise.
        ("cw90", (0, ONE, 0, MINUS_ONE, 0, 0, H * ONE, 0, W30), 270, False, lambda f: np.rot90(f, -1)),
        ("r180", (MINUS_ONE, 0, 0, 0, MINUS_ONE, 0, W * ONE, H * ONE, W30), 180, False, lambda f: np.rot90(f, 2)),
        ("ccw90", (0, MINUS_ONE, 0, ONE, 0, 0, 0, W * ONE, W30), 90, False, lambda f: np.rot90(f, 1)),
        ("hflip", (MINUS_ONE, 0, 0, 0, ONE, 0, W * ONE, 0, W30), None, True, lambda f: f[:, ::-1]),
        ("transpose", (0, ONE, 0, ONE, 0, 0, 0, 0, W30), None, True, lambda f: f.transpose(1, 0, 2)),
    ],
)
def test_display_matrix_is_applied(io_media, upright_clip: Path, tmp_path: Path, name: str, matrix: tuple[int, ...],
                                   rotation: int | None, mirrored: bool, expected) -> None:
    path = io_media.patch_tkhd_matrix(upright_clip, matrix, tmp_path / f"{name}.mp4")
    info = probe_video(path)
    want = expected(_marked_frame(0))
    assert (info.height, info.width) == want.shape[:2]
    assert info.mirrored is mirrored
    if rotation is not None:
        assert info.rotation == rotation
    frames = list(read_frames(path))
    assert len(frames) == 3
    for frame in frames:
        assert frame.shape == want.shape and frame.flags.c_contiguous
        assert np.abs(frame.astype(int) - want).mean() < 6
    # Spelled out for the phone case: the red top-left block ends up top-right.
    if name == "cw90":
        ys, xs = np.nonzero(frames[0][..., 0] > 150)
        assert ys.max() < 20 and xs.min() > info.width - 20


def test_pyav_written_rotation_is_applied(tmp_path: Path) -> None:
    """A display matrix set through PyAV's own API (MP4 and MKV) is honoured the same way."""
    for suffix in (".mp4", ".mkv"):
        path = tmp_path / f"rot{suffix}"
        container = av.open(str(path), "w")
        stream = container.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.set_display_rotation(90)  # counter-clockwise
        for i in range(2):
            vf = av.VideoFrame.from_ndarray(_marked_frame(i), format="rgb24")
            vf.pts = i
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        container.close()
        info = probe_video(path)
        assert (info.rotation, info.width, info.height) == (90, H, W), suffix
        frame = next(iter(read_frames(path)))
        assert np.abs(frame.astype(int) - np.rot90(_marked_frame(0), 1)).mean() < 6, suffix


# --- damaged, empty and hostile inputs -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def faststart_clip(io_media, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 noisy frames (large packets) from our writer, which puts the moov box in front (as a cut-off download
    would have it) and uses a frame-threaded encoder setting like real outputs."""
    path = tmp_path_factory.mktemp("cut") / "full.mp4"
    with VideoWriter(path, fps=25, width=W, height=H) as writer:
        for i in range(30):
            writer.write(io_media.level_frame(i, noise=25, seed=7))
    return path


def test_truncated_file_yields_frames_before_the_damage(io_media, faststart_clip: Path, tmp_path: Path) -> None:
    data = faststart_clip.read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat")
    full = list(read_frames(faststart_clip))
    cut = tmp_path / "cut.mp4"
    size = int(len(data) * 0.6)
    cut.write_bytes(data[:size])
    # Every packet wholly inside the cut decodes (no B-frames here: x264 picks none for noise, checked below).
    with av.open(str(faststart_clip)) as container:
        packets = [(p.pts, p.pos, p.size) for p in container.demux(video=0) if p.size]
    assert [pts for pts, _, _ in packets] == sorted(pts for pts, _, _ in packets)
    whole = sum(1 for _, pos, size_ in packets if pos + size_ <= size)

    info = probe_video(cut)  # the header is intact
    assert info.frame_count == 30
    with VideoReader(cut) as reader:
        got = list(reader)
    assert reader.truncated
    assert 10 <= len(got) < 30 and reader.frames_read == len(got)
    assert len(got) == whole  # none of the good frames queued in the (frame-threaded) decoder is lost
    assert [io_media.decode_level(f) for f in got] == list(range(len(got)))
    for a, b in zip(full, got, strict=False):
        assert np.array_equal(a, b)  # the same packets decode to the same pixels


def test_severely_truncated_file_raises(faststart_clip: Path, tmp_path: Path) -> None:
    data = faststart_clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: data.find(b"mdat") + 64])  # header only, not one whole frame
    with pytest.raises(InputError) as error:
        list(read_frames(cut))
    assert "no decodable frames" in str(error.value)
    assert_one_line_naming(error, cut)
    with VideoReader(cut) as reader, pytest.raises(InputError, match="no decodable frames"):
        list(reader.pick([0, 5]))  # sampling says so too, rather than yielding nothing


def test_complete_clip_is_not_flagged_truncated(faststart_clip: Path) -> None:
    with VideoReader(faststart_clip) as reader:
        assert sum(1 for _ in reader) == 30
    assert not reader.truncated


def _bad_inputs(io_media, tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "folder.mp4"
    folder.mkdir()
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("these are meeting notes, not a video\n" * 20)
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return {
        "missing": tmp_path / "missing.mp4",
        "folder": folder,
        "empty": empty,
        "text": text,
        "noise": noise,
        "zero_frames_mp4": io_media.make_zero_frame_video(tmp_path / "zero.mp4"),
        "zero_frames_mkv": io_media.make_zero_frame_video(tmp_path / "zero.mkv"),
        "audio_only": io_media.make_audio_file(tmp_path / "speech.m4a", "aac", seconds=0.3),
    }


@pytest.mark.parametrize("kind", ["missing", "folder", "empty", "text", "noise", "zero_frames_mp4",
                                  "zero_frames_mkv", "audio_only"])
def test_bad_inputs_raise_input_error_naming_the_file(io_media, tmp_path: Path, kind: str) -> None:
    path = _bad_inputs(io_media, tmp_path)[kind]
    for action in (probe_video, lambda p: list(VideoReader(p)), lambda p: list(read_frames(p))):
        with pytest.raises(InputError) as error:
            action(path)
        assert_one_line_naming(error, path)
    if kind == "audio_only":
        assert "no video stream" in str(error.value)
    if kind in ("missing", "folder", "empty", "text", "noise"):
        with pytest.raises(InputError):
            read_metadata(path)


def test_read_metadata_works_on_audio_only_files(io_media, tmp_path: Path) -> None:
    path = io_media.make_audio_file(tmp_path / "speech.m4a", "aac", seconds=0.2)
    assert isinstance(read_metadata(path), dict)


# --- writer checks -------------------------------------------------------------------------------------------


def test_writer_rejects_missing_folder_and_bad_suffix(tmp_path: Path) -> None:
    with pytest.raises(OutputError) as error:
        VideoWriter(tmp_path / "nope" / "out.mp4", fps=25, width=W, height=H)
    assert "out.mp4" in str(error.value)
    with pytest.raises(OutputError) as error:
        VideoWriter(tmp_path / "out.avi", fps=25, width=W, height=H)
    assert "out.avi" in str(error.value)
    assert not (tmp_path / "out.avi").exists()


@pytest.mark.parametrize("fps", [0, -5, float("nan"), float("inf"), "fast", 5000])
def test_writer_rejects_bad_frame_rates(tmp_path: Path, fps) -> None:
    with pytest.raises(OutputError):
        VideoWriter(tmp_path / "out.mp4", fps=fps, width=W, height=H)
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize(("width", "height"), [(1, 48), (64, 0), (64.5, 48)])
def test_writer_rejects_bad_sizes(tmp_path: Path, width, height) -> None:
    with pytest.raises(OutputError):
        VideoWriter(tmp_path / "out.mp4", fps=25, width=width, height=height)


@pytest.mark.parametrize(
    "frame",
    [np.zeros((H, W + 2, 3), np.uint8), np.zeros((H, W, 3), np.float32), np.zeros((H, W), np.uint8),
     np.zeros((H, W, 4), np.uint8), [[0, 0, 0]]],
    ids=["wrong-size", "float32", "grey", "rgba", "list"],
)
def test_writer_rejects_bad_frames_naming_the_file(io_media, tmp_path: Path, frame) -> None:
    path = tmp_path / "out.mp4"
    with VideoWriter(path, fps=25, width=W, height=H) as writer:
        writer.write(io_media.level_frame(0))
        with pytest.raises(InputError) as error:
            writer.write(frame)
        assert_one_line_naming(error, path)
        writer.write(io_media.level_frame(1))  # the writer is still usable
    assert writer.frames_written == 2


def test_write_after_close_raises(io_media, tmp_path: Path) -> None:
    writer = VideoWriter(tmp_path / "out.mp4", fps=25, width=W, height=H)
    writer.write(io_media.level_frame(0))
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(OutputError):
        writer.write(io_media.level_frame(1))


def test_writer_with_missing_audio_source_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    with pytest.raises(InputError) as error:
        VideoWriter(out, fps=25, width=W, height=H, audio_from=tmp_path / "gone.mp4")
    assert "gone.mp4" in str(error.value)
    assert not out.exists()


@pytest.mark.parametrize(("start", "end"), [(-1.0, None), (1.0, 1.0), (2.0, 1.0)])
def test_writer_rejects_empty_audio_range(levels_clip: Path, tmp_path: Path, start: float, end) -> None:
    with pytest.raises(InputError):
        VideoWriter(tmp_path / "out.mp4", fps=25, width=W, height=H, audio_from=levels_clip,
                    audio_start=start, audio_end=end)
