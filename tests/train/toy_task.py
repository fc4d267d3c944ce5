"""A tiny regression task for loop tests (also run as a torchrun worker by test_distributed.py).

Kept importable by path: tests load it with importlib because tests/ is not a package.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

from synthvid.train.loop import numpy_rng_state, restore_numpy_rng


class ToyTask:
    arch = "toy-regression"
    images_per_step = 8

    def __init__(self, width: int = 4, seed: int = 0) -> None:
        torch.manual_seed(123)  # same initial weights for every instance
        self.width = width
        self.net = torch.nn.Sequential(torch.nn.Linear(3, width), torch.nn.Tanh(), torch.nn.Linear(width, 1))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-2)
        self.rng = np.random.Generator(np.random.PCG64(seed))

    def config_dict(self) -> dict:
        return {"width": self.width}

    def modules(self) -> dict:
        return {"net": self.net}

    def optimizers(self) -> dict:
        return {"adam": self.opt}

    def rng_state(self) -> dict:
        return numpy_rng_state(self.rng)

    def set_rng_state(self, state: dict) -> None:
        self.rng = restore_numpy_rng(state)

    def train_step(self, step: int, sync) -> dict:
        x = torch.from_numpy(self.rng.normal(size=(8, 3)).astype(np.float32))
        y = x.sum(1, keepdim=True) * 0.5
        loss = ((self.net(x) - y) ** 2).mean()
        self.opt.zero_grad()
        loss.backward()
        sync(self.net.parameters())
        self.opt.step()
        return {"total": float(loss.detach())}

    def preview(self) -> np.ndarray:
        return np.full((16, 32, 3), 127, np.uint8)


def param_digest(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for t in module.state_dict().values():
        h.update(t.detach().cpu().numpy().tobytes())
    return h.hexdigest()


if __name__ == "__main__":  # torchrun worker: python -m torch.distributed.run ... toy_task.py OUT STEPS
    from synthvid.train import distributed as D
    from synthvid.train.loop import LoopConfig, train

    out, steps = Path(sys.argv[1]), int(sys.argv[2])
    ctx = D.init_distributed("cpu")
    task = ToyTask(seed=ctx.rank)  # different data on each rank
    with torch.no_grad():  # different initial weights too: broadcast must make them equal
        for p in task.net.parameters():
            p.add_(ctx.rank)
    summary = train(task, out, LoopConfig(steps=steps, stats_steps=2), ctx, quiet=True)
    (out.parent / f"rank{ctx.rank}.json").write_text(json.dumps({"digest": param_digest(task.net),
                                                                  "step": summary.step, "world": ctx.world_size}))
    D.shutdown(ctx)
