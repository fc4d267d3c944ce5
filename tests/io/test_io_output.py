"""The single output writer: atomic files, the provenance stamp, and path checks."""

from __future__ import annotations

import json
import os
import stat
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from synthvid import __version__
from synthvid.errors import InputError, OutputError
from synthvid.io.files import atomic_path, check_input_file, check_output_path
from synthvid.io.image import read_image, read_image_tags
from synthvid.io.output import (
    Stamp,
    VideoOutput,
    write_figure,
    write_image,
    write_json,
    write_text,
)
from synthvid.io.video import probe_video, read_frames, read_metadata

W, H = 64, 48
STAMP = Stamp(job="test.job", settings={"crf": 18, "path": Path("/x/model")}, inputs=("/data/in/source.mp4",))


def _frame(i: int = 0) -> np.ndarray:
    return np.full((H, W, 3), 10 + 8 * i, np.uint8)


def _leftovers(folder: Path, keep: set[str] = frozenset()) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


class Boom(Exception):
    pass


# --- VideoOutput ---------------------------------------------------------------------------------------------


def test_video_output_success_is_stamped_and_complete(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    with VideoOutput(path, STAMP, fps=Fraction(30000, 1001), width=W, height=H) as out:
        assert not path.exists()  # nothing at the final path until it is complete
        for i in range(8):
            out.write(_frame(i))
        assert out.frames_written == 8
    assert _leftovers(tmp_path) == ["out.mp4"]
    tags = read_metadata(path)
    assert tags["synthvid_synthetic"] == "true"
    assert tags["synthvid_job"] == "test.job"
    assert tags["synthvid_version"] == __version__
    assert json.loads(tags["synthvid_settings"]) == {"crf": 18, "path": "/x/model"}
    assert json.loads(tags["synthvid_inputs"]) == ["source.mp4"]  # names only, never the user's folders
    assert len(list(read_frames(path))) == 8
    assert probe_video(path).fps_fraction == Fraction(30000, 1001)


@pytest.mark.parametrize("suffix", [".mov", ".mkv"])
def test_video_output_stamp_reads_back_from_other_containers(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    with VideoOutput(path, Stamp(job="j", synthetic=False), fps=25, width=W, height=H) as out:
        out.write(_frame())
    tags = read_metadata(path)
    assert tags["synthvid_synthetic"] == "false" and tags["synthvid_job"] == "j"


def test_video_output_file_mode_follows_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "out.mp4"
        with VideoOutput(path, STAMP, fps=25, width=W, height=H) as out:
            out.write(_frame())
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600
    finally:
        os.umask(old)


@pytest.mark.parametrize("exc", [Boom, KeyboardInterrupt])
def test_video_output_failure_leaves_nothing(tmp_path: Path, exc: type[BaseException]) -> None:
    path = tmp_path / "out.mp4"
    with pytest.raises(exc), VideoOutput(path, STAMP, fps=25, width=W, height=H) as out:
        for i in range(5):
            out.write(_frame(i))
        raise exc()
    assert not path.exists()
    assert _leftovers(tmp_path) == []


def test_video_output_failure_keeps_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    path.write_bytes(b"previous result")
    with pytest.raises(Boom), VideoOutput(path, STAMP, fps=25, width=W, height=H) as out:
        out.write(_frame())
        raise Boom()
    assert path.read_bytes() == b"previous result"
    assert _leftovers(tmp_path) == ["out.mp4"]


def test_video_output_replaces_previous_file_on_success(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    path.write_bytes(b"previous result")
    with VideoOutput(path, STAMP, fps=25, width=W, height=H) as out:
        out.write(_frame())
    assert probe_video(path).frame_count == 1


def test_video_output_without_frames_raises_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    path.write_bytes(b"previous result")
    with pytest.raises(OutputError) as error, VideoOutput(path, STAMP, fps=25, width=W, height=H):
        pass
    assert "no frames" in str(error.value) and str(path) in str(error.value)
    assert path.read_bytes() == b"previous result"
    assert _leftovers(tmp_path) == ["out.mp4"]


def test_video_output_bad_frame_names_the_final_path(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    with pytest.raises(InputError) as error, VideoOutput(path, STAMP, fps=25, width=W, height=H) as out:
        out.write(np.zeros((H, W, 3), np.float32))
    message = str(error.value)
    assert str(path) in message and "partial" not in message and "\n" not in message
    assert _leftovers(tmp_path) == []


def test_video_output_odd_size_is_stored_padded(tmp_path: Path) -> None:
    path = tmp_path / "odd.mp4"
    with VideoOutput(path, STAMP, fps=25, width=W + 1, height=H + 1) as out:
        out.write(np.full((H + 1, W + 1, 3), 100, np.uint8))
    info = probe_video(path)
    assert (info.width, info.height) == (W + 2, H + 2)


@pytest.mark.parametrize(("name", "message"), [("missing/out.mp4", "does not exist"), ("out.avi", ".mp4"),
                                               ("out", ".mp4"), ("folder.mp4", "folder")])
def test_video_output_rejects_bad_paths(tmp_path: Path, name: str, message: str) -> None:
    (tmp_path / "folder.mp4").mkdir()
    path = tmp_path / name
    with pytest.raises(OutputError) as error:
        VideoOutput(path, STAMP, fps=25, width=W, height=H)
    assert message in str(error.value) and str(path) in str(error.value)
    assert _leftovers(tmp_path) == ["folder.mp4"]


def test_video_output_bad_audio_source_leaves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "audio.mp4"
    bad.write_text("not media")
    with pytest.raises(InputError) as error:
        VideoOutput(tmp_path / "out.mp4", STAMP, fps=25, width=W, height=H, audio_from=bad)
    assert str(bad) in str(error.value)
    assert _leftovers(tmp_path) == ["audio.mp4"]


def test_video_output_abort_and_close_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    out = VideoOutput(path, STAMP, fps=25, width=W, height=H)
    out.write(_frame())
    out.abort()
    out.abort()
    assert _leftovers(tmp_path) == []
    out2 = VideoOutput(path, STAMP, fps=25, width=W, height=H)
    out2.write(_frame())
    assert out2.close() == path
    assert out2.close() == path
    assert _leftovers(tmp_path) == ["out.mp4"]


# --- images, JSON, text, figures -----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".jpeg"])
def test_write_image_is_stamped(tmp_path: Path, suffix: str) -> None:
    frame = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8) if suffix == ".png" else _frame(9)
    path = write_image(tmp_path / f"face{suffix}", frame, STAMP)
    assert _leftovers(tmp_path) == [f"face{suffix}"]
    assert read_image_tags(path) == STAMP.tags()
    got = read_image(path)
    diff = got.astype(int) - frame
    if suffix == ".png":  # lossless: only the watermark changed it, by the same small amount on R, G and B
        # ~2.2 grey levels rms; the peak depends on the (random, per-file) content id's carrier phases
        assert 1.5 < float(np.sqrt(np.mean(diff.astype(float) ** 2))) < 3.0 and np.abs(diff).max() <= 14
        inside = ((frame > 8) & (frame < 247)).all(axis=2)  # where no channel saturated
        assert np.array_equal(diff[..., 0][inside], diff[..., 1][inside])
        assert np.array_equal(diff[..., 1][inside], diff[..., 2][inside])
        assert diff.any()
    else:
        assert np.abs(diff).mean() < 3
    from synthvid.provenance.manifest import check
    assert check(path).state == "valid"


def test_write_image_errors(tmp_path: Path) -> None:
    with pytest.raises(OutputError):
        write_image(tmp_path / "face.gif", _frame(), STAMP)
    with pytest.raises(OutputError):
        write_image(tmp_path / "missing" / "face.png", _frame(), STAMP)
    with pytest.raises(InputError) as error:
        write_image(tmp_path / "face.png", np.zeros((H, W), np.uint8), STAMP)
    assert "face.png" in str(error.value)
    assert _leftovers(tmp_path) == []


def test_write_json_round_trip_and_failure_keeps_previous(tmp_path: Path) -> None:
    path = write_json(tmp_path / "settings.json", {"b": 1, "a": [1.5, "x"], "p": Path("/y")})
    assert json.loads(path.read_text()) == {"a": [1.5, "x"], "b": 1, "p": "/y"}
    circular: list = []
    circular.append(circular)
    with pytest.raises(ValueError):
        write_json(path, {"loop": circular})
    assert json.loads(path.read_text())["b"] == 1
    assert _leftovers(tmp_path) == ["settings.json"]
    with pytest.raises(OutputError):
        write_json(tmp_path / "settings.txt", {})


def test_write_text(tmp_path: Path) -> None:
    path = write_text(tmp_path / "notes.md", "héllo\n")
    assert path.read_text(encoding="utf-8") == "héllo\n"


def test_write_figure_is_stamped(tmp_path: Path) -> None:
    figure_module = pytest.importorskip("matplotlib.figure")
    pytest.importorskip("matplotlib.backends.backend_agg")
    fig = figure_module.Figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1], [1, 0])
    path = write_figure(tmp_path / "plot.png", fig, STAMP)
    tags = read_image_tags(path)
    assert tags["Software"] == STAMP.tags()["Software"]
    assert read_image(path).shape == (100, 100, 3)
    assert _leftovers(tmp_path) == ["plot.png"]


# --- atomic_path and path checks -----------------------------------------------------------------------------


def test_atomic_path_keeps_previous_content_on_error(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"old")
    with pytest.raises(Boom), atomic_path(path) as tmp:
        assert tmp.parent == path.parent and tmp.suffix == ".bin" and tmp.name.startswith(".")
        tmp.write_bytes(b"half-writ")
        raise Boom()
    assert path.read_bytes() == b"old"
    assert _leftovers(tmp_path) == ["model.bin"]


def test_atomic_path_replaces_on_success(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"old")
    with atomic_path(path) as tmp:
        tmp.write_bytes(b"new")
        assert path.read_bytes() == b"old"
    assert path.read_bytes() == b"new"
    assert _leftovers(tmp_path) == ["model.bin"]


def test_atomic_path_in_missing_folder_raises_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError) as error, atomic_path(tmp_path / "nope" / "model.bin"):
        pass
    assert "model.bin" in str(error.value)


def test_atomic_path_onto_a_folder_raises_output_error(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    with pytest.raises(OutputError), atomic_path(tmp_path / "taken") as tmp:
        tmp.write_bytes(b"x")
    assert _leftovers(tmp_path) == ["taken"]


def test_check_input_file(tmp_path: Path) -> None:
    good = tmp_path / "a.txt"
    good.write_text("x")
    assert check_input_file(good) == good
    (tmp_path / "empty").write_bytes(b"")
    for bad, words in [(tmp_path / "none", "not found"), (tmp_path, "folder"), (tmp_path / "empty", "empty")]:
        with pytest.raises(InputError) as error:
            check_input_file(bad, "video")
        assert words in str(error.value) and str(bad) in str(error.value)


def test_check_output_path(tmp_path: Path) -> None:
    assert check_output_path(tmp_path / "a.PNG", (".png",)) == tmp_path / "a.PNG"
    assert check_output_path("relative.json") == Path("relative.json")
    for bad in [tmp_path / "x" / "a.png", tmp_path, tmp_path / "a.bmp"]:
        with pytest.raises(OutputError) as error:
            check_output_path(bad, (".png",))
        assert str(bad) in str(error.value)


def test_stamp_tags() -> None:
    tags = Stamp(job="faces.extract", synthetic=False, inputs=("a/b.mp4",)).tags()
    assert tags["synthvid_synthetic"] == "false"
    assert "derived from real footage" in tags["comment"]
    assert json.loads(tags["synthvid_inputs"]) == ["b.mp4"]
    assert all(isinstance(v, str) for v in tags.values())


def test_video_output_with_alpha_is_prores_4444_in_mov(tmp_path: Path) -> None:
    import av

    rgba = np.zeros((32, 48, 4), np.uint8)
    rgba[..., :3] = 120
    rgba[8:24, 10:30, 3] = 255  # an opaque box on transparency
    rgba[8:24, 30:40, 3] = 128  # half-transparent
    out = tmp_path / "layer.mov"
    with VideoOutput(out, Stamp("test.alpha"), fps=25, width=48, height=32, alpha=True) as v:
        for _ in range(3):
            v.write(rgba)
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "prores"
        a = next(iter(c.decode(stream))).to_ndarray(format="rgba")[..., 3]
    assert np.abs(a.astype(int) - rgba[..., 3]).max() <= 1  # the alpha plane survives (10-bit)
    assert read_metadata(out)["synthvid_job"] == "test.alpha"
    with pytest.raises(OutputError, match=r"\.mov"):
        VideoOutput(tmp_path / "layer.mp4", Stamp("x"), fps=25, width=48, height=32, alpha=True)
    with VideoOutput(tmp_path / "l2.mov", Stamp("x"), fps=25, width=48, height=32, alpha=True) as v2:
        with pytest.raises(InputError, match="RGBA"):
            v2.write(rgba[..., :3].copy())
        v2.write(rgba)


def test_an_output_never_replaces_its_input(tmp_path):
    src = tmp_path / "in.png"
    write_image(src, _frame(1), STAMP)
    before = src.read_bytes()
    with pytest.raises(OutputError, match="would destroy the input"):
        write_image(src, _frame(2), Stamp("test.job", inputs=(str(src),)))
    link = tmp_path / "alias.png"  # the same file under another name is caught too
    os.link(src, link)
    with pytest.raises(OutputError, match="would destroy the input"):
        write_image(link, _frame(2), Stamp("test.job", pixels_from=str(src)))
    video = tmp_path / "in.mp4"
    with VideoOutput(video, STAMP, fps=25, width=W, height=H) as out:
        out.write(_frame())
    with pytest.raises(OutputError, match="would destroy the input"):
        VideoOutput(video, Stamp("test.job", inputs=(str(video),)), fps=25, width=W, height=H)
    assert src.read_bytes() == before and _leftovers(tmp_path) == ["alias.png", "in.mp4", "in.png"]
    write_image(tmp_path / "new.png", _frame(2), STAMP)
    # writing over an existing output is fine when it is not an input; a camera index or a URL is not a file here
    write_image(tmp_path / "new.png", _frame(3), Stamp("test.job", inputs=(str(src), "0", "rtsp://cam/1")))


def test_job_outputs_are_checked_before_the_job_starts(tmp_path):
    from synthvid.io.files import check_outputs
    from synthvid.io.image import IMAGE_SUFFIXES
    from synthvid.io.video import VIDEO_SUFFIXES

    src = tmp_path / "in.mp4"
    src.write_bytes(b"x")
    out, prev = check_outputs((src, None), (tmp_path / "o.mp4", VIDEO_SUFFIXES), (None, IMAGE_SUFFIXES))
    assert out == tmp_path / "o.mp4" and prev is None
    with pytest.raises(OutputError, match="would destroy the input"):
        check_outputs((src,), (src, VIDEO_SUFFIXES))
    with pytest.raises(OutputError, match="does not exist"):
        check_outputs((src,), (tmp_path / "o.mp4", VIDEO_SUFFIXES), (tmp_path / "nodir" / "p.png", IMAGE_SUFFIXES))
    with pytest.raises(OutputError, match="must end in"):
        check_outputs((src,), (tmp_path / "o.mp4", VIDEO_SUFFIXES), (tmp_path / "p.gif", IMAGE_SUFFIXES))
    with pytest.raises(OutputError, match="two outputs"):
        check_outputs((src,), (tmp_path / "o.mp4", None), (tmp_path / "o.mp4", None))


def test_output_folders(tmp_path):
    from synthvid.io.files import make_output_folder, output_folder

    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(OutputError, match="existing file, not a folder"):
        make_output_folder(tmp_path / "file")
    with pytest.raises(InputError, match="parent does not exist"):
        make_output_folder(tmp_path / "a" / "b")
    assert make_output_folder(tmp_path / "a" / "b", parents=True).is_dir()
    with pytest.raises(Boom):  # a failed first run leaves no empty folder behind
        with output_folder(tmp_path / "run"):
            raise Boom()
    assert not (tmp_path / "run").exists()
    with pytest.raises(Boom):  # one with files in it (resumable work) is kept
        with output_folder(tmp_path / "run2") as d:
            (d / "faces.npz").write_bytes(b"x")
            raise Boom()
    assert (tmp_path / "run2" / "faces.npz").is_file()


def test_over_long_output_names_are_one_line(tmp_path):
    with pytest.raises(OutputError, match="too long"):
        check_output_path(tmp_path / ("n" * 300 + ".mp4"))
    with pytest.raises(OutputError, match="too long"):
        write_image(tmp_path / ("n" * 230 + ".png"), _frame(), STAMP)
    assert _leftovers(tmp_path) == []
