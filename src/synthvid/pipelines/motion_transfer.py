"""Full-body motion transfer ("Everybody Dance Now"), training: a pose-to-image generator learns one target person.

1. The target video is read twice, streaming: first for its poses (33 keypoints, person mask), then to cut the
   square :class:`~synthvid.body.render.Canvas` that holds the person at the model's resolution and to estimate the
   empty background (:mod:`synthvid.body.background`). Both are kept in ``target.npz`` in the model folder.
2. :class:`DanceTask` trains the generator on consecutive frame pairs: the first frame is generated from its pose
   alone, the second from its pose, the previous pose and the first generated frame. Each generated frame is the
   person (RGB + matte) composited over the background, compared with the real frame (L1, DSSIM), judged by a
   two-scale pose-conditioned PatchGAN with feature matching and by a temporal PatchGAN on the frame pair. A face
   refiner is trained alongside on the generated faces (the paper's separate face stage; it sees its input
   detached, so it never changes the body generator).

Rendering new motion lives in :mod:`synthvid.pipelines.motion_transfer_render`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from synthvid.body.background import BackgroundEstimator
from synthvid.body.keypoints import NOSE, NUM_KEYPOINTS, PoseTrack, track_poses
from synthvid.body.normalize import Ground, ground_of
from synthvid.body.render import Canvas, render_pose
from synthvid.config import Config, option
from synthvid.errors import InputError
from synthvid.io.files import check_input_file, check_output_folder, make_output_folder
from synthvid.io.video import VideoReader, probe_video
from synthvid.models.autoencoder import autocast_dtype
from synthvid.models.pix2pix import (ARCH, FaceRefiner, MultiScaleDiscriminator, Pix2PixConfig, PoseGenerator,
                                     crop_faces, face_boxes, feature_matching, hinge_d, hinge_g, paste_faces)
from synthvid.progress import progress
from synthvid.train import distributed as D
from synthvid.train.data import to_frames, to_tensor
from synthvid.train.loop import LoopConfig, TrainSummary, numpy_rng_state, restore_numpy_rng
from synthvid.train.loop import train as run_loop
from synthvid.train.losses import dssim, weighted_l1
from synthvid.types import Frame
from synthvid.viz import image_grid

TARGET_FILE = "target.npz"
MIN_FRAMES = 30  # target frames with a person: fewer cannot teach a generator anything
BACKGROUND_SAMPLES = 40  # frames sampled for the background median
MASK_SIDE = 320  # person masks are kept this large (longest side) between the two passes
TARGET_MEMORY = 3e9  # bytes of target crops, mattes and pose images kept for training


@dataclasses.dataclass(frozen=True)
class DanceTrainConfig(Config):
    """How the generator is trained (may change between resumed runs)."""

    batch_size: int = option(4, "frame pairs per step (per process)")
    lr: float = option(2e-4, "Adam learning rate (generator, discriminators, face refiner)")
    l1_weight: float = option(10.0, "weight of the L1 loss between generated and real frames")
    ssim_weight: float = option(5.0, "weight of the structural (DSSIM) loss")
    matte_weight: float = option(1.0, "weight of the matte loss against the person mask")
    gan_weight: float = option(1.0, "weight of the adversarial loss (spatial, two scales)")
    feature_weight: float = option(5.0, "weight of the discriminator feature-matching loss")
    temporal_weight: float = option(0.5, "weight of the temporal adversarial loss on consecutive frames")
    face_weight: float = option(5.0, "weight of the face refiner's reconstruction loss")
    gan_start: int = option(200, "step from which the adversarial losses are used (let the body form first)")
    jitter: float = option(0.06, "random scale/shift applied to training pairs (share of the canvas)")
    precision: str = option("auto", "auto (bf16 where the hardware has it), bf16 or fp32",
                            choices=("auto", "bf16", "fp32"))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size < 1 or self.lr <= 0:
            raise InputError("batch_size must be >= 1 and lr positive")
        if not 0 <= self.jitter <= 0.3:
            raise InputError(f"jitter must lie in [0, 0.3], got {self.jitter}")


@dataclasses.dataclass
class TargetData:
    """What a motion-transfer model knows of its target video (``target.npz``)."""

    canvas: Canvas
    track: PoseTrack  # poses in frame pixels (all frames of the range)
    frames: np.ndarray  # T x R x R x 3 uint8 canvas crops
    mattes: np.ndarray  # T x R x R uint8 person masks (255 = person)
    background: Frame  # H x W x 3 full-frame background
    hole_share: float  # share of the background that was inpainted
    ground: dict[str, dict]  # {"auto": Ground dict, "hips": Ground dict}
    source: str  # the video's file name

    def save(self, path: Path) -> None:
        c = self.canvas
        np.savez(path, canvas=np.array([c.x0, c.y0, c.side, c.resolution], np.float64), points=self.track.points,
                 visibility=self.track.visibility, found=self.track.found, size=np.array(self.track.size),
                 fps=np.array(self.track.fps), people=np.array(self.track.people), frames=self.frames,
                 mattes=self.mattes, background=self.background, hole_share=np.array(self.hole_share),
                 meta=np.array(json.dumps({"ground": self.ground, "source": self.source})))

    @classmethod
    def load(cls, path: Path, images: bool = True) -> TargetData:
        """Read ``target.npz``; ``images=False`` skips the training crops and mattes (rendering needs only the
        canvas, poses, ground and background)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                x0, y0, side, res = (float(v) for v in z["canvas"])
                track = PoseTrack(z["points"].astype(np.float32), z["visibility"].astype(np.float32),
                                  z["found"].astype(bool), tuple(int(v) for v in z["size"]), float(z["fps"]),
                                  int(z["people"]))
                meta = json.loads(str(z["meta"]))
                r = int(res)
                frames = z["frames"] if images else np.zeros((0, r, r, 3), np.uint8)
                mattes = z["mattes"] if images else np.zeros((0, r, r), np.uint8)
                data = cls(Canvas(x0, y0, side, r), track, frames, mattes, z["background"],
                           float(z["hole_share"]), meta["ground"], str(meta["source"]))
            for key in ("auto", "hips"):
                Ground.from_dict(data.ground[key])
            w, h = data.track.size
        except Exception as e:  # noqa: BLE001 - hostile bytes: BadZipFile, EOFError, KeyError, ValueError ...
            raise InputError(f"{path} is not a readable motion-transfer target ({(str(e).splitlines() or [type(e).__name__])[0][:100]})"
                             ) from None
        r = data.canvas.resolution
        t = len(data.track)
        tr = data.track
        if tr.points.shape != (t, NUM_KEYPOINTS, 2) or tr.visibility.shape != (t, NUM_KEYPOINTS) or \
                tr.found.shape != (t,) or not np.isfinite([data.canvas.x0, data.canvas.y0, data.canvas.side]).all():
            raise InputError(f"{path} holds inconsistent poses")
        if r not in (128, 256, 512) or not data.canvas.side > 0 or w < 1 or h < 1 or \
                data.background.shape != (h, w, 3) or data.background.dtype != np.uint8:
            raise InputError(f"{path} holds an inconsistent motion-transfer target")
        n = t if images else 0
        if data.frames.shape != (n, r, r, 3) or data.mattes.shape != (n, r, r) or data.frames.dtype != np.uint8:
            raise InputError(f"{path} holds target frames of the wrong shape {data.frames.shape}")
        return data

    def canvas_poses(self) -> np.ndarray:
        return self.canvas.to_canvas(self.track.points)


def prepare_target(video: str | os.PathLike, resolution: int, frames: tuple[int, int | None] = (0, None),
                   person: int = 0, quiet: bool = False) -> TargetData:
    """Track, crop and clean the target video (two streaming passes)."""
    path = check_input_file(video, "target video")
    info = probe_video(path)
    start, end = frames
    end = min(end if end is not None else info.frame_count, info.frame_count) if info.frame_count else end
    limit = int(TARGET_MEMORY // (resolution * resolution * 7))  # crops, mattes and pose images stay in memory
    if end is None or end - start > limit:
        if not quiet and end is not None:
            print(f"note: {path.name}: training uses its first {limit} frames ({limit / max(info.fps, 1):.0f} s) "
                  f"at {resolution} px (memory bound); give a --frames range to choose others", file=sys.stderr)
        end = start + limit
    count = end - start
    w, h = info.width, info.height
    ms = min(1.0, MASK_SIDE / max(w, h))
    mask_size = (max(1, round(w * ms)), max(1, round(h * ms)))
    masks: list[np.ndarray | None] = []

    def keep_mask(i: int, frame: Frame, p: Any, v: Any, m: np.ndarray | None) -> None:
        masks.append(None if m is None else (cv2.resize(m, mask_size, interpolation=cv2.INTER_AREA) * 255
                                             ).astype(np.uint8))
        bar.update(1)

    bar = progress(total=count, desc=f"tracking {path.name}", unit="frame", quiet=quiet)
    with VideoReader(path, start=start, end=end) as reader:
        track = track_poses(reader, info.fps, (w, h), person=person, on_frame=keep_mask)
    bar.close()
    n_found = int(track.found.sum())
    if n_found < MIN_FRAMES:
        raise InputError(f"{path.name}: a person was found in {n_found} frame{'s' if n_found != 1 else ''}; "
                         f"training needs at least {MIN_FRAMES} (about {MIN_FRAMES / max(info.fps, 1):.0f} s)")
    canvas = Canvas.around(track.points[track.found], track.visibility[track.found], (w, h), resolution)
    t = len(track)
    crops = np.zeros((t, resolution, resolution, 3), np.uint8)
    mattes = np.zeros((t, resolution, resolution), np.uint8)
    bg = BackgroundEstimator((w, h))
    sample = set(np.linspace(0, t - 1, min(BACKGROUND_SAMPLES, t)).round().astype(int).tolist())
    bar = progress(total=t, desc="cutting the canvas", unit="frame", quiet=quiet)
    with VideoReader(path, start=start, end=start + t) as reader:
        for i, frame in enumerate(reader):
            if i >= t:
                break
            crops[i] = canvas.crop(frame)
            m = masks[i]
            if m is not None:
                full = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
                mattes[i] = canvas.crop(full, cv2.INTER_AREA)
            if i in sample:
                bg.add(frame, None if m is None else m.astype(np.float32) / 255)
            bar.update(1)
    bar.close()
    background, holes = bg.estimate()
    ground = {"auto": ground_of(track).to_dict(), "hips": ground_of(track, feet=False).to_dict()}
    return TargetData(canvas, track, crops, mattes, background, holes, ground, path.name)


def render_poses(points: np.ndarray, visibility: np.ndarray, resolution: int) -> np.ndarray:
    """T x 33 x 2 canvas points -> T x R x R x 3 stick figures."""
    return np.stack([render_pose(p, v, resolution) for p, v in zip(points, visibility)])


class DanceTask:
    """The training task for :func:`synthvid.train.loop.train`."""

    arch = ARCH

    def __init__(self, data: TargetData, model_cfg: Pix2PixConfig, cfg: DanceTrainConfig, device: torch.device,
                 seed: int = 0) -> None:
        self.model_cfg, self.cfg, self.device = model_cfg, cfg, device
        r = model_cfg.resolution
        if data.canvas.resolution != r:
            raise InputError(f"target data is at {data.canvas.resolution} px, the model at {r}")
        pts = data.canvas_poses()
        # kept as uint8 (T x R x R x C) and converted per batch: a 512² target of a few minutes fits in memory
        self.frames = torch.from_numpy(np.ascontiguousarray(data.frames))
        self.poses = torch.from_numpy(render_poses(pts, data.track.visibility, r))
        self.mattes = torch.from_numpy(np.ascontiguousarray(data.mattes))[..., None]
        self.background = to_tensor(data.canvas.crop(data.background)[None])  # 1 x 3 x R x R
        self.noses = torch.from_numpy(pts[:, NOSE]).float()  # T x 2
        found = data.track.found
        self.pairs = np.flatnonzero(found[1:] & found[:-1]) + 1  # t with t-1 also showing the person
        if len(self.pairs) == 0:
            raise InputError("the target has no two consecutive frames with the person")
        self.generator = PoseGenerator(model_cfg).to(device)
        self.discriminator = MultiScaleDiscriminator(3 + 3, scales=2).to(device)
        self.temporal = MultiScaleDiscriminator(2 * (3 + 3), scales=1).to(device)
        self.face = FaceRefiner(model_cfg.face_base).to(device)
        adam = lambda m: torch.optim.Adam(m.parameters(), lr=cfg.lr, betas=(0.5, 0.999))  # noqa: E731
        self.opt_g, self.opt_d, self.opt_t, self.opt_f = (adam(m) for m in (self.generator, self.discriminator,
                                                                            self.temporal, self.face))
        self.dtype = autocast_dtype(cfg.precision, device)
        self.images_per_step = 2 * cfg.batch_size
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.preview_idx = self.pairs[np.linspace(0, len(self.pairs) - 1, min(4, len(self.pairs))).round().astype(int)]
        self.meta = {"target": data.source, "frames": len(data.track), "pairs": len(self.pairs)}

    def config_dict(self) -> dict[str, Any]:
        return {"model": self.model_cfg.to_dict(), "train": self.cfg.to_dict(), "target": self.meta}

    def arch_config(self) -> dict[str, Any]:
        return {"model": self.model_cfg.to_dict()}

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator, "temporal": self.temporal,
                "face": self.face}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d, "temporal": self.opt_t, "face": self.opt_f}

    def rng_state(self) -> dict[str, Any]:
        return numpy_rng_state(self.rng)

    def set_rng_state(self, state: dict[str, Any]) -> None:
        self.rng = restore_numpy_rng(state)

    def _autocast(self) -> Any:
        return torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None)

    def _batch(self, idx: np.ndarray, augment: bool) -> dict[str, torch.Tensor]:
        """Frame pairs (t-1, t) with the same random scale/shift applied to everything of a pair."""
        prev, cur = idx - 1, idx
        b = len(idx)
        images = torch.cat([self.poses[prev], self.poses[cur], self.frames[prev], self.frames[cur]], 3)
        mattes = torch.cat([self.mattes[prev], self.mattes[cur]], 3)
        stack = torch.cat([images.permute(0, 3, 1, 2).float().div(127.5).sub(1),  # B x 12 x R x R in [-1, 1]
                           mattes.permute(0, 3, 1, 2).float().div(255),  # B x 2 x R x R in [0, 1]
                           self.background.expand(b, -1, -1, -1)], 1)
        noses = torch.stack([self.noses[prev], self.noses[cur]], 1)  # B x 2 x 2
        r = self.model_cfg.resolution
        if augment and self.cfg.jitter > 0:
            j = self.cfg.jitter
            s = torch.from_numpy(1 + self.rng.uniform(-j, j, b)).float()
            t = torch.from_numpy(self.rng.uniform(-2 * j, 2 * j, (b, 2))).float()  # in [-1, 1] units
            theta = torch.zeros(b, 2, 3)
            theta[:, 0, 0] = theta[:, 1, 1] = 1 / s
            theta[:, :, 2] = -t / s[:, None]
            grid = F.affine_grid(theta, list(stack.shape), align_corners=False)
            stack = F.grid_sample(stack, grid, mode="bilinear", padding_mode="border", align_corners=False)
            # a pixel at canvas u moves to s * (u - c) + c + t * R / 2
            c = r / 2
            noses = s[:, None, None] * (noses - c) + c + t[:, None, :] * r / 2
        parts = stack.split([3, 3, 3, 3, 1, 1, 3], 1)
        keys = ("pose0", "pose1", "real0", "real1", "matte0", "matte1", "background")
        out = {k: v.to(self.device) for k, v in zip(keys, parts)}
        out["nose0"], out["nose1"] = noses[:, 0].to(self.device), noses[:, 1].to(self.device)
        return out

    def generate(self, pose: torch.Tensor, prev_pose: torch.Tensor, prev_frame: torch.Tensor,
                 background: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame: (composite over the background, matte logits)."""
        rgb, logit = self.generator(pose, prev_pose, prev_frame)
        alpha = torch.sigmoid(logit.float())
        return alpha * rgb.float() + (1 - alpha) * background, logit

    def train_step(self, step: int, sync: Any) -> dict[str, float]:
        c = self.cfg
        for m in self.modules().values():
            m.train()
        b = self._batch(self.rng.choice(self.pairs, size=c.batch_size), augment=True)
        zeros = torch.zeros_like(b["pose0"])
        with self._autocast():
            fake0, logit0 = self.generate(b["pose0"], zeros, zeros, b["background"])
            fake1, logit1 = self.generate(b["pose1"], b["pose0"], fake0.detach(), b["background"])
        losses: dict[str, float] = {}
        total = torch.zeros((), device=self.device)
        for fake, logit, real, matte in ((fake0, logit0, b["real0"], b["matte0"]),
                                         (fake1, logit1, b["real1"], b["matte1"])):
            rec = c.l1_weight * weighted_l1(fake, real) + c.ssim_weight * dssim(fake, real)
            mat = F.binary_cross_entropy_with_logits(logit.float(), matte)
            total = total + rec / 2 + c.matte_weight * mat / 2
            losses["rec"] = losses.get("rec", 0.0) + float(rec.detach()) / 2
            losses["matte"] = losses.get("matte", 0.0) + float(mat.detach()) / 2
        adversarial = step >= c.gan_start and (c.gan_weight > 0 or c.temporal_weight > 0 or c.feature_weight > 0)
        fakes = torch.cat([fake0, fake1])
        poses = torch.cat([b["pose0"], b["pose1"]])
        reals = torch.cat([b["real0"], b["real1"]])
        pair_fake = torch.cat([b["pose0"], b["pose1"], fake0, fake1], 1)
        pair_real = torch.cat([b["pose0"], b["pose1"], b["real0"], b["real1"]], 1)
        if adversarial:
            self.discriminator.requires_grad_(False)
            self.temporal.requires_grad_(False)
            with self._autocast():
                d_fake = self.discriminator(torch.cat([poses, fakes], 1))
                d_real = self.discriminator(torch.cat([poses, reals], 1))
                t_fake = self.temporal(pair_fake)
            g_adv = hinge_g(d_fake).float()
            fm = feature_matching(d_real, d_fake).float()
            t_adv = hinge_g(t_fake).float()
            total = total + c.gan_weight * g_adv + c.feature_weight * fm + c.temporal_weight * t_adv
            losses.update(gan_g=float(g_adv.detach()), feature=float(fm.detach()), temporal_g=float(t_adv.detach()))
        self.opt_g.zero_grad(set_to_none=True)
        total.backward()
        sync(self.generator.parameters())
        self.opt_g.step()
        if adversarial:
            self.discriminator.requires_grad_(True)
            self.temporal.requires_grad_(True)
            with self._autocast():
                d_loss = hinge_d(self.discriminator(torch.cat([poses, reals], 1)),
                                 self.discriminator(torch.cat([poses, fakes.detach()], 1))).float()
                t_loss = hinge_d(self.temporal(pair_real), self.temporal(pair_fake.detach())).float()
            self.opt_d.zero_grad(set_to_none=True)
            self.opt_t.zero_grad(set_to_none=True)
            (d_loss + t_loss).backward()
            sync(self.discriminator.parameters())
            sync(self.temporal.parameters())
            self.opt_d.step()
            self.opt_t.step()
            losses.update(gan_d=float(d_loss.detach()), temporal_d=float(t_loss.detach()))
        losses["face"] = self._face_step(fake1.detach(), b["pose1"], b["real1"], b["nose1"], sync)
        losses["total"] = float(total.detach())
        return losses

    def _face_step(self, fake: torch.Tensor, pose: torch.Tensor, real: torch.Tensor, nose: torch.Tensor,
                   sync: Any) -> float:
        size = self.model_cfg.face_size
        corners = face_boxes(nose, size, self.model_cfg.resolution)
        with self._autocast():
            refined = self.face(crop_faces(fake, corners, size), crop_faces(pose, corners, size)).float()
        target = crop_faces(real, corners, size)
        loss = self.cfg.face_weight * (weighted_l1(refined, target) + dssim(refined, target))
        self.opt_f.zero_grad(set_to_none=True)
        loss.backward()
        sync(self.face.parameters())
        self.opt_f.step()
        return float(loss.detach())

    @torch.no_grad()
    def preview(self) -> Frame:
        """Rows of: pose | generated (refined face) | real."""
        for m in self.modules().values():
            m.eval()
        b = self._batch(self.preview_idx, augment=False)
        zeros = torch.zeros_like(b["pose0"])
        with self._autocast():
            fake0, _ = self.generate(b["pose0"], zeros, zeros, b["background"])
            fake1, _ = self.generate(b["pose1"], b["pose0"], fake0, b["background"])
            size = self.model_cfg.face_size
            corners = face_boxes(b["nose1"], size, self.model_cfg.resolution)
            faces = self.face(crop_faces(fake1, corners, size), crop_faces(b["pose1"], corners, size)).float()
        out = paste_faces(fake1.float(), faces, corners)
        cols = [to_frames(t) for t in (b["pose1"], out, b["real1"])]
        return image_grid([[col[i] for col in cols] for i in range(len(self.preview_idx))])


def load_or_prepare_target(video: str | os.PathLike, out_dir: Path, resolution: int,
                           frames: tuple[int, int | None], person: int, quiet: bool) -> TargetData:
    """The model folder's ``target.npz`` when it was made from the same video name and resolution, else a new one
    (the folder is created only once the target is known to be usable)."""
    path = out_dir / TARGET_FILE
    name = Path(video).name
    if path.is_file():
        data = TargetData.load(path)
        if data.source == name and data.canvas.resolution == resolution:
            return data
        raise InputError(f"{out_dir} holds a model of {data.source} at {data.canvas.resolution} px; use a new "
                         f"folder for {name} at {resolution} px")
    check_output_folder(out_dir)  # before the slow preparation
    data = prepare_target(video, resolution, frames, person, quiet)
    make_output_folder(out_dir)
    tmp = out_dir / f".{TARGET_FILE}.partial.npz"
    data.save(tmp)
    os.replace(tmp, path)
    return data


def train(target_video: str | os.PathLike, out_dir: str | os.PathLike, model: Pix2PixConfig | None = None,
          config: DanceTrainConfig | None = None, loop: LoopConfig | None = None,
          frames: tuple[int, int | None] = (0, None), person: int = 0, quiet: bool = False) -> TrainSummary:
    """Train (or resume training) a motion-transfer model of the person in ``target_video``.

    Args:
        target_video: a few minutes (or less) of the target person moving, filmed by a still camera.
        out_dir: model folder; re-running with the same folder resumes.
        model: network shape (resolution).
        config: training settings.
        loop: budget (``minutes``/``steps``) and schedule.
        frames: (start, end) frame range of the target video to learn from.
        person: which person when several are seen (N: N-th from the left; 0: the largest).
        quiet: no progress bars.
    """
    model_cfg = model or Pix2PixConfig()
    cfg = config or DanceTrainConfig()
    loop_cfg = loop or LoopConfig(minutes=30)
    out = Path(out_dir)
    ctx = D.init_distributed(loop_cfg.device)
    try:
        prepared: dict[str, TargetData] = {}
        # the other processes wait for the main one to write target.npz (or to fail: then all stop)
        D.on_main_first(lambda: prepared.update(data=load_or_prepare_target(target_video, out, model_cfg.resolution,
                                                                            frames, person, quiet)),
                        ctx, "prepare the target video")
        data = prepared["data"] if ctx.is_main else TargetData.load(out / TARGET_FILE)
        task = DanceTask(data, model_cfg, cfg, ctx.device, seed=loop_cfg.seed + ctx.rank)
        return run_loop(task, out, loop_cfg, ctx, arch_config=task.arch_config(), quiet=quiet)
    finally:
        D.shutdown(ctx)
