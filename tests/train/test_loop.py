"""The resumable training loop, on a toy regression task."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from synthvid.errors import CheckpointError, InputError
from synthvid.train.checkpoint import load_checkpoint
from synthvid.train.loop import LoopConfig, train

_spec = importlib.util.spec_from_file_location("toy_task", Path(__file__).with_name("toy_task.py"))
toy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toy)


def test_trains_and_writes_run_files(tmp_path):
    out = tmp_path / "run"
    task = toy.ToyTask()
    summary = train(task, out, LoopConfig(steps=40, stats_steps=10), quiet=True)
    assert summary.step == 40 and summary.run_steps == 40 and not summary.interrupted
    for name in ("checkpoint.pt", "options.json", "stats.jsonl", "preview.png", "loss.png"):
        assert (out / name).is_file(), name
    lines = [json.loads(x) for x in (out / "stats.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [10, 20, 30, 40]
    assert lines[-1]["loss_total"] < lines[0]["loss_total"]  # it learns
    assert all(x["images_per_s"] > 0 for x in lines)
    ckpt = load_checkpoint(out / "checkpoint.pt", arch="toy-regression")
    assert set(ckpt) >= {"arch", "config", "state_dict", "optimizer", "step", "rng"} and ckpt["step"] == 40
    assert json.loads((out / "options.json").read_text())["loop"]["steps"] == 40


def test_resume_is_identical_to_an_uninterrupted_run(tmp_path):
    straight = toy.ToyTask()
    train(straight, tmp_path / "a", LoopConfig(steps=30), quiet=True)
    first = toy.ToyTask()
    train(first, tmp_path / "b", LoopConfig(steps=12), quiet=True)
    second = toy.ToyTask()  # a fresh process would start like this
    summary = train(second, tmp_path / "b", LoopConfig(steps=30), quiet=True)
    assert summary.step == 30 and summary.run_steps == 18
    assert toy.param_digest(second.net) == toy.param_digest(straight.net)
    again = train(toy.ToyTask(), tmp_path / "b", LoopConfig(steps=30), quiet=True)  # same command: nothing to do
    assert again.run_steps == 0 and again.step == 30


def test_time_budget_is_a_total_over_runs(tmp_path):
    cfg = LoopConfig(minutes=0.01)  # 0.6 s
    first = train(toy.ToyTask(), tmp_path / "r", cfg, quiet=True)
    assert 0.55 <= first.elapsed_s < 3.0 and first.run_steps > 0
    second = train(toy.ToyTask(), tmp_path / "r", cfg, quiet=True)
    assert second.run_steps == 0  # already spent


def test_resume_with_other_model_settings_is_refused(tmp_path):
    train(toy.ToyTask(width=4), tmp_path / "r", LoopConfig(steps=2), quiet=True)
    with pytest.raises(CheckpointError, match="different settings"):
        train(toy.ToyTask(width=8), tmp_path / "r", LoopConfig(steps=4), quiet=True)


def test_only_the_architecture_must_match_on_resume(tmp_path):
    task = toy.ToyTask()
    train(task, tmp_path / "r", LoopConfig(steps=2), arch_config={"width": 4}, quiet=True)
    task2 = toy.ToyTask()
    task2.config_dict = lambda: {"width": 4, "lr": "changed"}  # a training setting changed: fine
    assert train(task2, tmp_path / "r", LoopConfig(steps=3), arch_config={"width": 4}, quiet=True).step == 3
    with pytest.raises(CheckpointError, match="different settings \\(width\\)"):
        train(toy.ToyTask(), tmp_path / "r", LoopConfig(steps=4), arch_config={"width": 5}, quiet=True)


def test_corrupt_checkpoint_in_run_folder_is_reported(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="checkpoint.pt"):
        train(toy.ToyTask(), out, LoopConfig(steps=2), quiet=True)


def test_ctrl_c_saves_and_resumes(tmp_path):
    task = toy.ToyTask()
    original = task.train_step

    def interrupting(step, sync):
        if step == 5:
            raise KeyboardInterrupt
        return original(step, sync)

    task.train_step = interrupting
    summary = train(task, tmp_path / "r", LoopConfig(steps=20), quiet=True)
    assert summary.interrupted and summary.step == 5
    assert load_checkpoint(tmp_path / "r" / "checkpoint.pt")["step"] == 5
    assert train(toy.ToyTask(), tmp_path / "r", LoopConfig(steps=20), quiet=True).step == 20


def test_torn_stats_line_is_tolerated(tmp_path):
    train(toy.ToyTask(), tmp_path / "r", LoopConfig(steps=4, stats_steps=2), quiet=True)
    with open(tmp_path / "r" / "stats.jsonl", "a") as fh:
        fh.write('{"step": 99, "los')  # a crash mid-line
    train(toy.ToyTask(), tmp_path / "r", LoopConfig(steps=8, stats_steps=2), quiet=True)
    assert (tmp_path / "r" / "loss.png").is_file()


def test_config_validation():
    with pytest.raises(InputError, match="budget"):
        LoopConfig()
    with pytest.raises(InputError):
        LoopConfig(steps=-1)
    assert LoopConfig.from_dict(LoopConfig(steps=3).to_dict()) == LoopConfig(steps=3)
    with pytest.raises(InputError, match="unknown"):
        LoopConfig.from_dict({"steps": 3, "bogus": 1})
    with pytest.raises(InputError, match="parent does not exist"):
        train(toy.ToyTask(), Path("/nonexistent/dir/run"), LoopConfig(steps=1), quiet=True)
    assert torch.get_num_threads() >= 1


def test_resuming_without_a_random_state_is_a_checkpoint_error(tmp_path):
    from synthvid.train.checkpoint import save_checkpoint

    train(toy.ToyTask(), tmp_path, LoopConfig(steps=2), quiet=True)
    ck = load_checkpoint(tmp_path / "checkpoint.pt")
    save_checkpoint(tmp_path / "checkpoint.pt", {**ck, "rng": {"torch": "x"}})
    with pytest.raises(CheckpointError, match="random-number state"):
        train(toy.ToyTask(), tmp_path, LoopConfig(steps=4), quiet=True)
