"""The manipulated-face detector: self-blended images, the network, training plumbing, `synthvid detect`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from synthvid.cli import main
from synthvid.errors import InputError
from synthvid.models.detector import DetectorConfig, FakeDetector, log_spectrum, radial_bins
from synthvid.provenance.self_blend import (LOOK_EDITS, add_glasses, boundary_map, degrade, edit_look, restyle,
                                            self_blend)

TINY = DetectorConfig(resolution=64, base=8, spectrum_bins=16)


@pytest.fixture(scope="module")
def astronaut_face(portraits: dict[str, np.ndarray]):
    """The astronaut's aligned 128-px detector crop with its landmarks."""
    from synthvid.face.detect import FaceDetector
    from synthvid.provenance.detect import face_crops

    with FaceDetector(video=False) as det:
        found = face_crops(portraits["astronaut"], det, DetectorConfig())
    assert len(found) == 1
    return found[0]


def test_self_blend_changes_only_the_masked_region(astronaut_face) -> None:
    face, pts = astronaut_face.crop, astronaut_face.points
    out, m = self_blend(face, pts, np.random.default_rng(0))
    assert out.shape == face.shape and out.dtype == np.uint8 and m.shape == face.shape[:2]
    assert 0.0 <= m.min() and m.max() <= 1.0 and m.max() > 0.2
    outside = m == 0
    assert outside.mean() > 0.2  # the blend stays on the face
    assert np.abs(out[outside].astype(int) - face[outside]).max() <= 1
    inside = m > 0.9 * m.max()
    assert np.abs(out[inside].astype(float) - face[inside]).mean() > 1.0
    again, m2 = self_blend(face, pts, np.random.default_rng(0))
    assert np.array_equal(out, again) and np.array_equal(m, m2)  # seeded


def test_face_inset_moves_only_the_whole_face_mask_inwards(astronaut_face) -> None:
    """The same draws with an inset: whole-face masks shrink inside their plain selves (their edge leaves the hairline
    and outline), the inner- and lower-face masks are unchanged."""
    from synthvid.provenance.self_blend import REGIONS, blend_mask

    pts, kinds = astronaut_face.points, set()
    for seed in range(12):
        kind = int(np.random.default_rng(seed).choice(len(REGIONS), p=[p for _, p in REGIONS]))
        kinds.add(kind)
        plain = blend_mask(pts, 128, np.random.default_rng(seed))
        inset = blend_mask(pts, 128, np.random.default_rng(seed), face_inset=0.05)
        if kind != 0:
            assert np.array_equal(plain, inset), seed
            continue
        a, b = plain > 0.5, inset > 0.5
        assert b.sum() < 0.8 * a.sum() and not (b & ~a).any(), seed
        top_a, top_b = np.nonzero(a.any(1))[0][0], np.nonzero(b.any(1))[0][0]
        assert abs(top_a - pts[10, 1]) < 10 and top_b >= top_a + 4, seed  # at the hairline, then below it
    assert kinds == {0, 1, 2}


def test_glasses_are_drawn_across_the_eyes_only(astronaut_face) -> None:
    face, pts = astronaut_face.crop, astronaut_face.points
    for seed in range(5):
        out = add_glasses(face, pts, np.random.default_rng(seed))
        assert out.shape == face.shape and out.dtype == np.uint8
        changed = np.abs(out.astype(int) - face).max(2) > 8
        ys, xs = np.nonzero(changed)
        assert len(ys) > 100  # rims, bridge and temples are drawn
        eyes = pts[[33, 133, 263, 362], 1]
        d = np.linalg.norm(pts[263, :2] - pts[33, :2])
        # nothing above the brows or below the nose tip moves: the frame and the lenses stay around the eyes
        assert ys.min() > eyes.min() - 0.6 * d and ys.max() < pts[1, 1] + 0.1 * d
        assert not changed[int(pts[152, 1]) - 3:].any()  # chin and below untouched
        assert np.array_equal(out, add_glasses(face, pts, np.random.default_rng(seed)))  # seeded


def test_self_blend_rejects_bad_input(astronaut_face) -> None:
    with pytest.raises(InputError, match="square uint8"):
        self_blend(astronaut_face.crop.astype(np.float32), astronaut_face.points, np.random.default_rng(0))
    with pytest.raises(InputError, match="478 landmarks"):
        self_blend(astronaut_face.crop, astronaut_face.points[:68], np.random.default_rng(0))


def test_boundary_map_marks_the_edge_not_the_inside() -> None:
    import cv2

    m = np.zeros((64, 64), np.float32)
    m[16:48, 16:48] = 1.0
    m = cv2.GaussianBlur(m, (0, 0), 2.0) * 0.5  # a half-strength blend
    b = boundary_map(m, 16)
    assert b.shape == (16, 16) and b.dtype == np.float32
    assert b[8, 8] < 0.05  # centre of the blended square
    assert b[4, 8] > 0.2  # on its edge
    assert b.max() <= 0.5 + 1e-6  # half-strength blend, half-strength boundary
    assert not boundary_map(np.zeros((64, 64), np.float32), 16).any()


def test_degrade_keeps_shape_and_type() -> None:
    rng = np.random.default_rng(1)
    face = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    for _ in range(10):
        out = degrade(face, rng)
        assert out.shape == face.shape and out.dtype == np.uint8


def test_restyle_changes_the_whole_crop_alike() -> None:
    rng = np.random.default_rng(2)
    flat = np.full((32, 32, 3), (150, 110, 90), np.uint8)
    looks = [restyle(flat, rng) for _ in range(40)]
    for out in looks:  # a global change: a flat crop stays flat (nothing local is added)
        assert out.shape == flat.shape and out.dtype == np.uint8
        assert np.ptp(out.reshape(-1, 3), 0).max() <= 1
    means = np.array([o.reshape(-1, 3).mean(0) for o in looks])
    assert means[:, 0].std() > 10  # exposure varies between draws
    warmth = means[:, 0] - means[:, 2]
    assert warmth.std() > 5  # and so does the colour balance
    a = restyle(flat, np.random.default_rng(3))
    assert np.array_equal(a, restyle(flat, np.random.default_rng(3)))


def test_spectrum_features() -> None:
    rings = radial_bins(32, 8)
    assert rings.shape == (8, 32 * 17)
    assert torch.allclose(rings.sum(1), torch.ones(8))
    # a fine vertical stripe pattern puts its energy in the outer rings; a smooth ramp in the inner ones
    x = torch.arange(32, dtype=torch.float32)
    stripes = ((x % 2) * 2 - 1).view(1, 1, 1, 32).expand(1, 3, 32, 32)
    ramp = (x / 16 - 1).view(1, 1, 1, 32).expand(1, 3, 32, 32)
    s, r = log_spectrum(stripes, rings)[0], log_spectrum(ramp, rings)[0]
    assert s[-3:].mean() > s[:3].mean() and r[:3].mean() > r[-3:].mean()
    assert abs(float(s.mean())) < 1e-4  # mean removed


def test_detector_shapes_and_input_check() -> None:
    torch.manual_seed(0)
    net = FakeDetector(TINY).eval()
    logit, blend = net(torch.zeros(2, 3, 64, 64))
    assert logit.shape == (2,) and blend.shape == (2, 1, 16, 16)
    with pytest.raises(InputError, match="B x 3 x 64 x 64"):
        net(torch.zeros(2, 3, 32, 32))
    with pytest.raises(InputError, match="multiple of 16"):
        DetectorConfig(resolution=100)


@pytest.fixture(scope="module")
def tiny_detector(tmp_path_factory: pytest.TempPathFactory, clips: dict[str, Path]) -> Path:
    """A tiny detector trained for a few steps on the test clips (the Hopper clip as 'synthvid output')."""
    from synthvid.provenance.detector_training import DetectorTrainConfig, export_detector, train_detector
    from synthvid.train.loop import LoopConfig

    run = tmp_path_factory.mktemp("detector") / "run"
    summary = train_detector([clips["astronaut"]], run, fake=[clips["hopper"]], model=TINY,
                             config=DetectorTrainConfig(batch_size=8), loop=LoopConfig(steps=4, seed=0),
                             every=4, quiet=True)
    assert summary.step == 4 and np.isfinite(summary.losses["total"])
    for name in ("checkpoint.pt", "stats.jsonl", "preview.png", "options.json", "real_faces.npz", "synthvid_faces.npz"):
        assert (run / name).is_file(), name
    return export_detector(run, run.parent / "detector.pt")


def test_training_resumes_and_export_is_half_precision(tiny_detector: Path, clips: dict[str, Path]) -> None:
    from synthvid.provenance.detector_training import DetectorTrainConfig, train_detector
    from synthvid.train.checkpoint import load_checkpoint
    from synthvid.train.loop import LoopConfig

    run = tiny_detector.parent / "run"
    summary = train_detector([clips["astronaut"]], run, fake=[clips["hopper"]], model=TINY,
                             config=DetectorTrainConfig(batch_size=8, lr=1e-4, weight_decay=0.0),
                             loop=LoopConfig(steps=6, seed=0), every=4, quiet=True)
    assert summary.step == 6 and summary.run_steps == 2
    # the resumed run trained with its own settings, not those stored in the optimiser state
    group = load_checkpoint(run / "checkpoint.pt")["optimizer"]["detector"]["param_groups"][0]
    assert group["lr"] == 1e-4 and group["weight_decay"] == 0.0
    ck = load_checkpoint(tiny_detector, "sbi-xray-detector-1")
    weights = ck["state_dict"]["detector"]
    assert all(v.dtype == torch.float16 for v in weights.values() if v.is_floating_point())
    assert ck["config"]["model"]["resolution"] == 64


def test_detect_video_and_heatmap(tiny_detector: Path, clips: dict[str, Path], tmp_path: Path) -> None:
    from synthvid.io.image import read_image
    import synthvid.detect
    from synthvid.provenance.detect import EXIT_MANIPULATED, EXIT_REAL

    heat = tmp_path / "heat.png"
    r = synthvid.detect.detect(clips["astronaut"], model=tiny_detector, max_frames=5, heatmap=heat, quiet=True)
    assert 1 <= len(r.frames) <= 5 and len(r.frame_probabilities) == len(r.frames)
    assert r.frames == [0, 10, 20, 29, 39]  # spread over the whole 40-frame clip
    assert all(0.0 <= p <= 1.0 for p in r.frame_probabilities)
    assert r.probability == pytest.approx(np.mean(r.frame_probabilities), abs=1e-4)
    assert r.exit_code == (EXIT_MANIPULATED if r.probability >= 0.5 else EXIT_REAL)
    image = read_image(heat)
    assert image.shape == (256, 512, 3)  # frame | heat map
    assert json.loads(r.to_json())["heatmap"] == str(heat)


def test_shipped_detector_tells_a_self_blend_from_the_original(astronaut_face) -> None:
    """The shipped weights score self-blended versions of a face they never saw above the face itself."""
    from synthvid.provenance.detect import load_detector, score_crops

    net = load_detector()
    rng = np.random.default_rng(7)
    fakes = [self_blend(astronaut_face.crop, astronaut_face.points, rng)[0] for _ in range(8)]
    prob, maps = score_crops(net, [astronaut_face.crop, *fakes])
    assert maps.shape == (9, 32, 32) and 0.0 <= maps.min() and maps.max() <= 1.0
    assert np.median(prob[1:]) > prob[0]
    assert prob[0] < 0.5


def test_shipped_detector_ignores_the_look_of_a_recording(astronaut_face) -> None:
    """A real face stays real under global colour and exposure edits (the weights before restyled training swung from
    0.02 to 1.00 on one real clip under such edits)."""
    from synthvid.provenance.detect import load_detector, score_crops

    crops = [astronaut_face.crop] + [edit_look(astronaut_face.crop, name) for name in LOOK_EDITS]
    prob, _ = score_crops(load_detector(), crops)
    # mean change 0.07 (the previous weights: 0.25); gamma 0.7, which clips this photo's highlights, is the worst
    assert np.abs(prob[1:] - prob[0]).mean() < 0.1, prob
    assert prob[0] < 0.5 and np.median(prob) < 0.3


def test_detect_cli(tiny_detector: Path, clips: dict[str, Path], portraits: dict[str, np.ndarray], tmp_path: Path,
                   capsys: pytest.CaptureFixture[str]) -> None:
    from synthvid.io.image import encode_image

    code = main(["detect", str(clips["hopper"]), "--model", str(tiny_detector), "--json", "--max-frames", "3"])
    report = json.loads(capsys.readouterr().out)
    assert code == report["exit_code"] and code in (0, 1)
    assert report["verdict"] in ("likely real", "likely manipulated") and len(report["frames"]) <= 3
    # the shipped weights on a photo
    photo = tmp_path / "astronaut.png"
    photo.write_bytes(encode_image(portraits["astronaut"], ".png"))
    code = main(["detect", str(photo)])
    out = capsys.readouterr().out
    assert code in (0, 1) and "manipulated:" in out and "verdict:" in out


def test_detect_truncated_video(tiny_detector: Path, clips: dict[str, Path], tmp_path: Path) -> None:
    """A video cut short (an interrupted download; our writer puts the index first) is scored on the frames
    before the cut."""
    from synthvid.provenance.detect import detect_file

    data = clips["astronaut"].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    r = detect_file(cut, model=tiny_detector, max_frames=40, quiet=True)
    assert 5 <= len(r.frames) < 35 and r.frames == list(range(len(r.frames)))  # the 40-frame clip's first part


def test_real_faces_can_carry_the_mark_synthvid_outputs_carry(portraits: dict[str, np.ndarray],
                                                               tmp_path: Path) -> None:
    """Training reals marked like synthvid's outputs: the same face is found (the mark is faint), the crop is not
    the unmarked one, and every source gets its own payload."""
    import cv2

    from synthvid.provenance import watermark as wm
    from synthvid.provenance.detector_training import collect_faces

    frame = portraits["astronaut"]
    path = tmp_path / "real.png"
    cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    plain = collect_faces([path], DetectorConfig(), quiet=True)
    marked = collect_faces([path], DetectorConfig(), quiet=True, mark=1.0)
    again = collect_faces([path], DetectorConfig(), quiet=True, mark=1.0)
    assert len(plain) == len(marked) == 1
    assert np.abs(marked.points[0] - plain.points[0]).mean() < 1.5  # crop pixels (128 px crop)
    assert not np.array_equal(marked.crops[0], plain.crops[0])
    assert not np.array_equal(marked.crops[0], again.crops[0])  # a new payload for every source
    emb = wm.Embedder(wm.Payload.new())
    assert wm.detect_frames([emb(frame)]).payload == emb.payload  # (what collect_faces adds to each frame)


def test_faces_file_checked(tmp_path: Path) -> None:
    """A damaged or foreign faces file (from a training run folder) is refused in one line."""
    from synthvid.provenance.detector_training import FaceSamples

    zipped = tmp_path / "zip.npz"
    zipped.write_bytes(b"PK\x03\x04garbage")
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, crops=np.zeros((2, 8, 8, 3), np.uint8), points=np.array(["a", "b"]), video=np.zeros(2, int),
             sources=np.array(["x"]))
    for path in (zipped, wrong):
        with pytest.raises(InputError, match="faces file|detector crops"):
            FaceSamples.load(path, 64)


def test_detect_bad_input(tiny_detector: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from synthvid.io.audio import write_wav
    from synthvid.io.image import encode_image

    noface = tmp_path / "noface.png"
    noface.write_bytes(encode_image(np.full((64, 64, 3), 128, np.uint8), ".png"))
    wav = write_wav(tmp_path / "speech.wav", np.zeros(16000, np.float32), 16000)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    cases = [(noface, "no face found"), (wav, "no video stream"), (junk, ""), (tmp_path / "missing.mp4", "not")]
    for path, words in cases:
        code = main(["detect", str(path), "--model", str(tiny_detector)])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.startswith("synthvid: error:") and words in err and "\n" not in err, (path, err)
    for extra, words, want in ((["--device", "gpu"], "device must be", 2),
                               (["--heatmap", str(tmp_path / "h.gif")], ".gif", 5)):  # checked before any work
        code = main(["detect", str(noface), *extra])
        err = capsys.readouterr().err.strip()
        assert code == want and words in err and "\n" not in err, err
    code = main(["detect", str(noface), "--model", str(tmp_path / "speech.wav")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "checkpoint" in err and "\n" not in err


def test_a_bug_never_reads_as_a_verdict(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 1 means "likely manipulated" (detect) and "not marked" (verify): an internal error must not say that."""
    from synthvid.provenance import detect

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(detect, "detect_file", broken)
    code = main(["detect", str(tmp_path / "any.mp4")])
    err = capsys.readouterr().err.strip()
    assert code == 70 and err.startswith("synthvid: internal error: RuntimeError: simulated bug")


def test_calibrated_threshold_known_values() -> None:
    """Logits -2..2: mean 0, sd sqrt(2.5); the 5% one-sided prediction bound for one more video is
    t(0.95, 4) = 2.1318 sd, widened by sqrt(1 + 1/5)."""
    from synthvid.provenance.detect import calibrated_threshold

    scores = 1 / (1 + np.exp(-np.array([-2.0, -1.0, 0.0, 1.0, 2.0])))
    bound = 2.131847 * np.sqrt(2.5) * np.sqrt(1.2)
    assert calibrated_threshold(scores, 0.05) == pytest.approx(1 / (1 + np.exp(-bound)), abs=1e-5)
    assert calibrated_threshold(scores, 0.01) > calibrated_threshold(scores, 0.05) > calibrated_threshold(scores, 0.2)
    # more videos of the same spread: a tighter (lower) bound
    assert calibrated_threshold(np.repeat(scores, 4), 0.05) < calibrated_threshold(scores, 0.05)
    for bad, rate, words in (([0.1, 0.2], 0.05, "at least 3"), ([0.1, 0.2, 1.5], 0.05, "probabilities"),
                             ([0.1, 0.2, 0.3], 0.0, "between 0 and 0.5"), ([0.1, 0.2, 0.3], 0.6, "between 0 and 0.5")):
        with pytest.raises(ValueError, match=words):
            calibrated_threshold(bad, rate)


def test_calibration_is_stored_in_the_weights_and_used(tiny_detector: Path, clips: dict[str, Path], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from synthvid.errors import CheckpointError
    from synthvid.provenance.detect import calibrated_threshold, detect_file
    from synthvid.provenance.detector_training import calibrate_detector
    from synthvid.train.checkpoint import load_checkpoint, save_checkpoint

    third = tmp_path / "third.mp4"
    shutil.copy(clips["astronaut"], third)
    reals = [clips["astronaut"], clips["hopper"], third]
    out = tmp_path / "calibrated.pt"
    cal = calibrate_detector(tiny_detector, reals, out, false_positive_rate=0.1, max_frames=3, quiet=True)
    assert cal["videos"] == 3 and cal["files"] == ["astronaut.mp4", "hopper.mp4", "third.mp4"]
    assert cal["scores"][0] == cal["scores"][2]  # the same video scores alike
    assert cal["threshold"] == pytest.approx(calibrated_threshold(cal["scores"], 0.1), abs=1e-4)
    plain = detect_file(clips["hopper"], model=tiny_detector, max_frames=3, quiet=True)
    assert plain.threshold == 0.5 and plain.threshold_source.startswith("default")
    r = detect_file(clips["hopper"], model=out, max_frames=3, quiet=True)
    assert r.threshold == cal["threshold"] and r.threshold_source.startswith("calibrated: 10% of real videos")
    assert r.verdict == ("likely manipulated" if r.probability >= r.threshold else "likely real")
    given = detect_file(clips["hopper"], model=out, max_frames=3, threshold=0.3, quiet=True)
    assert given.threshold == 0.3 and given.threshold_source == "given"
    # the summary says where the threshold came from
    assert main(["detect", str(clips["hopper"]), "--model", str(out), "--max-frames", "3", "--quiet"]) in (0, 1)
    assert "calibrated: 10%" in capsys.readouterr().out
    # a training checkpoint is not calibrated in place, and fewer than 3 usable videos is one clear error
    with pytest.raises(CheckpointError, match="not an exported"):
        calibrate_detector(tiny_detector.parent / "run" / "checkpoint.pt", reals, tmp_path / "x.pt", quiet=True)
    with pytest.raises(InputError, match="at least 3"):
        calibrate_detector(tiny_detector, reals[:2], tmp_path / "x.pt", max_frames=3, quiet=True)
    assert not (tmp_path / "x.pt").exists()
    # a hostile file's calibration is checked, not trusted
    ck = load_checkpoint(out)
    for bad in ({"threshold": 1.5, "false_positive_rate": 0.05, "videos": 7}, {"threshold": "low"}):
        ck["config"]["calibration"] = bad
        save_checkpoint(tmp_path / "bad.pt", ck)
        code = main(["detect", str(clips["hopper"]), "--model", str(tmp_path / "bad.pt"), "--max-frames", "2"])
        err = capsys.readouterr().err.strip()
        assert code == 4 and "calibration" in err and "\n" not in err, (code, err)
