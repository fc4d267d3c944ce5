"""Face extraction into a faceset: contents, resume, skipping, person selection and bad input."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from synthvid.errors import AmbiguousFaceError, InputError, NoFaceError
from synthvid.face import identity as ident
from synthvid.io.faceset import open_faceset
from synthvid.io.output import Stamp, VideoOutput
from synthvid.io.video import VideoReader
from synthvid.pipelines import extract as E
from synthvid.pipelines.extract import ExtractConfig, extract


def test_faceset_contents(facesets, clips):
    fs = open_faceset(facesets["astronaut"])
    n = len(fs)
    assert 10 <= n <= 40  # 40 frames, near-duplicates skipped
    a = fs.alignments
    assert a["landmarks"].shape == (n, 478, 3) and a["matrix"].shape == (n, 2, 3) and a["embedding"].shape == (n, 128)
    assert np.all(np.diff(a["frame"]) > 0)
    face = fs.read_face(0)
    assert face.shape == (128, 128, 3)
    info = json.loads((facesets["astronaut"] / "faceset.json").read_text())
    assert info["count"] == n and info["sources"][0]["complete"] and info["sources"][0]["frames_seen"] == 40
    assert info["skipped"].get("duplicate", 0) + n == 40
    # All faces are the astronaut, not Hopper.
    hopper = ident.mean_embedding(open_faceset(facesets["hopper"]).alignments["embedding"])
    own = ident.mean_embedding(a["embedding"])
    assert ident.distances(a["embedding"], own).max() < 0.3 < float(ident.distances(own, hopper)[0])


def test_rerun_is_a_no_op_and_settings_must_match(facesets, clips):
    before = len(open_faceset(facesets["astronaut"]))
    report = extract([clips["astronaut"]], facesets["astronaut"], ExtractConfig(size=128), quiet=True)
    assert report.added == 0 and report.faces == before
    with pytest.raises(InputError, match="size"):
        extract([clips["astronaut"]], facesets["astronaut"], ExtractConfig(size=64), quiet=True)


def test_interrupted_extraction_resumes(tmp_path, clips, monkeypatch):
    cfg = ExtractConfig(size=64, duplicate=0.0)
    full = extract([clips["hopper"]], tmp_path / "full", cfg, quiet=True)
    monkeypatch.setattr(E, "COMMIT_SECONDS", 0.0)  # commit after every frame
    calls = {"n": 0}
    real = E._consider

    def crash_after_15(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 15:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(E, "_consider", crash_after_15)
    with pytest.raises(KeyboardInterrupt):
        extract([clips["hopper"]], tmp_path / "part", cfg, quiet=True)
    assert 10 <= len(open_faceset(tmp_path / "part")) < full.faces
    monkeypatch.setattr(E, "_consider", real)
    resumed = extract([clips["hopper"]], tmp_path / "part", cfg, quiet=True)
    assert resumed.faces == full.faces
    fs = open_faceset(tmp_path / "part")
    assert len(set(fs.alignments["frame"].tolist())) == len(fs)  # no frame twice


def _write_clip(path, frames, fps=25):
    with VideoOutput(path, Stamp("test", synthetic=False), fps=fps, width=frames[0].shape[1],
                     height=frames[0].shape[0]) as out:
        for f in frames:
            out.write(f)
    return path


def test_video_without_faces(tmp_path):
    ramp = np.linspace(40, 200, 96, dtype=np.float32)
    blank = [np.dstack([np.add.outer(ramp, ramp * 0.3 + 5 * i) / 1.3] * 3).astype(np.uint8) for i in range(6)]
    clip = _write_clip(tmp_path / "blank.mp4", blank)
    with pytest.raises(NoFaceError, match="no usable face"):
        extract([clip], tmp_path / "fs", quiet=True)
    assert not (tmp_path / "fs").exists()  # nothing half-made left behind


def _two_people_clip(tmp_path, portraits, n=12):
    a = cv2.resize(portraits["astronaut"], (256, 256))
    b = cv2.resize(portraits["hopper"], (220, 256))
    frame = np.full((256, 480, 3), 80, np.uint8)
    frame[:, :256] = a
    frame[:, 260:480] = b
    return _write_clip(tmp_path / "two.mp4", [frame] * n)


def test_two_people_need_a_reference(tmp_path, portraits):
    clip = _two_people_clip(tmp_path, portraits)
    with pytest.raises(AmbiguousFaceError, match="--reference"):
        extract([clip], tmp_path / "fs", quiet=True)
    ref = tmp_path / "hopper.png"
    cv2.imwrite(str(ref), cv2.cvtColor(portraits["hopper"], cv2.COLOR_RGB2BGR))
    report = extract([clip], tmp_path / "fs", ExtractConfig(duplicate=0.0, size=64), reference=ref, quiet=True)
    fs = open_faceset(report.faceset)
    assert len(fs) == 12
    assert np.all(fs.alignments["landmarks"][:, :, 0].mean(1) > 256)  # every face is the one on the right


def test_bad_inputs(tmp_path, clips):
    with pytest.raises(InputError, match="not found"):
        extract([tmp_path / "missing.mp4"], tmp_path / "fs", quiet=True)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(InputError, match="not a readable video"):
        extract([text], tmp_path / "fs", quiet=True)
    with pytest.raises(InputError, match="parent does not exist"):
        extract([clips["hopper"]], tmp_path / "no" / "such" / "fs", quiet=True)
    with pytest.raises(InputError, match="coverage"):
        ExtractConfig(coverage=0.05)
    assert not (tmp_path / "fs").exists()
    assert len(list(VideoReader(clips["hopper"]))) == 40


@pytest.fixture
def detect_calls(monkeypatch) -> list[bool]:
    """The ``tiled`` flag of every FaceDetector.detect call made while the test runs."""
    from synthvid.face.detect import FaceDetector

    calls: list[bool] = []
    real = FaceDetector.detect

    def counting(self, frame, tiled=True):
        calls.append(tiled)
        return real(self, frame, tiled=tiled)

    monkeypatch.setattr(FaceDetector, "detect", counting)
    return calls


def test_identity_scan_samples_about_one_frame_per_second(clips, detect_calls):
    from synthvid.face import select

    calls = detect_calls
    who, several = select.scan_identities(clips["astronaut"], max_faces=4)  # a 1.6 s clip
    assert who is not None and not several
    assert len(calls) == select.SCAN_MIN_SAMPLES  # the floor for a short clip
    assert calls == [k % select.SCAN_TILED_EVERY == 0 for k in range(len(calls))]  # the slow tiled search sometimes
    calls.clear()
    select.scan_identities(clips["astronaut"], max_faces=4, samples=3)
    assert len(calls) == 3  # samples caps the count


def test_identity_scan_searches_every_sample_once_a_small_face_was_seen(tmp_path, portraits, detect_calls):
    from synthvid.face import select

    small = cv2.resize(portraits["astronaut"], (128, 128), interpolation=cv2.INTER_AREA)
    canvas = np.full((720, 1280, 3), 60, np.uint8)
    canvas[500:628, 1000:1128] = small  # only the tiled search finds this face
    clip = tmp_path / "small.mp4"
    with VideoOutput(clip, Stamp("test", synthetic=False), fps=25, width=1280, height=720) as out:
        for _ in range(25):
            out.write(canvas)
    who, _ = select.scan_identities(clip, max_faces=4)
    assert who is not None
    assert len(detect_calls) == select.SCAN_MIN_SAMPLES and all(detect_calls)  # the first sample found it small: all tiled


def test_a_first_run_that_fails_leaves_no_folder(tmp_path):
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = tmp_path / "huge.png"  # a PNG whose header claims 60000 x 60000 pixels (a decompression bomb)
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    with pytest.raises(InputError):
        extract(bomb, tmp_path / "fs", quiet=True)
    assert not (tmp_path / "fs").exists()
