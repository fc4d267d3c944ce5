"""Neural refinement of reenactment: the landmark sketch, training pairs from a target video, the refiner's
paste-back (identity when untrained, changes only inside the face), training + resume through the CLI, refined
photo reenactment, and one-line errors for bad models and faces files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthvid.cli import main
from synthvid.errors import CheckpointError, InputError
from synthvid.face import landmarks as L
from synthvid.face.canonical import canonical_face
from synthvid.face.detect import detect_faces
from synthvid.io.output import Stamp, write_image
from synthvid.io.video import VideoReader
from synthvid.metrics.image import l1
from synthvid.models.refiner import RefineNet, RefinerConfig, landmark_sketch
from synthvid.pipelines.reenact import ReenactConfig, reenact_photo
from synthvid.reenact.refine import TargetFaces, Refiner, collect_target, render_pair

SMALL = RefinerConfig(resolution=64, base=8, blocks=1)


@pytest.fixture(scope="module")
def faces(clips):
    return collect_target(clips["astronaut"], SMALL, max_frames=40, quiet=True)


def test_sketch_puts_each_part_in_its_channel():
    c = canonical_face()[:, :2]
    pts = (c - c.mean(0)) / np.ptp(c, 0).max() * 90 + 64  # the canonical face filling a 128 px image
    sk = landmark_sketch(pts, 128)
    assert sk.shape == (128, 128, 3) and sk.dtype == np.uint8
    for ch, idx in ((0, L.FACE_OVAL), (1, L.RIGHT_EYE), (2, L.LIPS_OUTER)):
        x, y = np.round(pts[idx[0]]).astype(int)
        assert sk[y - 1:y + 2, x - 1:x + 2, ch].max() > 100  # drawn where the part is
    mouth_y = int(pts[list(L.LIPS_OUTER), 1].mean())
    assert sk[:mouth_y - 12, :, 2].max() == 0  # the lips channel holds nothing above the mouth
    assert landmark_sketch(pts, 128).tobytes() == sk.tobytes()


def test_collected_faces_and_pairs(faces, tmp_path):
    assert len(faces) >= 30 and faces.crops.shape[1:] == (128, 128, 3)
    assert np.all(np.diff(faces.frames) > 0)
    same, real, pts = render_pair(faces, 5, 5, SMALL)
    assert same.shape == real.shape == (64, 64, 3) and pts.shape == (478, 3)
    assert l1(same, real) < 0.02  # a face rendered to its own landmarks is (almost) itself
    other, real2, _ = render_pair(faces, 5, 30, SMALL)
    assert l1(real, real2) < 0.01  # the target crop barely depends on the source (aligned on the rendering)
    assert l1(other, real) > l1(same, real)
    faces.save(tmp_path / "f.npz")
    back = TargetFaces.load(tmp_path / "f.npz", 64)
    assert np.array_equal(back.crops, faces.crops) and back.source == faces.source
    with pytest.raises(InputError, match="does not hold the 256-px faces"):
        TargetFaces.load(tmp_path / "f.npz", 128)
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(InputError, match="not a readable faces file"):
        TargetFaces.load(tmp_path / "junk.npz", 64)
    np.save(tmp_path / "array.npy", np.zeros(3))  # a plain array, not an archive
    with pytest.raises(InputError):
        TargetFaces.load(tmp_path / "array.npy", 64)
    np.savez(tmp_path / "flat.npz", crops=faces.crops, points=faces.points, matrices=np.zeros_like(faces.matrices),
             frames=faces.frames, source=np.array(["a", "b"]))  # singular transforms
    with pytest.raises(InputError, match="does not hold"):
        TargetFaces.load(tmp_path / "flat.npz", 64)


def test_untrained_refiner_is_identity_and_changes_stay_in_the_face(portraits):
    torch.manual_seed(0)
    image = portraits["astronaut"]
    lm = detect_faces(image, max_faces=1)[0].landmarks
    net = RefineNet(SMALL)
    assert np.array_equal(Refiner(net, SMALL)(image, lm), image)
    with torch.no_grad():
        net.head.bias.fill_(0.2)  # brighten everything the network outputs
    out = Refiner(net, SMALL)(image, lm).astype(int) - image.astype(int)
    x, y = np.round(lm[L.NOSE_TIP, :2]).astype(int)
    assert out[y, x].min() > 15  # inside the face: the change is pasted back
    assert np.abs(out[:40]).max() == 0 and np.abs(out[:, :40]).max() == 0  # far from the face: untouched


def test_train_resume_and_refined_photo(clips, portraits, tmp_path, capsys):
    import json

    from synthvid.train.checkpoint import load_checkpoint, save_checkpoint

    model = tmp_path / "refiner"
    args = ["reenact", "train", str(clips["astronaut"]), "-o", str(model), "-q", "--resolution", "64", "--base",
            "8", "--blocks", "1", "--batch-size", "2", "--max-frames", "20"]
    assert main([*args, "--steps", "2"]) == 0
    assert "done: step 2" in capsys.readouterr().out
    assert main([*args, "--steps", "3"]) == 0  # the same command resumes
    assert "done: step 3" in capsys.readouterr().out
    assert json.loads((model / "options.json").read_text())["resumed_at_step"] == 2
    assert (model / "preview.png").is_file() and len(TargetFaces.load(model / "faces.npz", 64)) == 20
    # another person's video or another network shape in the same folder: refused before any work
    assert main(["reenact", "train", str(clips["hopper"]), *args[3:], "--steps", "4"]) == 2
    assert "holds the refiner of astronaut.mp4" in capsys.readouterr().err
    assert main([*args[:7], "128", *args[8:], "--steps", "4"]) == 2
    assert "other network settings" in capsys.readouterr().err
    # a refiner that brightens its output must change the face of a refined reenactment, and only there
    ck = load_checkpoint(model / "checkpoint.pt")
    ck["state_dict"]["refiner"]["head.bias"].fill_(0.2)
    save_checkpoint(model / "checkpoint.pt", ck)
    portrait = write_image(tmp_path / "p.png", portraits["astronaut"][:384, 64:448], Stamp("t", synthetic=False))
    plain = reenact_photo(portrait, clips["astronaut"], tmp_path / "plain.mp4", quiet=True)
    refined = reenact_photo(portrait, clips["astronaut"], tmp_path / "out.mp4", ReenactConfig(refine=str(model)),
                            quiet=True)
    assert plain.frames == refined.frames == 40
    a, b = next(iter(VideoReader(plain.output))), next(iter(VideoReader(refined.output)))
    lm = detect_faces(a, max_faces=1)[0].landmarks
    x, y = np.round(lm[L.NOSE_TIP, :2]).astype(int)
    assert b[y, x].astype(int).mean() - a[y, x].astype(int).mean() > 10  # brighter inside the face
    assert np.abs(b[:30].astype(int) - a[:30]).mean() < 2  # the top of the picture is (nearly) unchanged
    # video and live modes take the refiner too
    from synthvid.pipelines.reenact import reenact_stream, reenact_video

    video = reenact_video(clips["hopper"], clips["astronaut"], tmp_path / "v.mp4", ReenactConfig(refine=str(model)),
                          quiet=True)
    assert video.frames == 40
    live = reenact_stream(portrait, str(clips["hopper"]), tmp_path / "s.mp4", ReenactConfig(refine=str(model)),
                          max_frames=5, quiet=True)
    assert live.frames == 5


def test_bad_refiner_models_give_one_line(clips, portraits, tmp_path, capsys):
    portrait = write_image(tmp_path / "p.png", portraits["astronaut"][:256, 128:384], Stamp("t", synthetic=False))
    out = tmp_path / "o.mp4"
    assert main(["reenact", "photo", str(portrait), str(clips["astronaut"]), "-o", str(out), "-q", "--refine",
                 str(tmp_path / "none")]) == 2
    assert "no refiner model at" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "checkpoint.pt").write_bytes(b"\x80\x04junk")
    with pytest.raises(CheckpointError):
        Refiner.load(tmp_path / "bad")
    assert main(["reenact", "photo", str(portrait), str(clips["astronaut"]), "-o", str(out), "-q", "--refine",
                 str(tmp_path / "bad")]) == 4
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not out.exists()
