"""Motion transfer end to end on a tiny seeded clip (the astronaut portrait moving: an upper body, feet out of
frame): train a tiny model, transfer, the pose command, and the bad inputs the issue lists."""

from __future__ import annotations

import numpy as np
import pytest

from synthvid.cli import main
from synthvid.errors import CheckpointError, InputError
from synthvid.io.output import Stamp, VideoOutput
from synthvid.io.video import VideoReader, probe_video, read_metadata

TINY = ["--resolution", "128", "--base", "8", "--blocks", "1", "--face-base", "4", "--batch-size", "2",
        "--gan-start", "1", "--steps", "2"]


@pytest.fixture(scope="module")
def dance_model(clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("dance") / "model"
    assert main(["dance", "train", str(clips["astronaut"]), "-o", str(out), "-q", *TINY]) == 0
    return out


def test_train_writes_a_resumable_model(dance_model, clips, capsys):
    from synthvid.pipelines.motion_transfer import TargetData

    assert (dance_model / "checkpoint.pt").is_file() and (dance_model / "preview.png").is_file()
    data = TargetData.load(dance_model / "target.npz")
    assert data.frames.shape[1:] == (128, 128, 3) and data.track.found.sum() >= 30
    assert data.background.shape == (256, 256, 3)
    assert not data.ground["auto"]["feet"]  # a portrait: the ankles are out of frame
    # re-running with a larger budget resumes from step 2
    assert main(["dance", "train", str(clips["astronaut"]), "-o", str(dance_model), "-q", *TINY[:-1], "3"]) == 0
    assert "step 3" in capsys.readouterr().out


def test_transfer_cli_writes_video_matte_and_preview(dance_model, clips, tmp_path, capsys):
    out, matte, prev = tmp_path / "out.mp4", tmp_path / "matte.mp4", tmp_path / "p.png"
    code = main(["dance", "transfer", str(clips["hopper"]), "--model", str(dance_model), "-o", str(out),
                 "--matte", str(matte), "--preview", str(prev), "-q"])
    assert code == 0
    line = capsys.readouterr().out
    assert "feet out of frame" in line  # neither clip shows feet: hip/torso normalisation, and it says so
    src, info = probe_video(clips["hopper"]), probe_video(out)
    assert info.frame_count == src.frame_count and (info.width, info.height) == (256, 256)
    assert info.has_audio  # the source's audio is kept
    assert read_metadata(out)["synthvid_job"] == "dance.transfer" and prev.is_file()
    with VideoReader(matte) as r:
        m = next(iter(r)).astype(int)
    # A grey-level matte (after two training steps it is not yet a clean white-on-black person, and its exact levels
    # vary with the tracker's run-to-run noise): equal channels, and a real range between person and background.
    assert np.abs(m - m[..., :1]).max() <= 12 and m.max() - m.min() > 100


def test_transfer_green_background_and_no_normalisation(dance_model, clips, tmp_path):
    from synthvid.pipelines.motion_transfer_render import TransferConfig, transfer

    rep = transfer(clips["astronaut"], dance_model, tmp_path / "g.mp4", TransferConfig(background="green",
                   normalize=False, face=False), frames=(0, 10), quiet=True)
    assert rep.frames == 10 and "normalisation off" in rep.summary()
    with VideoReader(tmp_path / "g.mp4") as r:
        f = next(iter(r))
    assert abs(int(f[2, 2, 1]) - 177) < 12 and f[2, 2, 0] < 20  # chroma green where there is no person


def test_transfer_alpha_layer_for_editors(dance_model, clips, tmp_path):
    import av

    from synthvid.pipelines.motion_transfer_render import TransferConfig, transfer

    with pytest.raises(InputError, match=r"\.mov"):
        transfer(clips["hopper"], dance_model, tmp_path / "a.mp4", TransferConfig(background="alpha"), quiet=True)
    out = tmp_path / "a.mov"
    transfer(clips["hopper"], dance_model, out, TransferConfig(background="alpha"), frames=(0, 4), quiet=True)
    with av.open(str(out)) as c:
        rgba = next(iter(c.decode(c.streams.video[0]))).to_ndarray(format="rgba")
    assert rgba.shape == (256, 256, 4)
    a = rgba[..., 3]
    assert a.min() == 0 and a.max() > 100  # transparent around the person, opaque on them


def test_pose_command_draws_the_skeleton(clips, tmp_path, capsys):
    out = tmp_path / "pose.mp4"
    assert main(["pose", str(clips["astronaut"]), "-o", str(out), "--on", "black", "-q"]) == 0
    assert "a person in" in capsys.readouterr().out
    with VideoReader(out) as r:
        frames = list(r)
    assert len(frames) == probe_video(clips["astronaut"]).frame_count
    assert (frames[5].max(axis=2) > 100).mean() > 0.002  # limbs drawn on black
    assert read_metadata(out)["synthvid_synthetic"] == "false"


def _write_clip(path, frames, fps=25):
    with VideoOutput(path, Stamp("test"), fps=fps, width=frames[0].shape[1], height=frames[0].shape[0]) as out:
        for f in frames:
            out.write(f)
    return path


def test_short_or_empty_targets_and_sources_fail_in_one_line(clips, dance_model, tmp_path, capsys):
    from synthvid.pipelines.motion_transfer import train
    from synthvid.train.loop import LoopConfig

    model = tmp_path / "m"
    code = main(["dance", "train", str(clips["astronaut"]), "-o", str(model), "--frames", "0:12", "-q", *TINY])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "at least 30" in err and len(err.splitlines()) == 1
    assert not model.exists()  # nothing half-written
    blank = _write_clip(tmp_path / "blank.mp4", [np.full((96, 96, 3), 40, np.uint8)] * 8)
    with pytest.raises(InputError, match="no person found"):
        from synthvid.pipelines.motion_transfer_render import transfer

        transfer(blank, dance_model, tmp_path / "x.mp4", quiet=True)
    assert not (tmp_path / "x.mp4").exists()
    with pytest.raises(InputError, match="person 3 was asked for"):
        train(clips["astronaut"], tmp_path / "m3", loop=LoopConfig(steps=1), person=3, quiet=True)
    code = main(["dance", "transfer", str(clips["hopper"]), "--model", str(tmp_path), "-o", str(tmp_path / "y.mp4")])
    assert code != 0 and "not a synthvid motion-transfer model" in capsys.readouterr().err


def test_a_model_folder_for_another_video_is_refused(dance_model, clips):
    from synthvid.pipelines.motion_transfer import train
    from synthvid.train.loop import LoopConfig

    with pytest.raises(InputError, match="use a new folder"):
        train(clips["hopper"], dance_model, loop=LoopConfig(steps=1), quiet=True)
    from synthvid.pipelines.motion_transfer_render import load_dance_model

    with pytest.raises(CheckpointError):
        load_dance_model(dance_model.parent / "missing")
    import shutil

    cut = dance_model.parent / "cut"
    shutil.copytree(dance_model, cut)
    data = (cut / "target.npz").read_bytes()
    (cut / "target.npz").write_bytes(data[: len(data) // 3])  # a truncated target file: one clear error
    with pytest.raises(InputError, match="not a readable motion-transfer target"):
        load_dance_model(cut)


@pytest.mark.slow
def test_dance_train_on_two_processes(clips, tmp_path):
    """torchrun, gloo on CPU: rank 0 prepares the target, both train in lockstep, rank 0 writes the checkpoint."""
    import json
    import os
    import socket
    import subprocess
    import sys

    from synthvid.train.checkpoint import load_checkpoint

    import warnings

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for attempt in (1, 2):  # one retry, as in tests/train/test_distributed.py: a busy 2-core host can lose the
        # launcher's port race, and one run in the full suite (2026-12-07) saw a worker abort at the end that 27
        # repeats, on an idle and on a loaded machine, did not reproduce; a second failure fails the test
        out = tmp_path / f"ddp{attempt}"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
               "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "-m", "synthvid", "dance", "train",
               str(clips["astronaut"]), "-o", str(out), "-q", *TINY]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        if proc.returncode == 0:
            break
        warnings.warn(f"torchrun failed (attempt {attempt}): {proc.stderr[-3000:]}")
    assert proc.returncode == 0, proc.stderr[-8000:]  # long: a failing rank's own error comes before torchrun's
    assert load_checkpoint(out / "checkpoint.pt", arch="pix2pix-dance-1")["step"] == 2
    assert json.loads((out / "options.json").read_text())["world_size"] == 2
