"""Face swap: training task, model loading, conversion and its bad-input handling (tiny model)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from synthvid.errors import CheckpointError, InputError, NoFaceError, OutputError
from synthvid.io.faceset import open_faceset
from synthvid.io.output import Stamp, VideoOutput
from synthvid.io.video import VideoReader, probe_video, read_metadata
from synthvid.models.autoencoder import AutoencoderConfig, SwapAutoencoder, count_parameters
from synthvid.pipelines.face_swap import SwapTrainConfig, train
from synthvid.pipelines.face_swap_convert import ConvertConfig, convert, load_swap_model
from synthvid.train.data import FaceBank, sample_batch
from synthvid.train.loop import LoopConfig


def test_model_shapes_and_sizes():
    cfg = AutoencoderConfig(resolution=64, preset="tiny")
    net = SwapAutoencoder(cfg)
    x = torch.zeros(2, 3, 64, 64)
    rgb, logit = net(x, 1, torch.zeros(2, 10))
    assert rgb.shape == (2, 3, 64, 64) and logit.shape == (2, 1, 64, 64)
    assert float(rgb.detach().abs().max()) <= 1.0
    with pytest.raises(InputError, match="B x 3 x 64 x 64"):
        net(torch.zeros(1, 3, 32, 32), 0)
    with pytest.raises(InputError, match="identity"):
        net(x, 2)
    assert count_parameters(SwapAutoencoder(AutoencoderConfig())) == pytest.approx(21.3e6, rel=0.05)


def test_batches_are_aligned_and_weighted(facesets):
    fs = open_faceset(facesets["hopper"])
    bank = FaceBank(fs, 64, 0.85, eyes=3, mouth=3, quiet=True)
    rng = np.random.default_rng(0)
    b = sample_batch(bank, rng, 4)
    assert b["input"].shape == b["target"].shape == (4, 3, 64, 64)
    assert b["weights"].shape == b["mask"].shape == (4, 1, 64, 64) and b["expression"].shape == (4, 10)
    assert -1 <= float(b["target"].min()) and float(b["target"].max()) <= 1
    assert float(b["weights"].max()) == pytest.approx(3.0, abs=0.05)
    assert not torch.equal(b["input"], b["target"])  # warped
    plain = sample_batch(bank, rng, 0, augment=False, indices=np.array([0, 1]))
    assert torch.equal(plain["input"], plain["target"])
    again = sample_batch(bank, np.random.default_rng(0), 4)
    assert torch.equal(again["input"], b["input"])  # seeded


def test_tiny_model_trains_and_loads(tiny_model):
    for name in ("checkpoint.pt", "options.json", "stats.jsonl", "preview.png", "loss.png"):
        assert (tiny_model / name).is_file()
    model = load_swap_model(tiny_model)
    assert model.resolution == 64 and model.step == 3
    crop = np.full((64, 64, 3), 128, np.uint8)
    rgb, mask = model.swap(crop, 1, np.zeros(10))
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8 and mask.shape == (64, 64)
    assert 0.0 <= mask.min() and mask.max() <= 1.0


def test_convert_keeps_frames_audio_and_stamps(tiny_model, clips, tmp_path):
    out = tmp_path / "out.mp4"
    report = convert(clips["astronaut"], tiny_model, out, preview=tmp_path / "strip.png", quiet=True)
    src, dst = probe_video(clips["astronaut"]), probe_video(out)
    assert report.frames == dst.frame_count == src.frame_count == 40
    assert report.swapped == 40 and report.no_face == 0
    assert dst.has_audio and abs(dst.duration - src.duration) < 0.1
    assert (dst.width, dst.height, dst.fps) == (src.width, src.height, src.fps)
    tags = read_metadata(out)
    assert tags["synthvid_synthetic"] == "true" and tags["synthvid_job"] == "swap.convert"
    assert (tmp_path / "strip.png").is_file()
    first_in, first_out = next(iter(VideoReader(clips["astronaut"]))), next(iter(VideoReader(out)))
    assert np.abs(first_in.astype(int) - first_out).mean() > 1  # the face changed...
    assert np.abs(first_in[:20].astype(int) - first_out[:20]).mean() < 6  # ...the top edge did not


def test_frames_without_a_face_pass_through(tiny_model, clips, tmp_path):
    frames = list(VideoReader(clips["astronaut"], end=10))
    rng = np.random.default_rng(0)
    for i in (3, 4, 5):
        frames[i] = np.full_like(frames[i], 40) + rng.integers(0, 5, frames[i].shape, dtype=np.uint8)
    clip = tmp_path / "gaps.mp4"
    with VideoOutput(clip, Stamp("test", synthetic=False), fps=25, width=256, height=256) as w:
        for f in frames:
            w.write(f)
    report = convert(clip, tiny_model, tmp_path / "out.mp4", ConvertConfig(force=True), quiet=True)
    assert report.no_face == 3 and report.swapped == 7
    src = list(VideoReader(clip))
    out = list(VideoReader(tmp_path / "out.mp4"))
    for i in (3, 4, 5):
        diff = np.abs(src[i].astype(int) - out[i])
        # untouched apart from re-encoding and the output's own watermark (~2.4 grey levels rms on flat frames)
        assert diff.mean() < 3 and np.percentile(diff, 99) < 12


def test_convert_with_no_face_anywhere_writes_nothing(tiny_model, clips, tmp_path):
    rng = np.random.default_rng(0)
    clip = tmp_path / "empty.mp4"
    with VideoOutput(clip, Stamp("test", synthetic=False), fps=25, width=128, height=128) as w:
        for _ in range(6):
            w.write(np.full((128, 128, 3), 40, np.uint8) + rng.integers(0, 5, (128, 128, 3), dtype=np.uint8))
    with pytest.raises(NoFaceError, match="no face found in any of the 6 frames of empty.mp4"):
        convert(clip, tiny_model, tmp_path / "out.mp4", ConvertConfig(force=True), quiet=True)
    assert not (tmp_path / "out.mp4").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["empty.mp4"]


def test_convert_range_cuts_audio(tiny_model, clips, tmp_path):
    report = convert(clips["astronaut"], tiny_model, tmp_path / "part.mp4", frames=(10, 30), quiet=True)
    info = probe_video(tmp_path / "part.mp4")
    assert report.frames == info.frame_count == 20 and abs(info.duration - 0.8) < 0.1


def test_direction_mismatch_is_refused(tiny_model, clips, tmp_path):
    with pytest.raises(InputError, match="looks like identity B.*--direction b2a"):
        convert(clips["hopper"], tiny_model, tmp_path / "x.mp4", quiet=True)
    assert not (tmp_path / "x.mp4").exists()
    report = convert(clips["hopper"], tiny_model, tmp_path / "y.mp4", ConvertConfig(direction="b2a"),
                     frames=(0, 5), quiet=True)
    assert report.swapped == 5


def test_bad_model_folders(tiny_model, clips, tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        convert(clips["astronaut"], tmp_path / "nomodel", tmp_path / "x.mp4", quiet=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint.pt"):
        load_swap_model(empty)
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    (broken / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable synthvid checkpoint"):
        load_swap_model(broken)
    foreign = tmp_path / "foreign"
    shutil.copytree(tiny_model, foreign)
    torch.save({"state_dict": {}}, foreign / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="not a synthvid checkpoint"):
        load_swap_model(foreign)
    assert not (tmp_path / "x.mp4").exists()
    # Weights of another shape, or tensors with no data (meta), are refused as a bad model, not as a crash later;
    # float64 weights are cast and work.
    ckpt = torch.load(tiny_model / "checkpoint.pt", weights_only=True)
    name = next(iter(ckpt["state_dict"]["model"]))
    for label, tensor, ok in (("double", ckpt["state_dict"]["model"][name].double(), True),
                              ("shape", torch.zeros(3, 3), False),
                              ("meta", torch.empty(ckpt["state_dict"]["model"][name].shape, device="meta"), False)):
        bad = tmp_path / label
        shutil.copytree(tiny_model, bad)
        edited = {**ckpt, "state_dict": {**ckpt["state_dict"], "model": {**ckpt["state_dict"]["model"], name: tensor}}}
        torch.save(edited, bad / "checkpoint.pt")
        if ok:
            model = load_swap_model(bad)
            assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in model.net.parameters())
        else:
            with pytest.raises(CheckpointError, match="does not hold a usable swap model"):
                load_swap_model(bad)


def test_output_folder_must_exist(tiny_model, clips, tmp_path):
    with pytest.raises(OutputError, match="does not exist"):  # checked before any work
        convert(clips["astronaut"], tiny_model, tmp_path / "missing" / "out.mp4", quiet=True)
    with pytest.raises(OutputError):
        convert(clips["astronaut"], tiny_model, tmp_path / "out.avi", quiet=True)


def test_training_resumes_and_refuses_other_shapes(facesets, tmp_path):
    small = AutoencoderConfig(resolution=64, preset="tiny")
    cfg = SwapTrainConfig(batch_size=2)
    s1 = train(facesets["astronaut"], facesets["hopper"], tmp_path / "m", small, cfg, LoopConfig(steps=2), quiet=True)
    s2 = train(facesets["astronaut"], facesets["hopper"], tmp_path / "m", small, cfg, LoopConfig(steps=4), quiet=True)
    assert (s1.step, s2.step, s2.run_steps) == (2, 4, 2)
    with pytest.raises(CheckpointError, match="different settings"):
        train(facesets["astronaut"], facesets["hopper"], tmp_path / "m", AutoencoderConfig(resolution=128, preset="tiny"),
              cfg, LoopConfig(steps=6), quiet=True)
    with pytest.raises(InputError, match="holds no faces|not found"):
        train(tmp_path / "nothing", facesets["hopper"], tmp_path / "m2", small, cfg, LoopConfig(steps=1), quiet=True)


def test_adversarial_term_trains_the_discriminator(facesets, tmp_path):
    cfg = SwapTrainConfig(batch_size=2, gan_weight=0.1, gan_start=0)
    small = AutoencoderConfig(resolution=64, preset="tiny")
    summary = train(facesets["astronaut"], facesets["hopper"], tmp_path / "g", small, cfg, LoopConfig(steps=2),
                    quiet=True)
    assert "gan_d" in summary.losses and "gan_g" in summary.losses
    ckpt = torch.load(tmp_path / "g" / "checkpoint.pt", weights_only=True)
    assert set(ckpt["state_dict"]) == {"model", "discriminator"}


def test_batched_swap_equals_one_by_one(tiny_model):
    model = load_swap_model(tiny_model, precision="fp32")
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(3)]
    codes = [rng.normal(size=10).astype(np.float32) for _ in range(3)]
    batched, masks = model.swap_batch(crops, 1, codes)
    for crop, code, rgb, mask in zip(crops, codes, batched, masks):
        single, single_mask = model.swap(crop, 1, code)
        assert np.abs(single.astype(int) - rgb).max() <= 1
        np.testing.assert_allclose(single_mask, mask, atol=1e-5)
