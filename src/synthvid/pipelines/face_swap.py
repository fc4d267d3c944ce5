"""Face swap ("deepfakes"), training: a shared-encoder autoencoder learns the people of two facesets.

Faces of A and B, warped and jittered, are encoded by one encoder and rebuilt by each person's decoder (guided by
the face's expression code); the loss weighs eyes and mouth more and also teaches a face mask. Conversion lives in
:mod:`synthvid.pipelines.face_swap_convert`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
import torch

from synthvid.config import Config, option
from synthvid.errors import InputError
from synthvid.face import identity as ident
from synthvid.io.faceset import open_faceset
from synthvid.models.autoencoder import ARCH, AutoencoderConfig, SwapAutoencoder, autocast_dtype, count_parameters
from synthvid.models.discriminator import PatchDiscriminator, hinge_d_loss, hinge_g_loss
from synthvid.train import distributed as D
from synthvid.train.data import FaceBank, sample_batch, to_frames
from synthvid.train.loop import LoopConfig, TrainSummary, numpy_rng_state, restore_numpy_rng
from synthvid.train.loop import train as run_loop
from synthvid.train.losses import dssim, edge_loss, mask_loss, weighted_l1
from synthvid.types import Frame
from synthvid.viz import image_grid

@dataclasses.dataclass(frozen=True)
class SwapTrainConfig(Config):
    """How the swap model is trained (may change between resumed runs, except coverage)."""

    batch_size: int = option(16, "faces per identity per step (per process)")
    lr: float = option(3e-4, "Adam learning rate")
    coverage: float = option(0.85, "share of the training crop spanned by the face outline (tighter = more "
                                   "pixels on the face)")
    warp: float = option(0.04, "strength of the random warp applied to the model's input")
    eyes_weight: float = option(3.0, "loss weight of the eye regions (face = 1)")
    mouth_weight: float = option(3.0, "loss weight of the mouth region (face = 1)")
    l1_weight: float = option(1.0, "weight of the L1 reconstruction loss")
    ssim_weight: float = option(1.0, "weight of the structural (DSSIM) loss")
    edge_weight: float = option(0.5, "weight of the image-gradient loss (sharpness)")
    mask_weight: float = option(0.1, "weight of the mask loss")
    gan_weight: float = option(0.05, "weight of the adversarial (PatchGAN) loss, for texture; 0 disables")
    gan_start: int = option(400, "step from which the adversarial loss is used (let the faces form first)")
    precision: str = option("auto", "auto (bf16 where the hardware has it), bf16 or fp32",
                            choices=("auto", "bf16", "fp32"))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size < 1 or self.lr <= 0:
            raise InputError("batch_size must be >= 1 and lr positive")
        if not 0.3 <= self.coverage <= 1.0:
            raise InputError(f"coverage must lie in [0.3, 1.0], got {self.coverage}")


def _identity_info(faceset: Any, bank: FaceBank) -> dict[str, Any]:
    emb = faceset.alignments["embedding"]
    return {"name": faceset.root.name, "faces": len(faceset), "embedding": ident.mean_embedding(emb).tolist(),
            "expression": bank.expression_stats}


class SwapTask:
    """The training task for :func:`synthvid.train.loop.train`."""

    arch = ARCH

    def __init__(self, faceset_a: Any, faceset_b: Any, model_cfg: AutoencoderConfig, cfg: SwapTrainConfig,
                 device: torch.device, seed: int = 0, quiet: bool = False) -> None:
        self.model_cfg, self.cfg, self.device = model_cfg, cfg, device
        self.banks = [FaceBank(fs, model_cfg.resolution, cfg.coverage, cfg.eyes_weight, cfg.mouth_weight, quiet)
                      for fs in (faceset_a, faceset_b)]
        self.identities = {who: _identity_info(fs, bank) for who, fs, bank in zip("ab", (faceset_a, faceset_b), self.banks)}
        self.model = SwapAutoencoder(model_cfg).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, betas=(0.5, 0.999), fused=True)
        # Always built (it is small) so that checkpoints have the same layout with or without the GAN term.
        self.discriminator = PatchDiscriminator().to(device)
        self.optimizer_d = torch.optim.Adam(self.discriminator.parameters(), lr=cfg.lr, betas=(0.5, 0.999), fused=True)
        self.dtype = autocast_dtype(cfg.precision, device)
        self.images_per_step = 2 * cfg.batch_size
        self.rng = np.random.Generator(np.random.PCG64(seed))
        preview_rng = np.random.Generator(np.random.PCG64(1234))
        self.preview_idx = [preview_rng.choice(len(b), size=min(4, len(b)), replace=False) for b in self.banks]

    def config_dict(self) -> dict[str, Any]:
        return {"model": self.model_cfg.to_dict(), "train": self.cfg.to_dict(), "identities": self.identities}

    def arch_config(self) -> dict[str, Any]:
        return {"model": self.model_cfg.to_dict(), "coverage": self.cfg.coverage}

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"model": self.model, "discriminator": self.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.optimizer, "adam_discriminator": self.optimizer_d}

    def rng_state(self) -> dict[str, Any]:
        return numpy_rng_state(self.rng)

    def set_rng_state(self, state: dict[str, Any]) -> None:
        self.rng = restore_numpy_rng(state)

    def _autocast(self) -> Any:
        return torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None)

    def train_step(self, step: int, sync: Any) -> dict[str, float]:
        self.model.train()
        c = self.cfg
        batches = [sample_batch(bank, self.rng, c.batch_size, c.warp) for bank in self.banks]
        batches = [{k: v.to(self.device, non_blocking=True) for k, v in b.items()} for b in batches]
        with self._autocast():
            # One encoder pass over both people: half the weight casts of two passes, and a bigger batch.
            codes = self.model.encode(torch.cat([b["input"] for b in batches])).split(c.batch_size)
            outs = [self.model.decode(code, who, b["expression"]) for who, (code, b) in enumerate(zip(codes, batches))]
        total = torch.zeros((), device=self.device)
        losses: dict[str, float] = {"mask": 0.0}
        for who, (b, (rgb, logit)) in enumerate(zip(batches, outs)):
            rgb, logit = rgb.float(), logit.float()
            rec = (c.l1_weight * weighted_l1(rgb, b["target"], b["weights"])
                   + c.ssim_weight * dssim(rgb, b["target"], b["weights"])
                   + c.edge_weight * edge_loss(rgb, b["target"], b["weights"]))
            m = mask_loss(logit, b["mask"])
            total = total + rec + c.mask_weight * m
            losses["ab"[who]] = float(rec.detach())
            losses["mask"] += float(m.detach()) / 2
        adversarial = c.gan_weight > 0 and step >= c.gan_start
        fakes = torch.cat([rgb for rgb, _ in outs])  # 2B x 3 x R x R
        if adversarial:
            self.discriminator.requires_grad_(False)
            with self._autocast():
                g_adv = hinge_g_loss(self.discriminator(fakes).float())
            total = total + c.gan_weight * g_adv
            losses["gan_g"] = float(g_adv.detach())
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        sync(self.model.parameters())
        self.optimizer.step()
        if adversarial:
            self.discriminator.requires_grad_(True)
            reals = torch.cat([b["target"] for b in batches])
            with self._autocast():
                d_loss = hinge_d_loss(self.discriminator(reals).float(), self.discriminator(fakes.detach()).float())
            self.optimizer_d.zero_grad(set_to_none=True)
            d_loss.backward()
            sync(self.discriminator.parameters())
            self.optimizer_d.step()
            losses["gan_d"] = float(d_loss.detach())
        losses["total"] = float(total.detach())
        return losses

    @torch.no_grad()
    def preview(self) -> Frame:
        """Rows of: A | A rebuilt | A as B || B | B rebuilt | B as A."""
        self.model.eval()
        cols: list[list[Frame]] = []
        for who, bank in enumerate(self.banks):
            batch = sample_batch(bank, self.rng, 0, augment=False, indices=self.preview_idx[who])
            x, z = batch["target"].to(self.device), batch["expression"].to(self.device)
            with self._autocast():
                same, _ = self.model(x, who, z)
                other, _ = self.model(x, 1 - who, z)
            cols.append([to_frames(t) for t in (x, same, other)])
        rows = []
        for i in range(max(len(self.preview_idx[0]), len(self.preview_idx[1]))):
            row = []
            for who in (0, 1):
                if i < len(self.preview_idx[who]):
                    row += [c[i] for c in cols[who]]
            rows.append(row)
        return image_grid(rows)


def train(faceset_a: str | os.PathLike, faceset_b: str | os.PathLike, out_dir: str | os.PathLike,
          model: AutoencoderConfig | None = None, config: SwapTrainConfig | None = None,
          loop: LoopConfig | None = None, quiet: bool = False) -> TrainSummary:
    """Train (or resume training) a swap model between the people of two facesets.

    Args:
        faceset_a, faceset_b: faceset folders (from :func:`synthvid.faces.extract`).
        out_dir: model folder; re-running with the same folder resumes.
        model: model shape (resolution, preset).
        config: training settings.
        loop: budget (``minutes``/``steps``) and schedule.
        quiet: no progress bars.
    """
    model_cfg = model or AutoencoderConfig()
    cfg = config or SwapTrainConfig()
    loop_cfg = loop or LoopConfig(minutes=30)
    ctx = D.init_distributed(loop_cfg.device)
    try:
        fa, fb = open_faceset(faceset_a), open_faceset(faceset_b)
        task = SwapTask(fa, fb, model_cfg, cfg, ctx.device, seed=loop_cfg.seed + ctx.rank, quiet=quiet or not ctx.is_main)
        return run_loop(task, out_dir, loop_cfg, ctx, arch_config=task.arch_config(), quiet=quiet)
    finally:
        D.shutdown(ctx)


def describe_model(model_cfg: AutoencoderConfig) -> str:
    """One line: resolution, preset, parameter count."""
    net = SwapAutoencoder(model_cfg)
    return f"{model_cfg.preset} model at {model_cfg.resolution} px, {count_parameters(net) / 1e6:.1f} M parameters"
