"""Neural refinement of reenacted faces, trained on the target's own video (Deep Video Portraits' idea on a warp).

Training pairs come from the target video alone: frame ``j`` of the target is re-rendered (warped, mouth filled)
to the landmarks and head pose of another frame ``t``, exactly as reenactment renders a driven expression, and the
network learns to turn that rendering (plus a landmark sketch) into the real frame ``t``. At run time the same
network refines every reenacted frame: the face crop is aligned on the new landmarks, refined, and only the
change the network makes is warped back and blended inside the face.

    train_refiner("target.mp4", "refiner/", loop=LoopConfig(minutes=10))
    refine = Refiner.load("refiner/")
    frame = refine(frame, landmarks)

Faces are stored per kept frame as a wide crop (twice the final field of view) and its landmarks, so memory does
not grow with the video's frame size; pairs are rendered on the fly, so every step sees new pairs.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from synthvid.config import Config, option
from synthvid.errors import CheckpointError, InputError, NoFaceError
from synthvid.face.align import alignment_matrix, warp_face
from synthvid.face.geometry import compose_affine, invert_affine, transform_points
from synthvid.face.landmarks import inter_ocular_distance
from synthvid.face.masks import face_hull_mask
from synthvid.io.files import check_input_file, output_folder, write_bytes_atomic
from synthvid.io.video import VideoReader, probe_video
from synthvid.models.pix2pix import MultiScaleDiscriminator, feature_matching, hinge_d, hinge_g
from synthvid.models.refiner import ARCH, RefineNet, RefinerConfig, landmark_sketch
from synthvid.progress import progress
from synthvid.reenact.motion import FaceFollower, FaceState
from synthvid.reenact.render import mouth_mode, rerender
from synthvid.train import distributed as D
from synthvid.train.checkpoint import load_checkpoint
from synthvid.train.data import to_frames, to_tensor
from synthvid.train.loop import LoopConfig, TrainSummary, numpy_rng_state, restore_numpy_rng
from synthvid.train.loop import train as run_loop
from synthvid.types import Frame
from synthvid.viz import image_grid

FACES_FILE = "faces.npz"
MIN_FACES = 8  # fewer kept frames than this cannot teach anything


@dataclasses.dataclass(frozen=True)
class RefineTrainConfig(Config):
    """How the refiner is trained (the weights and limits may change between resumed runs; switching the GAN term
    on or off may not, and max_frames only applies when the faces are collected)."""

    batch_size: int = option(8, "pairs per step")
    lr: float = option(2e-4, "Adam learning rate (generator and discriminator)")
    l1_weight: float = option(10.0, "weight of the L1 loss to the real frame")
    edge_weight: float = option(10.0, "weight of the L1 loss on image gradients (keeps edges sharp where plain L1 "
                                "would blur)")
    gan_weight: float = option(0.1, "weight of the adversarial + feature-matching losses (0: L1 only, faster)")
    max_frames: int = option(600, "most target frames kept (spread evenly over the video)")
    min_gap: int = option(5, "smallest distance in kept frames between the rendered frame and its source")
    same_share: float = option(0.1, "share of pairs rendered from their own frame (teaches to leave right alone)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lr <= 0:
            raise InputError(f"lr must be positive, got {self.lr}")
        if self.batch_size < 1 or self.max_frames < MIN_FACES or self.min_gap < 0:
            raise InputError(f"batch_size must be >= 1, max_frames >= {MIN_FACES}, min_gap >= 0")
        if not 0.0 <= self.same_share <= 1.0 or min(self.l1_weight, self.edge_weight, self.gan_weight) < 0:
            raise InputError("same_share must lie in [0, 1]; loss weights must not be negative")


# ------------------------------------------------------------------------------------------- target faces


@dataclasses.dataclass
class TargetFaces:
    """Wide face crops of the target video (2R x 2R, face at half the final coverage) with their landmarks."""

    crops: np.ndarray  # N x 2R x 2R x 3 uint8
    points: np.ndarray  # N x 478 x 3 float32, wide-crop pixels
    matrices: np.ndarray  # N x 2 x 3 float32: frame -> wide crop
    frames: np.ndarray  # N int: frame index in the video
    source: str
    origin: str = ""  # what the faces were collected from: resolved path, size, mtime, frame range, settings

    def __len__(self) -> int:
        return len(self.crops)

    def save(self, path: Path) -> None:
        buf = io.BytesIO()
        np.savez(buf, crops=self.crops, points=self.points, matrices=self.matrices, frames=self.frames,
                 source=np.array([self.source, self.origin]))
        write_bytes_atomic(path, buf.getvalue())

    @classmethod
    def load(cls, path: Path, resolution: int) -> TargetFaces:
        """Read a faces file, checking every array (it may be damaged or hostile)."""
        side = 2 * resolution
        bad = InputError(f"{path} does not hold the {side}-px faces of a refiner run")
        try:
            with np.load(check_input_file(path, "faces file"), allow_pickle=False) as z:
                if not isinstance(z, np.lib.npyio.NpzFile):
                    raise bad
                crops, points, mats, frames, source = (z["crops"], z["points"], z["matrices"], z["frames"],
                                                       z["source"])
        except InputError:
            raise
        except (OSError, ValueError, KeyError, EOFError, TypeError, MemoryError, zipfile.BadZipFile) as e:
            raise InputError(f"{path} is not a readable faces file ({str(e).splitlines()[0][:120]})") from None
        if crops.ndim != 4 or source.dtype.kind != "U" or source.shape != (2,):
            raise bad
        n = len(crops)
        if (crops.dtype != np.uint8 or crops.shape[1:] != (side, side, 3) or points.shape != (n, 478, 3)
                or mats.shape != (n, 2, 3) or frames.shape != (n,) or points.dtype.kind != "f"
                or mats.dtype.kind != "f" or frames.dtype.kind not in "iu"
                or not (np.isfinite(points).all() and np.isfinite(mats).all())
                or (n and np.abs(np.linalg.det(mats[:, :, :2].astype(np.float64))).min() < 1e-6)):
            raise bad
        return cls(crops, points.astype(np.float32), mats.astype(np.float32), frames.astype(np.int64),
                   str(source[0]), str(source[1]))


def _origin(path: Path, model: RefinerConfig, max_frames: int, frames: tuple[int, int | None]) -> str:
    st = path.stat()
    return (f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{frames[0]}:{frames[1]}|{max_frames}|"
            f"{model.resolution}|{model.coverage}")


def collect_target(video: str | os.PathLike, model: RefinerConfig, max_frames: int = 600,
                   frames: tuple[int, int | None] = (0, None), quiet: bool = False) -> TargetFaces:
    """Track the target's face (largest face, tracking mode) and keep wide crops of evenly spread frames."""
    path = check_input_file(video, "video")
    info = probe_video(path)
    start, end = frames
    # the header's frame count only sets the sampling (it may be missing or wrong); the reader decides the end
    count = max((min(end, info.frame_count) if end is not None else info.frame_count) - start, 0)
    every = max(math.ceil(count / max_frames), 1) if count else 1
    side, cover = 2 * model.resolution, model.coverage / 2
    crops, points, mats, kept = [], [], [], []
    bar = progress(total=count or None, desc=f"faces of {path.name}", unit="frame", quiet=quiet)
    with FaceFollower(info.fps) as follow, VideoReader(path, start=start, end=end) as reader:
        for i, frame in enumerate(reader):
            seen = follow(frame)  # every frame: the tracker needs them all
            bar.update(1)
            if len(crops) >= max_frames:
                break
            if seen is None or i % every:
                continue
            lm = seen[0]
            if inter_ocular_distance(lm) < 8:
                continue
            m = alignment_matrix(lm, side, cover)
            crops.append(warp_face(frame, m, side))
            points.append(transform_points(lm, m))
            mats.append(m)
            kept.append(start + i)
    bar.close()
    if len(crops) < MIN_FACES:
        raise NoFaceError(f"{path.name}: a face was found in only {len(crops)} usable frames; the refiner needs at "
                          f"least {MIN_FACES} (a longer clip of the target, face in view)")
    return TargetFaces(np.stack(crops), np.stack(points).astype(np.float32), np.stack(mats).astype(np.float32),
                       np.array(kept, np.int64), str(path), _origin(path, model, max_frames, frames))


def _source_fits(faces: TargetFaces, t: int, j: int) -> bool:
    """Whether face ``j``, moved into crop ``t``, lies inside it with its head ring (no invented border pixels)."""
    side = faces.crops.shape[1]
    to_t = compose_affine(faces.matrices[t], invert_affine(faces.matrices[j]))
    pts = transform_points(faces.points[j][:, :2], to_t)
    lo, hi = pts.min(0), pts.max(0)
    margin = 0.25 * float((hi - lo).max())  # the ring around the head reaches about this far beyond the face
    return bool((lo - margin >= 0).all() and (hi + margin <= side).all())


def render_pair(faces: TargetFaces, t: int, j: int, model: RefinerConfig) -> tuple[Frame, Frame, np.ndarray]:
    """Face ``j`` re-rendered to the landmarks and pose of face ``t``, as reenactment would: (rendered crop, real
    crop of ``t``, landmarks of the rendering in crop pixels), all R x R."""
    side = faces.crops.shape[1]
    to_t = compose_affine(faces.matrices[t], invert_affine(faces.matrices[j]))  # wide crop j -> wide crop t
    image = cv2.warpAffine(faces.crops[j], to_t, (side, side), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT101)
    src = FaceState.of(transform_points(faces.points[j], to_t))
    dst = FaceState.of(faces.points[t])
    step = max(3, round(inter_ocular_distance(src.landmarks) / 16))
    r = rerender(image, src.landmarks, src.pose, dst.frontal, dst.pose, mouth_mode(src.landmarks), step)
    m = alignment_matrix(r.landmarks, model.resolution, model.coverage)
    return (warp_face(r.frame, m, model.resolution), warp_face(faces.crops[t], m, model.resolution),
            transform_points(r.landmarks, m))


# ------------------------------------------------------------------------------------------- training


def _jitter_colour(rng: np.random.Generator, *images: np.ndarray) -> list[np.ndarray]:
    """The same brightness/contrast/colour change on every image (input and its target change together)."""
    gain = rng.uniform(0.85, 1.15) * rng.uniform(0.95, 1.05, size=3)
    offset = rng.uniform(-12, 12)
    return [np.clip(im.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8) for im in images]


def _gradient_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """L1 between the horizontal and vertical differences of two image batches."""
    return (F.l1_loss(a[..., :, 1:] - a[..., :, :-1], b[..., :, 1:] - b[..., :, :-1])
            + F.l1_loss(a[..., 1:, :] - a[..., :-1, :], b[..., 1:, :] - b[..., :-1, :]))


class RefineTask:
    """The training task for :func:`synthvid.train.loop.train`."""

    arch = ARCH

    def __init__(self, faces: TargetFaces, model_cfg: RefinerConfig, cfg: RefineTrainConfig, device: torch.device,
                 seed: int = 0) -> None:
        if len(faces) < MIN_FACES:
            raise InputError(f"refiner training needs at least {MIN_FACES} target faces; found {len(faces)}")
        self.faces, self.model_cfg, self.cfg, self.device = faces, model_cfg, cfg, device
        self.net = RefineNet(model_cfg).to(device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
        self.disc = MultiScaleDiscriminator(9, base=32, layers=3, scales=2).to(device) if cfg.gan_weight else None
        self.opt_d = (torch.optim.Adam(self.disc.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
                      if self.disc is not None else None)
        self.images_per_step = cfg.batch_size
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self._preview_seed = seed + 4321

    def config_dict(self) -> dict[str, Any]:
        return {"model": self.model_cfg.to_dict(), "train": self.cfg.to_dict(),
                "data": {"source": str(Path(self.faces.source).resolve()), "faces": len(self.faces)}}

    def arch_config(self) -> dict[str, Any]:
        return {"model": self.model_cfg.to_dict(), "gan": self.disc is not None}

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"refiner": self.net, **({"discriminator": self.disc} if self.disc is not None else {})}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"refiner": self.opt, **({"discriminator": self.opt_d} if self.opt_d is not None else {})}

    def rng_state(self) -> dict[str, Any]:
        return numpy_rng_state(self.rng)

    def set_rng_state(self, state: dict[str, Any]) -> None:
        self.rng = restore_numpy_rng(state)

    def sample(self, rng: np.random.Generator, n: int, augment: bool = True
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """n pairs: (rendered, sketch, real), each n x 3 x R x R in [-1, 1]."""
        count = len(self.faces)
        gap = min(self.cfg.min_gap, count // 2)
        rendered, sketches, reals = [], [], []
        for _ in range(n):
            t = int(rng.integers(count))
            j = t
            if rng.random() >= self.cfg.same_share:
                far = np.flatnonzero(np.abs(np.arange(count) - t) >= max(gap, 1))
                for _ in range(8):  # a source whose face, moved here, would leave the crop is drawn again
                    cand = int(rng.choice(far)) if len(far) else t
                    if _source_fits(self.faces, t, cand):
                        j = cand
                        break
            inp, real, pts = render_pair(self.faces, t, j, self.model_cfg)
            sketch = landmark_sketch(pts, self.model_cfg.resolution)
            if augment:
                inp, real = _jitter_colour(rng, inp, real)
                if rng.random() < 0.5:
                    inp, real, sketch = inp[:, ::-1], real[:, ::-1], sketch[:, ::-1]
            rendered.append(inp)
            sketches.append(sketch)
            reals.append(real)
        return (to_tensor(rendered).to(self.device), to_tensor(sketches).to(self.device),
                to_tensor(reals).to(self.device))

    def train_step(self, step: int, sync: Callable[[Iterable[torch.nn.Parameter]], None]) -> dict[str, float]:
        self.net.train()
        warped, sketch, real = self.sample(self.rng, self.cfg.batch_size)
        out = self.net(warped, sketch)
        l1 = F.l1_loss(out, real)
        edge = _gradient_l1(out, real)
        total = self.cfg.l1_weight * l1 + self.cfg.edge_weight * edge
        logs: dict[str, float] = {"l1": l1.item(), "edge": edge.item(), "l1_input": F.l1_loss(warped, real).item()}
        if self.disc is not None and self.opt_d is not None:
            cond = torch.cat([warped, sketch], 1)
            self.disc.requires_grad_(False)  # the generator's step leaves the discriminator alone
            with torch.no_grad():
                d_real = self.disc(torch.cat([cond, real], 1))  # feature-matching targets only
            d_fake = self.disc(torch.cat([cond, out], 1))
            adv = hinge_g(d_fake) + 10.0 * feature_matching(d_real, d_fake)
            total = total + self.cfg.gan_weight * adv
            logs["adv"] = adv.item()
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        sync(self.net.parameters())
        self.opt.step()
        if self.disc is not None and self.opt_d is not None:
            self.disc.requires_grad_(True)
            d_loss = hinge_d(self.disc(torch.cat([cond, real], 1)), self.disc(torch.cat([cond, out.detach()], 1)))
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            sync(self.disc.parameters())
            self.opt_d.step()
            logs["d"] = d_loss.item()
        logs["total"] = total.item()
        return logs

    @torch.no_grad()
    def preview(self) -> Frame:
        """Rows of (rendering, refined, real) for four fixed pairs."""
        self.net.eval()
        warped, sketch, real = self.sample(np.random.Generator(np.random.PCG64(self._preview_seed)), 4,
                                           augment=False)
        out = self.net(warped, sketch)
        self.net.train()
        cols = [to_frames(x) for x in (warped, out, real)]
        return image_grid([[c[k] for c in cols] for k in range(len(cols[0]))])


def load_or_collect(video: str | os.PathLike, file: Path, model: RefinerConfig, cfg: RefineTrainConfig,
                    frames: tuple[int, int | None], quiet: bool) -> None:
    """Keep ``file`` when it holds the faces of the same video file, range and settings, else collect them there."""
    if file.exists():
        try:
            if TargetFaces.load(file, model.resolution).origin == _origin(Path(video), model, cfg.max_frames, frames):
                return
        except InputError:
            pass  # damaged or from other settings: collected again
    collect_target(video, model, cfg.max_frames, frames, quiet).save(file)


def _check_resume(out: Path, video: Path, model: RefinerConfig) -> None:
    """A model folder belongs to one person and one network shape: say so before minutes of face collection."""
    ckpt = out / "checkpoint.pt"
    if not ckpt.is_file():
        return
    config = load_checkpoint(ckpt, ARCH, check_weights=False).get("config", {})
    if not isinstance(config, dict):
        raise CheckpointError(f"{ckpt} has no training settings")
    was_model = config.get("model", {})
    was_source = (config.get("data") or {}).get("source") if isinstance(config.get("data"), dict) else None
    if was_model != model.to_dict():
        raise InputError(f"{out} holds a refiner with other network settings ({was_model}); use a new folder or "
                         "the same settings")
    if was_source is not None and Path(str(was_source)).resolve() != video.resolve():
        raise InputError(f"{out} holds the refiner of {Path(str(was_source)).name}, not of {video.name}; use a new "
                         "folder for another person")


def train_refiner(video: str | os.PathLike, out_dir: str | os.PathLike, model: RefinerConfig | None = None,
                  config: RefineTrainConfig | None = None, loop: LoopConfig | None = None,
                  frames: tuple[int, int | None] = (0, None), quiet: bool = False) -> TrainSummary:
    """Train (or resume) the neural refinement of one target person on a video of them.

    Args:
        video: the target video (the person whose reenactments will be refined; a minute or less is enough).
        out_dir: model folder; re-running with the same folder resumes.
        model, config, loop: network shape, training settings, budget and schedule.
        frames: frame range of the video to learn from.
    """
    model_cfg = model or RefinerConfig()
    cfg = config or RefineTrainConfig()
    loop_cfg = loop or LoopConfig(minutes=10)
    src = check_input_file(video, "video")
    with output_folder(out_dir) as out:
        _check_resume(out, src, model_cfg)
        ctx = D.init_distributed(loop_cfg.device)
        try:
            D.on_main_first(lambda: load_or_collect(src, out / FACES_FILE, model_cfg, cfg, frames, quiet), ctx,
                            "collect the target's faces")
            faces = TargetFaces.load(out / FACES_FILE, model_cfg.resolution)
            task = RefineTask(faces, model_cfg, cfg, ctx.device, seed=loop_cfg.seed + ctx.rank)
            return run_loop(task, out, loop_cfg, ctx, arch_config=task.arch_config(), quiet=quiet)
        finally:
            D.shutdown(ctx)


# ------------------------------------------------------------------------------------------- refining


class Refiner:
    """A trained refiner applied to whole frames: aligned crop -> network -> its change blended into the face."""

    def __init__(self, net: RefineNet, cfg: RefinerConfig, device: torch.device | None = None,
                 threads: int = 1) -> None:
        self.cfg, self.device = cfg, device or torch.device("cpu")
        # one CPU thread: the pipelines encode (and watermark) in a parallel thread, and PyTorch's spinning worker
        # threads fight it (measured: 8.6 fps with 2 threads, 16.6 fps with 1 on 2 cores)
        self.threads = threads
        self.net = net.to(self.device).eval()
        r = cfg.resolution
        t = np.minimum(np.arange(r) + 0.5, r - np.arange(r) - 0.5) / (r * 0.08)  # fades out at the crop's edge
        edge = np.clip(t, 0, 1).astype(np.float32)
        self._edge = edge[:, None] * edge[None, :]

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu") -> Refiner:
        """From a model folder of :func:`train_refiner` (or its checkpoint file)."""
        p = Path(path)
        file = p / "checkpoint.pt" if p.is_dir() else p
        if not file.is_file():
            raise InputError(f"no refiner model at {p} (train one with `synthvid reenact train`)")
        ck = load_checkpoint(file, ARCH)
        try:
            cfg = RefinerConfig.from_dict(dict(ck["config"]["model"]))
            net = RefineNet(cfg)
            net.load_state_dict(ck["state_dict"]["refiner"])
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, InputError) as e:
            raise CheckpointError(f"{file} has no usable refiner weights ({str(e).splitlines()[0][:120]})") from None
        return cls(net, cfg, torch.device(device))

    def mask(self, points: np.ndarray) -> np.ndarray:
        """Where the refined crop replaces the rendering: the face hull grown a little, feathered, faded at the
        crop's edge (R x R float32)."""
        r = self.cfg.resolution
        hull = face_hull_mask(points, (r, r))
        k = max(3, r // 16) | 1
        hull = cv2.dilate(hull, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        return cv2.GaussianBlur(hull, (0, 0), r / 40) * self._edge

    def __call__(self, frame: Frame, landmarks: np.ndarray) -> Frame:
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            return self._refine(frame, landmarks)
        finally:
            torch.set_num_threads(before)

    @torch.no_grad()
    def _refine(self, frame: Frame, landmarks: np.ndarray) -> Frame:
        r = self.cfg.resolution
        m = alignment_matrix(landmarks, r, self.cfg.coverage)
        crop = warp_face(frame, m, r)
        pts = transform_points(landmarks, m)
        x = to_tensor([crop]).to(self.device)
        s = to_tensor([landmark_sketch(pts, r)]).to(self.device)
        delta = (self.net(x, s) - x)[0].permute(1, 2, 0).cpu().numpy() * 127.5  # pixel units
        change = np.ascontiguousarray(delta * self.mask(pts)[..., None], dtype=np.float32)
        # warp the change back into the frame over the crop's bounding box only
        inv = invert_affine(m)
        corners = np.array([[0, 0], [r, 0], [0, r], [r, r]], np.float32) @ inv[:, :2].T + inv[:, 2]
        h, w = frame.shape[:2]
        x0, y0 = np.clip(np.floor(corners.min(0)).astype(int), 0, [w, h])
        x1, y1 = np.clip(np.ceil(corners.max(0)).astype(int) + 1, 0, [w, h])
        if x1 <= x0 or y1 <= y0:
            return frame
        to_box = compose_affine(np.array([[1, 0, -x0], [0, 1, -y0]], np.float32), inv)
        back = cv2.warpAffine(change, to_box, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        out = frame.copy()
        region = out[y0:y1, x0:x1].astype(np.float32) + back
        out[y0:y1, x0:x1] = np.clip(region + 0.5, 0, 255).astype(np.uint8)
        return out
