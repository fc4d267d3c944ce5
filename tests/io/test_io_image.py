"""Still images: reading (orientation, modes, hostile files) and encoding with tags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthvid.errors import InputError, OutputError
from synthvid.io import image as image_io
from synthvid.io.image import encode_image, read_image, read_image_tags


def _marked(height: int = 40, width: int = 60) -> np.ndarray:
    """Dark image with a bright block in the top-left corner."""
    frame = np.full((height, width, 3), 30, np.uint8)
    frame[:10, :14] = 240
    return frame


def _bright_box(frame: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(frame[..., 0] > 128)
    return int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())


def _one_line_naming(error: pytest.ExceptionInfo, path: Path) -> bool:
    return "\n" not in str(error.value) and str(path) in str(error.value)


def test_png_round_trip_is_exact(tmp_path: Path) -> None:
    frame = np.random.default_rng(0).integers(0, 256, (33, 47, 3), dtype=np.uint8)
    path = tmp_path / "a.png"
    path.write_bytes(encode_image(frame, ".png"))
    got = read_image(path)
    assert got.dtype == np.uint8 and got.shape == (33, 47, 3)
    assert np.array_equal(got, frame)


def test_jpeg_round_trip_is_close(tmp_path: Path) -> None:
    frame = _marked()
    path = tmp_path / "a.JPG"
    path.write_bytes(encode_image(frame, ".JPG", quality=95))
    assert np.abs(read_image(path).astype(int) - frame).mean() < 3


@pytest.mark.parametrize(("orientation", "turn"), [(1, lambda f: f), (3, lambda f: np.rot90(f, 2)),
                                                   (6, lambda f: np.rot90(f, -1)), (8, lambda f: np.rot90(f, 1))])
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int, turn) -> None:
    frame = _marked()
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    Image.fromarray(frame).save(path, exif=exif.tobytes(), quality=95)
    got = read_image(path)
    want = turn(frame)
    assert got.shape == want.shape
    assert np.abs(got.astype(int) - want).mean() < 4
    if orientation == 6:  # "rotate 90° clockwise to display": the top-left block ends up top-right
        top, bottom, left, right = _bright_box(got)
        assert got.shape == (60, 40, 3) and top == 0 and right == 39 and bottom < 16 and left > 25


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I;16"])
def test_other_modes_become_rgb(tmp_path: Path, mode: str) -> None:
    grey = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (8, 1))  # 8 x 64 ramp
    if mode == "I;16":
        image = Image.fromarray(grey.astype(np.uint16) * 257)  # full 16-bit ramp
    else:
        image = Image.fromarray(grey, "L").convert(mode)
    path = tmp_path / "m.png"
    image.save(path)
    got = read_image(path)
    assert got.shape == (8, 64, 3) and got.dtype == np.uint8
    # 16-bit data is scaled, not clipped to white.
    assert np.abs(got[..., 1].astype(int) - grey).max() <= 1


def test_decompression_bomb_is_refused(io_media, tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(io_media.png_header_only(100_000, 100_000))  # 10 gigapixels declared in ~70 bytes
    assert path.stat().st_size < 200
    with pytest.raises(InputError) as error:
        read_image(path)
    assert _one_line_naming(error, path)
    with pytest.raises(InputError):
        read_image_tags(path)


def test_our_own_pixel_limit_applies_below_pillows(io_media, tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    side = int(image_io.MAX_PIXELS ** 0.5) + 10  # just over our limit, under Pillow's warning threshold
    path.write_bytes(io_media.png_header_only(side, side))
    with pytest.raises(InputError) as error:
        read_image(path)
    assert "too large" in str(error.value) and _one_line_naming(error, path)


def _bad_images(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "folder.png"
    folder.mkdir()
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture\n" * 20)
    noise = tmp_path / "noise.png"
    noise.write_bytes(np.random.default_rng(1).integers(0, 256, 2048, dtype=np.uint8).tobytes())
    truncated = tmp_path / "truncated.png"
    full = encode_image(np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8), ".png")
    truncated.write_bytes(full[: len(full) // 2])
    return {"missing": tmp_path / "missing.png", "folder": folder, "empty": empty, "text": text, "noise": noise,
            "truncated": truncated}


@pytest.mark.parametrize("kind", ["missing", "folder", "empty", "text", "noise", "truncated"])
def test_bad_images_raise_input_error_naming_the_file(tmp_path: Path, kind: str) -> None:
    path = _bad_images(tmp_path)[kind]
    with pytest.raises(InputError) as error:
        read_image(path)
    assert _one_line_naming(error, path)
    if kind != "truncated":  # tags sit before the pixel data, so a cut PNG may still have readable tags
        with pytest.raises(InputError) as error:
            read_image_tags(path)
        assert _one_line_naming(error, path)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_tags_round_trip_including_awkward_values(tmp_path: Path, suffix: str) -> None:
    tags = {"comment": "made by a test (job=x)", "Software": "synthvid 0.1.0", "plain": "v",
            "multi": "line one\nline two=2\r\nback\\slash \\n literal", "unicode": "café ✓"}
    path = tmp_path / f"t{suffix}"
    path.write_bytes(encode_image(_marked(), suffix, tags))
    assert read_image_tags(path) == tags


def test_jpeg_exif_carries_software_and_description(tmp_path: Path) -> None:
    path = tmp_path / "t.jpg"
    path.write_bytes(encode_image(_marked(), ".jpg", {"comment": "synthetic media", "Software": "synthvid 0.1.0"}))
    with Image.open(path) as im:
        exif = im.getexif()
    assert exif[0x0131] == "synthvid 0.1.0"
    assert exif[0x010E] == "synthetic media"


def test_jpeg_tags_too_long_for_a_comment_are_shortened(tmp_path: Path) -> None:
    tags = {"synthvid_job": "j", "synthvid_settings": "x" * 100_000, "synthvid_synthetic": "true"}
    path = tmp_path / "t.jpg"
    path.write_bytes(encode_image(_marked(), ".jpg", tags))
    got = read_image_tags(path)
    assert got["synthvid_job"] == "j" and got["synthvid_synthetic"] == "true"
    assert got["synthvid_settings"].endswith("[truncated]") and len(got["synthvid_settings"]) < 65_536


def test_png_tags_are_read_without_decoding_pixels(tmp_path: Path) -> None:
    path = tmp_path / "t.png"
    path.write_bytes(encode_image(_marked(), ".png", {"k": "v"}))
    data = path.read_bytes()
    idat = data.find(b"IDAT")
    path.write_bytes(data[: idat + 8])  # pixel data cut off right after it starts
    assert read_image_tags(path) == {"k": "v"}


@pytest.mark.parametrize("suffix", [".gif", ".webp", ""])
def test_encode_unsupported_suffix_raises_output_error(suffix: str) -> None:
    with pytest.raises(OutputError):
        encode_image(_marked(), suffix)


@pytest.mark.parametrize("frame", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float64),
                                   np.zeros((8, 8, 4), np.uint8)])
def test_encode_bad_frame_raises_input_error(frame: np.ndarray) -> None:
    with pytest.raises(InputError):
        encode_image(frame, ".png")


@pytest.mark.parametrize("key", ["", "a=b", "two\nlines", "k" * 80])
def test_encode_bad_tag_names_raise_output_error(key: str) -> None:
    with pytest.raises(OutputError):
        encode_image(_marked(), ".jpg", {key: "v"})
