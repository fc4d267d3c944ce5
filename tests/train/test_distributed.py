"""Data-parallel training with torch.distributed on two CPU processes (gloo), launched by torchrun."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from synthvid.train.checkpoint import load_checkpoint


@pytest.mark.slow
def test_two_processes_stay_in_lockstep(tmp_path):
    worker = Path(__file__).with_name("toy_task.py")
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    for attempt in (1, 2):  # one retry: the launcher's rendezvous can lose a race for its port on a busy host
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
               "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", str(worker), str(out), "10"]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
        if proc.returncode == 0 or attempt == 2:
            break
        warnings.warn(f"torchrun failed once, retrying: {proc.stderr[-1500:]}")
    assert proc.returncode == 0, proc.stderr[-8000:]  # long: a failing rank's own error comes before torchrun's
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world"] == 2 and r["step"] == 10 for r in ranks)
    # Different data and different starting weights on each rank, yet identical weights after training:
    # parameters were broadcast from rank 0 and gradients averaged every step.
    assert ranks[0]["digest"] == ranks[1]["digest"]
    ckpt = load_checkpoint(out / "checkpoint.pt", arch="toy-regression")
    assert ckpt["step"] == 10
    assert len(list(out.glob("checkpoint*"))) == 1  # written once, by rank 0
    options = json.loads((out / "options.json").read_text())
    assert options["world_size"] == 2
