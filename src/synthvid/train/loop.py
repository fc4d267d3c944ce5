"""A training loop that is resumable by construction.

Re-running the same command continues where the last run stopped: the budget (``steps`` and/or ``minutes``) is
a total over all runs, stored in the checkpoint. Checkpoints are written on a schedule, at the end, and on Ctrl-C
or SIGTERM; ``options.json`` holds the resolved settings, ``stats.jsonl`` one line per tick, ``preview.png`` and
``previews/`` image grids, ``loss.png`` the loss curves.

A task plugs in through :class:`TrainTask`: it owns its models, optimisers and data, and performs one step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from synthvid.config import Config, option
from synthvid.errors import CheckpointError, InputError
from synthvid.io.files import make_output_folder
from synthvid.io.output import Stamp, write_figure, write_image, write_json
from synthvid.progress import progress
from synthvid.train import distributed as D
from synthvid.train.checkpoint import load_checkpoint, save_checkpoint
from synthvid.types import Frame

CHECKPOINT = "checkpoint.pt"


@dataclasses.dataclass(frozen=True)
class LoopConfig(Config):
    """How long and how to train (everything that is not the model or the data)."""

    steps: int = option(0, "total optimisation steps over all runs (0: no step limit)")
    minutes: float = option(0.0, "total minutes of training over all runs (0: no time limit)")
    snapshot_minutes: float = option(5.0, "minutes between checkpoints")
    preview_minutes: float = option(2.0, "minutes between preview images and loss plots")
    stats_steps: int = option(25, "steps per line of stats.jsonl")
    seed: int = option(0, "random seed (each process adds its rank)")
    device: str = option("cpu", "cpu, cuda or cuda:N")
    threads: int = option(0, "CPU threads for PyTorch (0: its default, one per core)")
    keep_previews: bool = option(True, "keep every preview under previews/ (else only preview.png)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps < 0 or self.minutes < 0:
            raise InputError("steps and minutes must not be negative")
        if self.steps == 0 and self.minutes == 0:
            raise InputError("give a training budget: --steps N and/or --minutes M")
        if self.snapshot_minutes <= 0 or self.preview_minutes <= 0 or self.stats_steps < 1:
            raise InputError("snapshot_minutes, preview_minutes and stats_steps must be positive")


class TrainTask(Protocol):
    """What the loop needs from a model family."""

    arch: str  # checkpoint architecture name
    images_per_step: int  # for the images/s figure

    def config_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild the models (saved as the checkpoint's ``config``)."""

    def modules(self) -> dict[str, torch.nn.Module]: ...

    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    def train_step(self, step: int, sync: Callable[[Iterable[torch.nn.Parameter]], None]) -> dict[str, float]:
        """Draw a batch, compute losses, backward, call ``sync(params)`` before each optimiser step; return losses."""

    def preview(self) -> Frame:
        """An image grid showing the model's current results."""

    def rng_state(self) -> dict[str, Any]: ...

    def set_rng_state(self, state: dict[str, Any]) -> None: ...


@dataclasses.dataclass
class TrainSummary:
    step: int
    elapsed_s: float  # training time over all runs
    images_per_s: float  # this run
    run_steps: int  # steps done in this run
    interrupted: bool
    losses: dict[str, float]
    checkpoint: Path


def numpy_rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """A numpy Generator's state as plain ints/strings (loadable with weights_only=True)."""
    return rng.bit_generator.state


def restore_numpy_rng(state: dict[str, Any]) -> np.random.Generator:
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state
    return rng


@contextlib.contextmanager
def _stop_on_sigterm(flag: dict[str, bool]) -> Iterator[None]:
    """Turn SIGTERM into a graceful stop (checkpoint, then exit), like Ctrl-C."""
    def handler(signum: int, frame: Any) -> None:
        flag["stop"] = True

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Stats:
    """Accumulates losses between ticks; appends to stats.jsonl; draws loss.png."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path, self.enabled = path, enabled
        self.history: list[dict[str, Any]] = []
        if enabled and path.exists():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                with contextlib.suppress(json.JSONDecodeError):  # a line cut by a crash is skipped
                    self.history.append(json.loads(line))
        self._sums: dict[str, float] = {}
        self._n = 0

    def add(self, losses: dict[str, float]) -> None:
        for k, v in losses.items():
            self._sums[k] = self._sums.get(k, 0.0) + float(v)
        self._n += 1

    def means(self) -> dict[str, float]:
        return {k: v / max(self._n, 1) for k, v in self._sums.items()}

    def tick(self, **fields: Any) -> dict[str, Any]:
        line = {**fields, **{f"loss_{k}": round(v, 6) for k, v in self.means().items()}}
        self._sums, self._n = {}, 0
        if self.enabled:
            self.history.append(line)
            with open(self.path, "a", encoding="utf-8") as fh:  # append-only; a torn last line is tolerated
                fh.write(json.dumps(line) + "\n")
        return line

    def plot(self, path: Path, title: str) -> None:
        if not self.enabled or not self.history:
            return
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415

        fig, ax = plt.subplots(figsize=(7, 4))
        keys = sorted({k for h in self.history for k in h if k.startswith("loss_")})
        steps = [h["step"] for h in self.history]
        for k in keys:
            ax.plot(steps, [h.get(k, math.nan) for h in self.history], label=k[5:], linewidth=1,
                    marker="o" if len(steps) < 10 else None, markersize=3)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        write_figure(path, fig, Stamp("train.loss_plot", synthetic=False))
        plt.close(fig)


def run_folder(out_dir: str | Path) -> Path:
    """The run's folder, created if needed (its parent must exist: a typo should not create a tree)."""
    return make_output_folder(out_dir)


def train(task: TrainTask, out_dir: str | Path, cfg: LoopConfig, ctx: D.DistContext | None = None,
          arch_config: dict[str, Any] | None = None, quiet: bool = False) -> TrainSummary:
    """Train ``task`` until its budget is spent, resuming from ``out_dir/checkpoint.pt`` if present.

    Args:
        task: the model family's task.
        out_dir: run folder (created; its parent must exist).
        cfg: budget and schedule.
        ctx: distributed context (default: one process).
        arch_config: settings that must match a checkpoint being resumed (default: ``task.config_dict()``).
        quiet: no progress bar.
    """
    ctx = ctx or D.DistContext(device=D.resolve_device(cfg.device))
    out = Path(out_dir)
    if ctx.is_main:
        run_folder(out)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    ckpt_path = out / CHECKPOINT
    arch_config = task.config_dict() if arch_config is None else arch_config
    step, elapsed0 = 0, 0.0
    torch.manual_seed(cfg.seed + ctx.rank)
    if ckpt_path.exists():
        step, elapsed0 = _resume(task, ckpt_path, arch_config, ctx)
    D.broadcast_parameters(task.modules().values(), ctx)

    stats = _Stats(out / "stats.jsonl", ctx.is_main)
    if ctx.is_main:
        write_json(out / "options.json", {"task": task.config_dict(), "loop": cfg.to_dict(), "arch": task.arch,
                                          "world_size": ctx.world_size, "resumed_at_step": step})

    def sync(params: Iterable[torch.nn.Parameter]) -> None:
        D.average_gradients(params, ctx)

    budget_s = cfg.minutes * 60.0
    if cfg.steps:
        bar = progress(total=cfg.steps, initial=min(step, cfg.steps), desc=f"training {task.arch}", unit="step",
                       quiet=quiet or not ctx.is_main)
    else:
        bar = progress(total=round(budget_s), initial=min(round(elapsed0), round(budget_s)),
                       desc=f"training {task.arch}", unit="s", quiet=quiet or not ctx.is_main,
                       bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f}s [{elapsed}<{remaining}{postfix}]")
    flag = {"stop": False}
    start = time.monotonic()
    last_snapshot = last_preview = last_tick = start
    run_steps, tick_steps = 0, 0
    interrupted = False
    agreed = False  # every process left the loop at the same step, by the agreed stop (not a KeyboardInterrupt)
    losses: dict[str, float] = {}
    with _stop_on_sigterm(flag):
        try:
            while True:
                now = time.monotonic()
                elapsed = elapsed0 + (now - start)
                done = (cfg.steps and step >= cfg.steps) or (budget_s and elapsed >= budget_s) or flag["stop"]
                if D.agree(bool(done), ctx):
                    interrupted = bool(flag["stop"])
                    agreed = True
                    break
                losses = task.train_step(step, sync)
                step += 1
                run_steps += 1
                tick_steps += 1
                stats.add(losses)
                if cfg.steps:
                    bar.update(1)
                else:
                    bar.update(max(0, min(round(elapsed), round(budget_s)) - bar.n))
                if tick_steps >= cfg.stats_steps:
                    now = time.monotonic()
                    rate = tick_steps * task.images_per_step * ctx.world_size / max(now - last_tick, 1e-9)
                    line = stats.tick(step=step, elapsed_s=round(elapsed0 + now - start, 2),
                                      images_per_s=round(rate, 2))
                    bar.set_postfix_str(f"step {step}, {rate:.1f} img/s, loss {line.get('loss_total', math.nan):.4f}")
                    last_tick, tick_steps = now, 0
                if ctx.is_main and now - last_preview >= cfg.preview_minutes * 60:
                    _write_previews(task, out, step, stats, cfg.keep_previews)
                    last_preview = time.monotonic()
                if ctx.is_main and now - last_snapshot >= cfg.snapshot_minutes * 60:
                    _save(task, ckpt_path, step, elapsed0 + time.monotonic() - start, cfg, arch_config)
                    last_snapshot = time.monotonic()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()
    elapsed = elapsed0 + time.monotonic() - start
    if ctx.is_main:
        if tick_steps:
            stats.tick(step=step, elapsed_s=round(elapsed, 2),
                       images_per_s=round(tick_steps * task.images_per_step * ctx.world_size
                                          / max(time.monotonic() - last_tick, 1e-9), 2))
        _save(task, ckpt_path, step, elapsed, cfg, arch_config)
        _write_previews(task, out, step, stats, cfg.keep_previews)
    if agreed:
        # Every process leaves the loop together, once the main one has written the checkpoint, and only then tears
        # its connections down: a process that went on to destroy the process group while another was still saving
        # is a likely cause of a rare abort (SIGABRT) of one process at the end of a two-process CPU (gloo) run.
        # Only after the agreed stop (budget reached, or a SIGTERM seen by any process): after a KeyboardInterrupt
        # the processes may have stopped in different places. (If the main process fails to save, it exits with an
        # error and torchrun ends the others.)
        D.barrier(ctx)
    run_time = time.monotonic() - start
    return TrainSummary(step=step, elapsed_s=elapsed, run_steps=run_steps, interrupted=interrupted,
                        images_per_s=run_steps * task.images_per_step * ctx.world_size / max(run_time, 1e-9),
                        losses=dict(losses), checkpoint=ckpt_path)


def _resume(task: TrainTask, path: Path, arch_config: dict[str, Any], ctx: D.DistContext) -> tuple[int, float]:
    ckpt = load_checkpoint(path, arch=task.arch, map_location=ctx.device)
    saved = ckpt.get("arch_config", ckpt["config"])
    if _normalise(saved) != _normalise(arch_config):
        diff = sorted(k for k in set(saved) | set(arch_config) if saved.get(k) != arch_config.get(k))
        raise CheckpointError(f"{path.parent} holds a run with different settings ({', '.join(diff)}); "
                              "resume with the same settings or choose a new output folder")
    modules, optims = task.modules(), task.optimizers()
    try:
        for name, module in modules.items():
            module.load_state_dict(ckpt["state_dict"][name])
        for name, opt in optims.items():
            # the optimiser state carries the old run's settings (lr, weight decay, betas): this run's win
            settings = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
            opt.load_state_dict(ckpt["optimizer"][name])
            for group, own in zip(opt.param_groups, settings):
                group.update(own)
    except (KeyError, RuntimeError, ValueError) as e:
        raise CheckpointError(f"{path} does not fit this model ({str(e).splitlines()[0][:160]})") from None
    rng = ckpt["rng"]
    if ctx.rank == 0:
        try:
            torch.set_rng_state(rng["torch"])
            task.set_rng_state(rng["task"])
        except (KeyError, RuntimeError, TypeError, ValueError) as e:
            raise CheckpointError(f"{path} has no usable random-number state to resume from ({type(e).__name__}: "
                                  f"{str(e).splitlines()[0][:120] if str(e) else 'bad value'})") from None
    else:  # other ranks: fresh but distinct streams, deterministic given the step
        torch.manual_seed(hash((int(ckpt["step"]), ctx.rank)) % (2 ** 31))
    return int(ckpt["step"]), float(ckpt.get("elapsed_s", 0.0))


def _normalise(d: dict[str, Any]) -> str:
    return json.dumps(d, sort_keys=True, default=str)


def save_task_checkpoint(task: TrainTask, path: str | Path, step: int = 0, elapsed: float = 0.0,
                         cfg: LoopConfig | None = None, arch_config: dict[str, Any] | None = None) -> None:
    """Write ``task``'s state as the loop does, so that a later :func:`train` can resume from it (e.g. a model
    whose first stage is fitted in closed form, with gradient training to follow)."""
    _save(task, Path(path), step, elapsed, cfg, task.config_dict() if arch_config is None else arch_config)


def _save(task: TrainTask, path: Path, step: int, elapsed: float, cfg: LoopConfig | None,
          arch_config: dict[str, Any]) -> None:
    save_checkpoint(path, {
        "arch": task.arch,
        "config": task.config_dict(),
        "arch_config": arch_config,  # what a resumed run must match
        "state_dict": {name: m.state_dict() for name, m in task.modules().items()},
        "optimizer": {name: o.state_dict() for name, o in task.optimizers().items()},
        "step": step,
        "rng": {"torch": torch.get_rng_state(), "task": task.rng_state()},
        "elapsed_s": elapsed,
        "loop": cfg.to_dict() if cfg is not None else {},
    })


def _write_previews(task: TrainTask, out: Path, step: int, stats: _Stats, keep: bool) -> None:
    image = task.preview()
    stamp = Stamp(f"train.{task.arch}.preview", {"step": step})
    write_image(out / "preview.png", image, stamp)
    if keep:
        (out / "previews").mkdir(exist_ok=True)
        write_image(out / "previews" / f"step_{step:07d}.png", image, stamp)
    stats.plot(out / "loss.png", f"{task.arch}: loss over steps")
