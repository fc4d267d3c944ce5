"""Atomic, safe checkpoints: round trip, corrupt/foreign/malicious files, and kill -9 in the middle of a save."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from synthvid.errors import CheckpointError
from synthvid.train.checkpoint import load_checkpoint, save_checkpoint


def _ckpt(step: int) -> dict:
    return {"arch": "toy", "config": {"width": 4}, "state_dict": {"w": torch.full((3,), float(step))},
            "optimizer": {}, "step": step, "rng": {"torch": torch.get_rng_state()}}


def test_round_trip_and_arch_check(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, _ckpt(7))
    data = load_checkpoint(path, arch="toy")
    assert data["step"] == 7 and torch.equal(data["state_dict"]["w"], torch.full((3,), 7.0))
    with pytest.raises(CheckpointError, match="holds a 'toy' model"):
        load_checkpoint(path, arch="swap-autoencoder")
    with pytest.raises(ValueError):
        save_checkpoint(path, {"arch": "toy"})
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary left behind


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"PK\x03\x04truncated zip"])
def test_corrupt_files_are_refused(tmp_path, content):
    path = tmp_path / "c.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="c.pt"):
        load_checkpoint(path)


def test_random_bytes_are_refused_whatever_the_unpickler_raises(tmp_path):
    # Seeded random files: the legacy unpickler fails on them with all sorts of exceptions (KeyError among them).
    path = tmp_path / "c.pt"
    for seed in range(200):
        path.write_bytes(np.random.default_rng(seed).integers(0, 256, 256, dtype=np.uint8).tobytes())
        with pytest.raises(CheckpointError, match="not a readable synthvid checkpoint"):
            load_checkpoint(path)


@pytest.mark.parametrize("mmap", [False, True])
def test_truncated_checkpoint_is_refused(tmp_path, mmap):
    path = tmp_path / "c.pt"
    save_checkpoint(path, _ckpt(1))
    whole = path.read_bytes()
    for size in (len(whole) // 2, len(whole) - 30, len(whole) - 1):  # the end (zip directory) is what goes first
        path.write_bytes(whole[:size])
        with pytest.raises(CheckpointError, match="not a readable synthvid checkpoint"):
            load_checkpoint(path, mmap=mmap)


def test_mapped_load_reads_the_same_weights(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, _ckpt(5))
    data = load_checkpoint(path, arch="toy", mmap=True)
    assert data["step"] == 5 and torch.equal(data["state_dict"]["w"], torch.full((3,), 5.0))
    save_checkpoint(path, _ckpt(6))  # replacing the file (atomic rename) leaves the mapped tensors intact
    assert torch.equal(data["state_dict"]["w"], torch.full((3,), 5.0))


def test_foreign_torch_file_is_refused(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"model": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a synthvid checkpoint"):
        load_checkpoint(path)
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="not a synthvid checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_malicious_pickle_is_not_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"arch": "toy", "payload": _Evil()}, path)
    with pytest.raises(CheckpointError, match="executed"):
        load_checkpoint(path)
    path.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not (tmp_path / "PWNED").exists()


def test_kill_9_during_save_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, _ckpt(1))
    # A child process starts writing checkpoint 2 but stalls half-way through; we SIGKILL it there.
    script = textwrap.dedent(f"""
        import os, sys, time, torch
        from synthvid.train import checkpoint as C
        real_open = open
        class Slow:
            def __init__(self, f): self.f = f
            def __enter__(self): return self
            def __exit__(self, *a): self.f.close()
            def write(self, data):
                data = bytes(data)
                self.f.write(data[: len(data) // 2]); self.f.flush()
                print("half", flush=True); time.sleep(60)
        C.open = lambda p, mode="r", *a, **k: Slow(real_open(p, mode, *a, **k)) if "w" in mode else real_open(p, mode, *a, **k)
        ck = {{"arch": "toy", "config": {{}}, "state_dict": {{"w": torch.full((1000,), 2.0)}}, "optimizer": {{}},
               "step": 2, "rng": {{}}}}
        C.save_checkpoint({str(path)!r}, ck)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "half"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    data = load_checkpoint(path, arch="toy")
    assert data["step"] == 1  # the previous checkpoint is intact
    leftovers = [p for p in tmp_path.iterdir() if p.name != "checkpoint.pt"]
    assert all(p.name.startswith(".checkpoint.partial-") for p in leftovers)  # hidden partial, never the real name
    time.sleep(0)


@pytest.mark.parametrize("change, message", [
    ({"state_dict": {"net": {"w": torch.tensor([1.0, float("nan")])}}}, r"non-finite weights \(NaN or infinity in net.w\)"),
    ({"state_dict": {"w": torch.tensor([float("inf")], dtype=torch.float16)}}, "non-finite weights"),
    ({"step": "abc"}, "step count"),
    ({"step": -1}, "step count"),
    ({"rng": [1, 2]}, "not a mapping"),
])
def test_damaged_checkpoints_are_refused_with_one_line(tmp_path, change, message):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {**_ckpt(3), **change})
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)



def test_text_or_random_bytes_are_named_as_not_a_torch_file(tmp_path):
    path = tmp_path / "c.pt"
    for content in (b"just some notes\n", b"\x00\x01\x02" * 50, b""):
        path.write_bytes(content)
        with pytest.raises(CheckpointError, match="not a PyTorch file at all"):
            load_checkpoint(path)


def test_unusual_tensor_kinds_do_not_break_the_weight_check(tmp_path):
    path = tmp_path / "c.pt"
    for t in (torch.eye(3).to_sparse(), torch.zeros(4, dtype=torch.float8_e4m3fn)):
        save_checkpoint(path, {**_ckpt(1), "state_dict": {"w": t}})
        assert load_checkpoint(path)["step"] == 1  # left to the model loader, which refuses what it cannot use
