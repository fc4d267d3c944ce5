"""Face swap ("deepfakes"): train a shared-encoder autoencoder on two facesets, then paint identity B into
video A.

Training: faces of A and B, warped and jittered, are encoded by one encoder and rebuilt by each person's decoder;
the loss weighs eyes and mouth more and also teaches a face mask. Conversion: for every frame, find A's face,
align it, encode it, decode it with B's decoder, colour-correct, and blend it back; frames without a face pass
through unchanged. The source audio is kept.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from synthvid.composite.blend import BLEND_METHODS
from synthvid.composite.color import COLOR_METHODS, transfer_color
from synthvid.composite.paste import paste_back
from synthvid.composite.sharpen import unsharp_mask
from synthvid.config import Config, option
from synthvid.errors import CheckpointError, InputError
from synthvid.face import identity as ident
from synthvid.face.align import alignment_matrix, warp_face
from synthvid.face.detect import DetectedFace, FaceDetector, box_of
from synthvid.face.expression import FEATURES as EXPRESSION_FEATURES
from synthvid.face.expression import expression_features, standardize
from synthvid.face.geometry import transform_points
from synthvid.face.masks import face_hull_mask
from synthvid.face.select import IdentitySelector, scan_identities
from synthvid.face.track import FaceTracker
from synthvid.io.faceset import open_faceset
from synthvid.io.files import check_input_file
from synthvid.io.output import Stamp, VideoOutput, write_image
from synthvid.io.threaded import BackgroundWriter, prefetch
from synthvid.io.video import VideoReader, probe_video
from synthvid.models.autoencoder import ARCH, AutoencoderConfig, SwapAutoencoder, autocast_dtype, count_parameters
from synthvid.models.discriminator import PatchDiscriminator, hinge_d_loss, hinge_g_loss
from synthvid.progress import progress
from synthvid.train import distributed as D
from synthvid.train.checkpoint import load_checkpoint
from synthvid.train.data import FaceBank, sample_batch
from synthvid.train.loop import CHECKPOINT, LoopConfig, TrainSummary, numpy_rng_state, restore_numpy_rng
from synthvid.train.loop import train as run_loop
from synthvid.train.losses import dssim, edge_loss, mask_loss, weighted_l1
from synthvid.types import Frame
from synthvid.viz import image_grid

DIRECTIONS = ("a2b", "b2a")


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
    gan_weight: float = option(0.0, "weight of the adversarial (PatchGAN) loss, for texture; 0 disables")
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
            cols.append([_to_frames(t) for t in (x, same, other)])
        rows = []
        for i in range(max(len(self.preview_idx[0]), len(self.preview_idx[1]))):
            row = []
            for who in (0, 1):
                if i < len(self.preview_idx[who]):
                    row += [c[i] for c in cols[who]]
            rows.append(row)
        return image_grid(rows)


def _to_frames(t: torch.Tensor) -> list[Frame]:
    """B x 3 x H x W in [-1, 1] -> list of uint8 H x W x 3."""
    a = ((t.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return [np.ascontiguousarray(x) for x in a]


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


@dataclasses.dataclass
class SwapModel:
    """A trained swap model ready for conversion."""

    net: SwapAutoencoder
    coverage: float
    identities: dict[str, Any]
    device: torch.device
    dtype: torch.dtype | None
    step: int

    @property
    def resolution(self) -> int:
        return self.net.cfg.resolution

    def embedding(self, who: str) -> np.ndarray:
        return np.asarray(self.identities[who]["embedding"], dtype=np.float32)

    def expression_code(self, landmarks: np.ndarray, who: str) -> np.ndarray:
        """Standardised expression code (10,) of a face of person ``who`` ("a" or "b")."""
        return standardize(expression_features(landmarks), self.identities[who]["expression"])

    def swap(self, crop: Frame, identity: int, expression: np.ndarray | None = None) -> tuple[Frame, np.ndarray]:
        """Decode an aligned R x R crop as ``identity``: (RGB uint8 R x R x 3, mask float32 R x R in [0, 1]).

        ``expression`` is the source face's standardised expression code (see :meth:`expression_code`).
        """
        rgb, masks = self.swap_batch([crop], identity, None if expression is None else [expression])
        return rgb[0], masks[0]

    @torch.inference_mode()
    def swap_batch(self, crops: list[Frame], identity: int,
                   expressions: list[np.ndarray] | None = None) -> tuple[list[Frame], list[np.ndarray]]:
        """:meth:`swap` for several crops in one pass (several times cheaper per face on a CPU than one by one)."""
        x = torch.from_numpy(np.stack(crops)).to(self.device).permute(0, 3, 1, 2).float() / 127.5 - 1  # B x 3 x R x R
        z = None if expressions is None else torch.from_numpy(np.stack(expressions).astype(np.float32)).to(self.device)
        with torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None):
            rgb, logit = self.net(x, identity, z)
        masks = torch.sigmoid(logit.float())[:, 0].cpu().numpy()
        return _to_frames(rgb), list(masks)


def load_swap_model(model_dir: str | os.PathLike, device: str = "cpu", precision: str = "auto") -> SwapModel:
    """Load a model folder written by :func:`train` (weights only; no code is unpickled)."""
    p = Path(model_dir)
    if not p.is_dir():
        raise CheckpointError(f"model folder not found: {p}")
    if not (p / CHECKPOINT).is_file():
        raise CheckpointError(f"{p} is not a synthvid swap model (no {CHECKPOINT}); train one with `synthvid swap train`")
    ckpt = load_checkpoint(p / CHECKPOINT, arch=ARCH)
    try:
        cfg = ckpt["config"]
        model_cfg = AutoencoderConfig.from_dict(cfg["model"])
        coverage = float(cfg["train"]["coverage"])
        identities = cfg["identities"]
        for who in ("a", "b"):
            if len(identities[who]["embedding"]) != ident.DIM:
                raise ValueError("bad identity embedding")
            standardize(np.zeros(len(EXPRESSION_FEATURES)), identities[who]["expression"])
        net = SwapAutoencoder(model_cfg)
        net.load_state_dict(ckpt["state_dict"]["model"])
    except (KeyError, TypeError, ValueError, RuntimeError, InputError) as e:
        raise CheckpointError(f"{p / CHECKPOINT} does not hold a usable swap model ({str(e).splitlines()[0][:120]})") from None
    dev = D.resolve_device(device)
    net.to(dev).eval()
    return SwapModel(net, coverage, identities, dev, autocast_dtype(precision, dev), int(ckpt["step"]))


@dataclasses.dataclass(frozen=True)
class ConvertConfig(Config):
    """How a video is converted."""

    direction: str = option("a2b", "a2b: the video shows A, paint B; b2a: the reverse", choices=DIRECTIONS)
    color: str = option("reinhard", "colour correction of the new face", choices=COLOR_METHODS)
    blend: str = option("laplacian", "how the new face is blended in", choices=BLEND_METHODS)
    mask: str = option("learned", "learned: the model's mask within the face hull; hull: the landmark hull only",
                       choices=("learned", "hull"))
    sharpen: float = option(0.5, "unsharp-mask amount applied to the new face (0: off; 1: strong)")
    crf: int = option(18, "H.264 quality of the output (lower = better, larger)")
    batch: int = option(8, "faces per model pass (larger is faster on CPUs, up to a point)")
    force: bool = option(False, "convert even if the video's face looks like the target person")
    device: str = option("cpu", "cpu, cuda or cuda:N")


@dataclasses.dataclass
class ConvertReport:
    output: Path
    frames: int
    swapped: int
    no_face: int
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames / max(self.seconds, 1e-9)

    def summary(self) -> str:
        passed = f"; {self.no_face} frames had no face and pass through unchanged" if self.no_face else ""
        return f"wrote {self.output}: {self.frames} frames, {self.swapped} swapped{passed} ({self.fps:.1f} fps)"


def check_direction(model: SwapModel, who_in_video: np.ndarray | None, direction: str, video: Path) -> None:
    """Refuse a conversion whose video clearly shows the target person rather than the source."""
    if who_in_video is None:
        return
    src, dst = ("a", "b") if direction == "a2b" else ("b", "a")
    d_src = float(ident.distances(who_in_video, model.embedding(src))[0])
    d_dst = float(ident.distances(who_in_video, model.embedding(dst))[0])
    if d_dst < d_src and d_dst < ident.SAME_PERSON:
        other = "b2a" if direction == "a2b" else "a2b"
        raise InputError(f"the face in {video.name} looks like identity {dst.upper()} of this model "
                         f"(distance {d_dst:.2f} vs {d_src:.2f} to {src.upper()}); use --direction {other}, or --force")


@dataclasses.dataclass
class _Pending:
    """A frame on its way through conversion: its face, aligned, waiting for the model."""

    index: int
    frame: Frame
    landmarks: np.ndarray | None = None  # raw landmarks of the face to replace (None: no face)
    matrix: np.ndarray | None = None  # frame -> crop
    crop: Frame | None = None
    expression: np.ndarray | None = None


def _prepare(model: SwapModel, index: int, frame: Frame, track: Any, source: str) -> _Pending:
    if track is None:
        return _Pending(index, frame)
    matrix = alignment_matrix(track.smoothed, model.resolution, model.coverage)
    return _Pending(index, frame, track.face.landmarks, matrix, warp_face(frame, matrix, model.resolution),
                    model.expression_code(track.face.landmarks, source))


def _composite(model: SwapModel, job: _Pending, new: Frame, learned: np.ndarray, cfg: ConvertConfig) -> Frame:
    """Colour-correct the new face against the original in crop space, then blend it into the frame."""
    r = model.resolution
    hull = face_hull_mask(transform_points(job.landmarks, job.matrix), (r, r))
    mask = hull * learned if cfg.mask == "learned" else hull
    # Colour statistics are the same in crop space as in the frame (same region, resampled) and far cheaper
    # there when the face is large.
    new = transfer_color(unsharp_mask(new, cfg.sharpen), job.crop, mask, method=cfg.color)
    return paste_back(job.frame, new, mask, job.matrix, blend_method=cfg.blend, color_method="none")


def swap_faces(model: SwapModel, jobs: list[_Pending], identity: int, cfg: ConvertConfig) -> list[Frame]:
    """Finish a batch of frames: one model pass for all their faces, then compositing; faceless frames pass."""
    with_face = [j for j in jobs if j.crop is not None]
    new: dict[int, tuple[Frame, np.ndarray]] = {}
    if with_face:
        rgbs, masks = model.swap_batch([j.crop for j in with_face], identity, [j.expression for j in with_face])
        new = {j.index: (rgb, m) for j, rgb, m in zip(with_face, rgbs, masks)}
    return [_composite(model, j, *new[j.index], cfg) if j.index in new else j.frame for j in jobs]


def swap_face(model: SwapModel, frame: Frame, landmarks: np.ndarray, smoothed: np.ndarray, identity: int,
              cfg: ConvertConfig) -> Frame:
    """One frame (convenience over :func:`swap_faces`): align the face, decode it as ``identity``, blend it back."""
    track = SimpleNamespace(face=DetectedFace(landmarks, box_of(landmarks)), smoothed=smoothed)
    return swap_faces(model, [_prepare(model, 0, frame, track, "ab"[1 - identity])], identity, cfg)[0]


def convert(video: str | os.PathLike, model_dir: str | os.PathLike, output: str | os.PathLike,
            config: ConvertConfig | None = None, frames: tuple[int, int | None] = (0, None),
            preview: str | os.PathLike | None = None, quiet: bool = False) -> ConvertReport:
    """Paint the model's other identity into ``video``, frame by frame, keeping its audio.

    Args:
        video: input video showing the source person (A for a2b).
        model_dir: model folder from :func:`train`.
        output: output video (.mp4/.mov/.mkv); written atomically.
        config: conversion settings.
        frames: (start, end) frame range to convert (end None = to the end); the audio is cut to match.
        preview: optional PNG: a strip of input frames above their converted frames.
        quiet: no progress bar.
    """
    cfg = config or ConvertConfig()
    src = check_input_file(video, "video")
    info = probe_video(src)
    model = load_swap_model(model_dir, cfg.device)
    source_who = "a" if cfg.direction == "a2b" else "b"
    identity = 1 if cfg.direction == "a2b" else 0
    start, end = frames
    dominant, several = scan_identities(src, max_faces=4, start=start, end=end, strict=False)
    if not cfg.force:
        check_direction(model, dominant, cfg.direction, src)
    selector = IdentitySelector(model.embedding(source_who), several)
    stop = min(end, info.frame_count) if end is not None else info.frame_count
    total = max(stop - start, 0)
    preview_at = set(np.linspace(start, max(stop - 1, start), 6).round().astype(int).tolist()) if preview else set()
    shots: list[tuple[Frame, Frame]] = []
    stamp = Stamp("swap.convert", {**cfg.to_dict(), "model_step": model.step}, inputs=(str(src),))
    swapped = no_face = 0
    t0 = time.monotonic()
    bar = progress(total=total, desc=f"converting {src.name}", unit="frame", quiet=quiet)

    def flush(batch: list[_Pending], sink: BackgroundWriter) -> None:
        nonlocal swapped, no_face
        for job, result in zip(batch, swap_faces(model, batch, identity, cfg)):
            sink.put(result)
            swapped += job.crop is not None
            no_face += job.crop is None
            if job.index in preview_at:
                shots.append((job.frame, result))
        bar.update(len(batch))
        batch.clear()

    with (FaceDetector(max_faces=4 if several else 1, video=True) as detector,
          VideoReader(src, start=start, end=end) as reader,
          VideoOutput(output, stamp, fps=info.fps_fraction, width=info.width, height=info.height, audio_from=src,
                      audio_start=start / info.fps, audio_end=(stop / info.fps) if end is not None else None,
                      crf=cfg.crf) as out):
        tracker = FaceTracker(info.fps)
        batch: list[_Pending] = []
        with BackgroundWriter(out.write) as sink:  # encoding overlaps with the next frames' work
            for i, frame in enumerate(prefetch(reader), start=start):  # so does decoding
                track = selector.choose(frame, tracker.update(detector.detect(frame), i), i)
                batch.append(_prepare(model, i, frame, track, source_who))
                if len(batch) == cfg.batch:
                    flush(batch, sink)
            flush(batch, sink)
        frames_done = out.frames_written
    bar.close()
    if preview and shots:
        grid = image_grid([[a for a, _ in shots], [b for _, b in shots]], cell=min(256, info.height))
        write_image(preview, grid, Stamp("swap.convert.preview", cfg.to_dict(), inputs=(str(src),)))
    return ConvertReport(Path(output), frames_done, swapped, no_face, time.monotonic() - t0)


def describe_model(model_cfg: AutoencoderConfig) -> str:
    """One line: resolution, preset, parameter count."""
    net = SwapAutoencoder(model_cfg)
    return f"{model_cfg.preset} model at {model_cfg.resolution} px, {count_parameters(net) / 1e6:.1f} M parameters"
