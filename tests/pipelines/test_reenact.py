"""Reenactment end to end: a portrait driven by a talking clip, video-to-video, live mode, the demo, the CLI and
its one-line errors. The driving clip is made by animating Grace Hopper's portrait with the built-in performance."""

from __future__ import annotations

import numpy as np
import pytest

from synthvid.cli import main
from synthvid.face import landmarks as L
from synthvid.face.detect import FaceDetector
from synthvid.io.output import Stamp, write_image
from synthvid.io.video import VideoReader, probe_video, read_metadata
from synthvid.pipelines.demo import run_demo, voice_like_audio
from synthvid.pipelines.reenact import ReenactConfig, reenact_photo, reenact_stream, reenact_video
from synthvid.reenact.sequence import builtin_performance, loudness_envelope


@pytest.fixture(scope="module")
def photos(tmp_path_factory, portraits):
    import cv2

    from synthvid.face.detect import detect_faces

    root = tmp_path_factory.mktemp("photos")
    out = {}
    for name, img in portraits.items():  # a 256 x 256 head-and-shoulders crop of each portrait
        face = detect_faces(img, max_faces=1)[0]
        cx, cy = face.center
        half = int(min(face.size * 1.25, cx, cy, img.shape[1] - cx, img.shape[0] - cy))
        crop = img[int(cy) - half: int(cy) + half, int(cx) - half: int(cx) + half]
        small = cv2.resize(crop, (256, 256), interpolation=cv2.INTER_AREA)
        out[name] = write_image(root / f"{name}.png", small, Stamp("test", synthetic=False))
    return out


@pytest.fixture(scope="module")
def talking(tmp_path_factory, photos):
    """A 2 s talking clip of Grace Hopper (the built-in performance, mouth following a voice-like sound)."""
    from synthvid.io.audio import write_wav

    root = tmp_path_factory.mktemp("talking")
    voice = voice_like_audio(2.0, seed=3)
    wav = write_wav(root / "voice.wav", voice, 16000)
    states = builtin_performance(50, 25, loudness_envelope(voice, 16000, 25, 50))
    return reenact_photo(photos["hopper"], None, root / "talking.mp4", states=states, fps=25, audio=wav,
                         quiet=True).output


def _mouth_and_eyes(path) -> tuple[np.ndarray, np.ndarray]:
    mouth, eyes = [], []
    with FaceDetector(video=True) as det, VideoReader(path) as reader:
        for frame in reader:
            faces = det.detect(frame)
            mouth.append(L.mouth_opening(faces[0].landmarks) if faces else np.nan)
            eyes.append(L.eye_opening(faces[0].landmarks) if faces else np.nan)
    return np.array(mouth), np.array(eyes)


def test_photo_follows_the_driving_mouth(talking, photos, tmp_path):
    report = reenact_photo(photos["astronaut"], talking, tmp_path / "out.mp4", preview=tmp_path / "strip.png",
                           quiet=True)
    assert report.frames == 50 and report.no_face == 0
    info = probe_video(report.output)
    assert info.has_audio and info.frame_count == 50
    assert read_metadata(report.output)["synthvid_job"] == "reenact.photo"
    drive_mouth, _ = _mouth_and_eyes(talking)
    out_mouth, _ = _mouth_and_eyes(report.output)
    assert np.isfinite(out_mouth).all()
    # Measured independently on the output by the face tracker: the mouth opens and closes with the driver's.
    assert np.corrcoef(drive_mouth, out_mouth)[0, 1] > 0.8
    assert (tmp_path / "strip.png").is_file()


def test_video_to_video_keeps_target_length_and_audio(talking, clips, tmp_path):
    report = reenact_video(talking, clips["astronaut"], tmp_path / "v.mp4", ReenactConfig(transfer="blink"),
                           preview=tmp_path / "v.png", quiet=True)
    assert report.frames == 40  # the target (40 frames) is shorter than the driving clip (50)
    assert any("cut to the target" in n for n in report.notes)
    assert probe_video(report.output).has_audio
    drive_mouth, _ = _mouth_and_eyes(talking)
    out_mouth, _ = _mouth_and_eyes(report.output)
    assert np.corrcoef(drive_mouth[:40], out_mouth)[0, 1] > 0.7


def test_stream_mode_from_a_file(talking, photos, tmp_path):
    report = reenact_stream(photos["astronaut"], str(talking), tmp_path / "live.mp4", max_frames=12, quiet=True)
    assert report.frames == 12 and probe_video(report.output).frame_count == 12


def test_demo_writes_both_animations(tmp_path):
    text = run_demo(tmp_path, seconds=1.0, quiet=True)
    for name in ("astronaut", "hopper"):
        assert probe_video(tmp_path / f"{name}_animated.mp4").frame_count == 25
        assert read_metadata(tmp_path / f"{name}_animated.mp4")["synthvid_synthetic"] == "true"
    assert "astronaut" in text and not list(tmp_path.glob("*.wav"))


def test_cli_photo_and_errors(talking, photos, tmp_path, capsys):
    out = tmp_path / "cli.mp4"
    assert main(["reenact", "photo", str(photos["astronaut"]), str(talking), "-o", str(out), "-q",
                 "--transfer", "pose", "--mouth", "paint"]) == 0
    assert "wrote" in capsys.readouterr().out and out.is_file()
    blank = write_image(tmp_path / "blank.png", np.full((128, 128, 3), 128, np.uint8), Stamp("test", synthetic=False))
    assert main(["reenact", "photo", str(blank), str(talking), "-o", str(tmp_path / "x.mp4"), "-q"]) == 3
    err = capsys.readouterr().err.strip()
    assert err == "synthvid: error: no face found in blank.png"
    assert main(["reenact", "photo", str(photos["astronaut"]), str(talking), "-o", str(tmp_path / "x.mp4"), "-q",
                 "--face", "2"]) == 2
    assert "--face must be between 1 and 1" in capsys.readouterr().err
    assert main(["reenact", "photo", str(photos["astronaut"]), str(talking), "-o",
                 str(tmp_path / "missing" / "x.mp4"), "-q"]) == 5
    assert main(["reenact", "video", str(tmp_path / "nope.mp4"), str(talking), "-o", str(tmp_path / "y.mp4"),
                 "-q"]) == 2
    assert main(["reenact", "photo", str(photos["astronaut"]), str(talking), "-o", str(tmp_path / "z.mp4"), "-q",
                 "--transfer", "pose,wink"]) == 2
    assert "unknown part to transfer: wink" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists() and not (tmp_path / "z.mp4").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial files left behind


def test_a_failing_driver_stops_the_target_tracking(talking, clips, tmp_path, monkeypatch):
    import threading

    from synthvid.errors import InputError
    from synthvid.pipelines import reenact as R
    from synthvid.reenact.motion import FaceFollower

    frames_seen = []
    started = threading.Event()
    real_call = FaceFollower.__call__

    def counting(self, frame):
        frames_seen.append(1)
        started.set()
        return real_call(self, frame)

    def failing_driver(*args, **kwargs):
        started.wait(10)  # the target's tracking is under way
        raise InputError("the driving clip is broken")

    monkeypatch.setattr(FaceFollower, "__call__", counting)
    monkeypatch.setattr(R, "track_video", failing_driver)
    out = tmp_path / "out.mp4"
    with pytest.raises(InputError, match="driving clip is broken"):
        reenact_video(talking, clips["hopper"], out, quiet=True)
    assert len(frames_seen) < probe_video(clips["hopper"]).frame_count // 2  # stopped, not tracked to the end
    assert not out.exists()
