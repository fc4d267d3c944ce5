"""Lip sync end to end on a tiny seeded clip: from audio, from text, a person-specific model, sync-check and its
fix, and the bad inputs the issue lists (no speech, no face, bad files, both or neither speech source)."""

from __future__ import annotations

import numpy as np
import torch
import pytest

from synthvid.cli import main
from synthvid.errors import InputError, NoFaceError
from synthvid.io.audio import write_wav
from synthvid.io.video import probe_video, read_metadata
from synthvid.lipsync.model import LipSyncModel
from synthvid.pipelines.lip_sync import LipSyncConfig, lipsync, train


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    from synthvid.pipelines.demo import voice_like_audio

    root = tmp_path_factory.mktemp("speech")
    return write_wav(root / "speech.wav", voice_like_audio(3.0, seed=5), 16000)


def test_lipsync_from_audio_longer_than_target(clips, speech, tmp_path):
    out = tmp_path / "ls.mp4"
    rep = lipsync(clips["astronaut"], out, audio=speech, preview=tmp_path / "p.png", quiet=True)
    info = probe_video(out)
    # 3 s of speech on a 1.6 s target: re-timed to the speech's length at the target's rate
    assert info.frame_count == rep.frames == 75 and abs(info.fps - 25) < 1e-6
    assert info.has_audio and abs(info.duration - 3.0) < 0.2
    assert read_metadata(out)["synthvid_job"] == "lipsync"
    assert (tmp_path / "p.png").is_file()


def test_lipsync_changes_only_the_mouth_region(clips):
    from synthvid.lipsync.texture import MouthSynthesizer
    from synthvid.pipelines.lip_sync import load_target, render_frame

    tgt = load_target(clips["astronaut"])
    synth = MouthSynthesizer(tgt.bank)
    st = tgt.motion.states[5]
    wide = tgt.mean_shape().copy()
    from synthvid.lipsync.shape import LIP_COUNT, POINTS
    lower = [i for i, p in enumerate(POINTS[:LIP_COUNT]) if wide[i, 1] > wide[:LIP_COUNT, 1].mean()]
    wide[lower, 1] += 0.08  # drop the lower lip: mouth opens
    out = render_frame(tgt.frames[5], st, wide, synth)
    diff = np.abs(out.astype(int) - tgt.frames[5].astype(int)).sum(2)
    ys, xs = np.nonzero(diff > 20)
    mouth = st.landmarks[[61, 291, 0, 17], :2]
    assert len(ys) > 20
    assert np.median(ys) > mouth[:, 1].min() - 10  # changes sit at and below the mouth, not in the eyes
    assert diff[: int(st.landmarks[168, 1])].max() < 40  # above the nose bridge nothing moves much


def test_cli_text_train_model_and_sync_check(clips, tmp_path, capsys):
    model = tmp_path / "model"
    assert main(["lipsync", "train", str(clips["astronaut"]), "-o", str(model), "-q", "--steps", "3"]) == 0
    assert (model / "checkpoint.pt").is_file() and (model / "person.npz").is_file()
    assert "LSTM fine-tuned to step 3" in capsys.readouterr().out
    closed = tmp_path / "closed"  # the default: the closed-form person-specific filter only, no training loop
    assert main(["lipsync", "train", str(clips["astronaut"]), "-o", str(closed), "-q"]) == 0
    assert "speech filter adapted on" in capsys.readouterr().out and not (closed / "stats.jsonl").exists()
    a, b = LipSyncModel.load(closed), LipSyncModel.load(model)
    assert torch.equal(a.network.filter.weight, b.network.filter.weight)  # fine-tuning leaves the filter alone
    assert not torch.equal(a.network.out.weight, b.network.out.weight)
    # The closed-form folder can be fine-tuned later; then a closed-form re-run will not overwrite it, and the
    # folder refuses other videos.
    assert main(["lipsync", "train", str(clips["astronaut"]), "-o", str(closed), "-q", "--steps", "2"]) == 0
    capsys.readouterr()
    assert main(["lipsync", "train", str(clips["astronaut"]), "-o", str(closed), "-q"]) != 0
    assert "fine-tuned for 2 steps" in capsys.readouterr().err
    assert main(["lipsync", "train", str(clips["hopper"]), "-o", str(closed), "-q", "--steps", "3"]) != 0
    assert "different settings" in capsys.readouterr().err
    out = tmp_path / "t.mp4"
    assert main(["lipsync", str(clips["hopper"]), "--text", "Hello world.", "-o", str(out), "-q",
                 "--model", str(model)]) == 0
    assert probe_video(out).has_audio
    assert main(["sync-check", str(clips["astronaut"]), "-q", "--max-offset", "5",
                 "--fix", str(tmp_path / "fixed.mp4")]) == 0
    text = capsys.readouterr().out
    assert "correlation" in text and (tmp_path / "fixed.mp4").is_file()
    assert probe_video(tmp_path / "fixed.mp4").frame_count == probe_video(clips["astronaut"]).frame_count


def test_bad_inputs(clips, speech, tmp_path, portraits):
    silent = write_wav(tmp_path / "silent.wav", np.zeros(16000, np.float32), 16000)
    with pytest.raises(InputError, match="no speech"):
        lipsync(clips["astronaut"], tmp_path / "a.mp4", audio=silent, quiet=True)
    with pytest.raises(InputError, match="exactly one"):
        lipsync(clips["astronaut"], tmp_path / "a.mp4", audio=speech, text="hi", quiet=True)
    with pytest.raises(InputError, match="exactly one"):
        lipsync(clips["astronaut"], tmp_path / "a.mp4", quiet=True)
    with pytest.raises(InputError, match="longer than"):
        lipsync(clips["astronaut"], tmp_path / "a.mp4", audio=speech, config=LipSyncConfig(max_seconds=1),
                quiet=True)
    from synthvid.io.output import Stamp, VideoOutput
    blank = tmp_path / "blank.mp4"
    with VideoOutput(blank, Stamp("test"), fps=25, width=64, height=64, audio_from=speech) as v:
        for i in range(20):
            v.write(np.full((64, 64, 3), 40 + i, np.uint8))
    with pytest.raises(NoFaceError):
        lipsync(blank, tmp_path / "a.mp4", audio=speech, quiet=True)
    assert not (tmp_path / "a.mp4").exists() and not list(tmp_path.glob(".*partial*"))
    bad = tmp_path / "x.mp3"
    bad.write_bytes(b"\x00" * 100)
    assert main(["lipsync", str(clips["astronaut"]), "--audio", str(bad), "-o", str(tmp_path / "b.mp4"), "-q"]) != 0
    assert main(["lipsync", str(clips["astronaut"]), "--text", "\x07", "-o", str(tmp_path / "b.mp4"), "-q"]) != 0
    assert main(["sync-check", str(tmp_path / "missing.mp4"), "-q"]) != 0
    assert not (tmp_path / "b.mp4").exists()
    # a first `lipsync train` that fails leaves no folder; the output may not be the target itself
    with pytest.raises(NoFaceError):
        train([blank], tmp_path / "model", quiet=True)
    assert not (tmp_path / "model").exists()
    from synthvid.errors import OutputError
    with pytest.raises(OutputError, match="would destroy the input"):
        lipsync(blank, blank, audio=speech, quiet=True)
    with pytest.raises(OutputError, match="does not exist"):  # a bad preview path fails before any work
        lipsync(clips["astronaut"], tmp_path / "c.mp4", audio=speech, preview=tmp_path / "no" / "p.png", quiet=True)
    assert not (tmp_path / "c.mp4").exists()


def test_lipsync_demo(tmp_path):
    from synthvid.pipelines.demo import run_lipsync_demo

    text = run_lipsync_demo(tmp_path / "demo", seconds=2.0, text="Bob met Pam.", quiet=True)
    out = tmp_path / "demo" / "astronaut_says.mp4"
    assert "lip sync:" in text and str(out) in text
    info = probe_video(out)
    assert info.has_audio and 0.5 < info.duration < 3.0  # as long as the spoken text
    assert read_metadata(out)["synthvid_job"] == "lipsync"
    assert (tmp_path / "demo" / "astronaut_says.png").is_file() and (tmp_path / "demo" / "README.txt").is_file()

