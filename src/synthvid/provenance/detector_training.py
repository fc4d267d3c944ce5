"""Training the manipulated-face detector from real faces (self-blended images) and synthvid's own outputs.

1. :func:`collect_faces` finds the face in every N-th frame of each video and keeps the aligned detector crop and
   its landmarks (``real_faces.npz`` / ``synthvid_faces.npz`` in the run folder, so a resumed run does not look
   again).
2. :class:`DetectorTask` draws half a batch of real crops and pairs each with a fake: its own self-blended version
   (:mod:`synthvid.provenance.self_blend`; the pair differs only by the blend, so the network must learn the blend's
   traces, not who is in the picture) or, with probability ``synthvid_share``, a crop from a synthvid output. Some
   real crops first get drawn glasses (their fakes then wear them too). All crops get the same random jitter,
   change of look and degradation. Losses: binary cross-entropy on the real/fake logit, and on
   the blend-boundary map (self-blended fakes: ``4 m (1 - m)``; real: zero; synthvid outputs: not supervised, the
   blend mask is unknown).
3. The shared resumable loop (:func:`synthvid.train.loop.train`) runs it; :func:`export_detector` writes the small
   half-precision weights file that ``synthvid detect`` loads.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any, Callable, Iterable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from synthvid.config import Config, option
from synthvid.errors import CheckpointError, InputError
from synthvid.face.detect import FaceDetector
from synthvid.io.files import check_input_file, write_bytes_atomic
from synthvid.io.image import IMAGE_SUFFIXES, read_image
from synthvid.models.detector import ARCH, DetectorConfig, FakeDetector
from synthvid.progress import progress
from synthvid.provenance.detect import face_crops
from synthvid.provenance.self_blend import add_glasses, boundary_map, degrade, self_blend
from synthvid.provenance.watermark import Embedder, Payload
from synthvid.train import distributed as D
from synthvid.train.checkpoint import load_checkpoint, save_checkpoint
from synthvid.train.data import to_tensor
from synthvid.train.loop import LoopConfig, TrainSummary, numpy_rng_state, restore_numpy_rng, run_folder
from synthvid.train.loop import train as run_loop
from synthvid.types import Frame
from synthvid.viz import image_grid

@dataclasses.dataclass(frozen=True)
class DetectorTrainConfig(Config):
    """How the detector is trained (may change between resumed runs)."""

    batch_size: int = option(32, "crops per step (half real, half fake)")
    lr: float = option(5e-4, "AdamW learning rate")
    weight_decay: float = option(1e-4, "AdamW weight decay")
    map_weight: float = option(1.0, "weight of the blend-boundary map loss")
    synthvid_share: float = option(0.25, "share of fakes drawn from synthvid outputs (when given)")
    glasses: float = option(0.2, "share of real crops given drawn glasses (their self-blended fakes too)")
    face_inset: float = option(0.0, "whole-face blend masks moved this share of the crop inside the face outline")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size < 2 or self.batch_size % 2:
            raise InputError(f"batch_size must be an even number >= 2, got {self.batch_size}")
        if not 0.0 <= self.synthvid_share <= 1.0:
            raise InputError(f"synthvid_share must lie in [0, 1], got {self.synthvid_share}")
        if not 0.0 <= self.glasses <= 1.0:
            raise InputError(f"glasses must lie in [0, 1], got {self.glasses}")
        if not 0.0 <= self.face_inset <= 0.2:
            raise InputError(f"face_inset must lie in [0, 0.2], got {self.face_inset}")


@dataclasses.dataclass
class FaceSamples:
    """Aligned detector crops of many videos."""

    crops: np.ndarray  # N x R x R x 3 uint8
    points: np.ndarray  # N x 478 x 2 float32, crop pixels
    video: np.ndarray  # N int: index into ``sources``
    sources: list[str]

    def __len__(self) -> int:
        return len(self.crops)

    def save(self, path: Path) -> None:
        import io  # noqa: PLC0415

        buf = io.BytesIO()
        np.savez(buf, crops=self.crops, points=self.points, video=self.video, sources=np.array(self.sources))
        write_bytes_atomic(path, buf.getvalue())

    @classmethod
    def load(cls, path: Path, resolution: int) -> FaceSamples:
        """Read a faces file, checking every array (it may be damaged or hostile)."""
        bad = InputError(f"{path} does not hold {resolution}-px detector crops")
        try:
            with np.load(check_input_file(path, "faces file"), allow_pickle=False) as z:
                crops, points, video, names = z["crops"], z["points"], z["video"], z["sources"]
                if (crops.ndim != 4 or points.ndim != 3 or video.ndim != 1 or names.ndim != 1
                        or points.dtype.kind != "f" or video.dtype.kind not in "iu" or names.dtype.kind != "U"):
                    raise bad
                sources = [str(s) for s in names]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise InputError(f"{path} is not a readable faces file ({str(e).splitlines()[0][:120]})") from None
        n = len(crops)
        if (crops.dtype != np.uint8 or crops.shape[1:] != (resolution, resolution, 3) or points.shape[0] != n
                or points.shape[1:] != (478, 2) or video.shape != (n,) or (n and not 0 <= video.min() <= video.max()
                                                                          < len(sources))):
            raise bad
        return cls(crops, points.astype(np.float32), video.astype(np.int64), sources)


def collect_faces(paths: list[str | os.PathLike], cfg: DetectorConfig, every: int = 5, max_per_video: int = 400,
                  quiet: bool = False, mark: float = 0.0) -> FaceSamples:
    """The largest face of every ``every``-th frame (at most ``max_per_video`` per video; images: one each).

    ``mark``: the share of the sources (chosen by a hash of their paths, so the same ones every time) whose frames
    first get synthvid's watermark (default key, a new payload per source), as synthvid's writer marks every file
    it writes. synthvid's own outputs, used as fakes, all carry it, the real faces none: a network can learn the
    mark as a sign of a fake (docs/provenance.md)."""
    if every < 1 or max_per_video < 1:
        raise InputError(f"every and max_per_video must be at least 1, got {every} and {max_per_video}")
    crops, points, video = [], [], []
    sources = [str(p) for p in paths]
    for vi, path in enumerate(paths):
        p = check_input_file(path, "video")
        kept = 0
        embed = Embedder(Payload.new()) if zlib.crc32(str(p).encode()) / 2**32 < mark else None
        if p.suffix.lower() in IMAGE_SUFFIXES:
            frames: Iterable[Frame] = [read_image(p)]
        else:
            from synthvid.io.video import VideoReader  # noqa: PLC0415

            frames = VideoReader(p)
        try:
            with FaceDetector(max_faces=1, video=every <= 2) as detector:
                for i, frame in enumerate(progress(frames, desc=f"faces of {p.name}", unit="frame", quiet=quiet)):
                    if i % every:
                        continue
                    found = face_crops(frame if embed is None else embed(frame), detector, cfg)
                    if found:
                        crops.append(found[0].crop)
                        points.append(found[0].points.astype(np.float32))
                        video.append(vi)
                        kept += 1
                    if kept >= max_per_video:
                        break
        finally:
            if hasattr(frames, "close"):
                frames.close()
    r = cfg.resolution
    return FaceSamples(np.stack(crops) if crops else np.zeros((0, r, r, 3), np.uint8),
                       np.stack(points) if points else np.zeros((0, 478, 2), np.float32),
                       np.array(video, np.int64), sources)


def _jitter(rng: np.random.Generator, size: int) -> np.ndarray:
    """A small random similarity (alignment error) with a random flip, 2 x 3."""
    a = np.radians(rng.uniform(-6, 6))
    s = rng.uniform(0.94, 1.06)
    t = rng.uniform(-0.03, 0.03, 2) * size
    c = size / 2
    m = np.array([[s * np.cos(a), -s * np.sin(a), 0], [s * np.sin(a), s * np.cos(a), 0]], np.float32)
    m[:, 2] = c - m[:, :2] @ np.array([c, c], np.float32) + t
    if rng.random() < 0.5:
        m[0] = -m[0]
        m[0, 2] += size
    return m


class DetectorTask:
    """The training task for :func:`synthvid.train.loop.train`."""

    arch = ARCH

    def __init__(self, real: FaceSamples, fake: FaceSamples | None, model_cfg: DetectorConfig,
                 cfg: DetectorTrainConfig, device: torch.device, seed: int = 0) -> None:
        if len(real) < 2:
            raise InputError(f"detector training needs real faces; found {len(real)}")
        self.real, self.fake = real, fake if fake is not None and len(fake) else None
        self.model_cfg, self.cfg, self.device = model_cfg, cfg, device
        self.net = FakeDetector(model_cfg).to(device)
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.images_per_step = cfg.batch_size
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.meta = {"real_faces": len(real), "real_videos": len(real.sources),
                     "synthvid_faces": len(self.fake) if self.fake else 0}
        self._preview_rng_seed = seed + 12345

    def config_dict(self) -> dict[str, Any]:
        return {"model": self.model_cfg.to_dict(), "train": self.cfg.to_dict(), "data": self.meta}

    def arch_config(self) -> dict[str, Any]:
        return {"model": self.model_cfg.to_dict()}

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"detector": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"detector": self.opt}

    def rng_state(self) -> dict[str, Any]:
        return numpy_rng_state(self.rng)

    def set_rng_state(self, state: dict[str, Any]) -> None:
        self.rng = restore_numpy_rng(state)

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """n real crops and n fakes: (crops 2n x R x R x 3 uint8, labels 2n, maps 2n x R/4 x R/4, map weights 2n)."""
        r, side = self.model_cfg.resolution, self.model_cfg.resolution // 4
        crops, labels, maps, weights = [], [], [], []
        for i in rng.integers(0, len(self.real), n):
            face = self.real.crops[i]
            if rng.random() < self.cfg.glasses:  # glasses are no blend: the real crop and its own fake wear them
                face = add_glasses(face, self.real.points[i], rng)
            if self.fake is not None and rng.random() < self.cfg.synthvid_share:
                fake, m, w = self.fake.crops[rng.integers(len(self.fake))], np.zeros((r, r), np.float32), 0.0
            else:
                fake, m = self_blend(face, self.real.points[i], rng, self.cfg.face_inset)
                w = 1.0
            for img, mask, label, weight in ((face, np.zeros((r, r), np.float32), 0.0, 1.0), (fake, m, 1.0, w)):
                j = _jitter(rng, r)
                img = cv2.warpAffine(img, j, (r, r), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
                mask = cv2.warpAffine(mask, j, (r, r), flags=cv2.INTER_LINEAR, borderValue=0)
                crops.append(degrade(img, rng))
                labels.append(label)
                maps.append(boundary_map(mask, side))
                weights.append(weight)
        return np.stack(crops), np.array(labels, np.float32), np.stack(maps), np.array(weights, np.float32)

    def losses(self, crops: np.ndarray, labels: np.ndarray, maps: np.ndarray,
               weights: np.ndarray) -> tuple[torch.Tensor, dict[str, float]]:
        x = to_tensor(crops).to(self.device)
        y = torch.from_numpy(labels).to(self.device)
        logit, blend = self.net(x)
        cls = F.binary_cross_entropy_with_logits(logit, y)
        target = torch.from_numpy(maps).to(self.device)[:, None]
        w = torch.from_numpy(weights).to(self.device).view(-1, 1, 1, 1).expand_as(blend)
        bmap = (F.binary_cross_entropy_with_logits(blend, target, reduction="none") * w).sum() / w.sum().clamp(min=1)
        total = cls + self.cfg.map_weight * bmap
        acc = ((logit > 0).float() == y).float().mean()
        return total, {"total": total.item(), "cls": cls.item(), "map": bmap.item(), "acc": acc.item()}

    def train_step(self, step: int, sync: Callable[[Iterable[torch.nn.Parameter]], None]) -> dict[str, float]:
        self.net.train()
        batch = self.sample(self.rng, self.cfg.batch_size // 2)
        total, logs = self.losses(*batch)
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        sync(self.net.parameters())
        self.opt.step()
        return logs

    @torch.no_grad()
    def preview(self) -> Frame:
        """Rows of (crop, predicted blend map, true blend map) for 4 real and 4 fake crops, with the probability."""
        self.net.eval()
        crops, labels, maps, _ = self.sample(np.random.Generator(np.random.PCG64(self._preview_rng_seed)), 4)
        logit, blend = self.net(to_tensor(crops).to(self.device))
        prob = torch.sigmoid(logit).cpu().numpy()
        pred = torch.sigmoid(blend[:, 0]).cpu().numpy()
        r = self.model_cfg.resolution
        rows = []
        for k in range(len(crops)):
            crop = crops[k].copy()
            colour = (255, 64, 64) if (prob[k] >= 0.5) != bool(labels[k]) else (64, 220, 64)
            cv2.putText(crop, f"{'fake' if labels[k] else 'real'} {prob[k]:.2f}", (3, 14), cv2.FONT_HERSHEY_SIMPLEX,
                        0.4, colour, 1, cv2.LINE_AA)
            show = [cv2.resize((np.stack([m] * 3, -1) * 255).astype(np.uint8), (r, r), interpolation=cv2.INTER_NEAREST)
                    for m in (pred[k], maps[k])]
            rows.append([crop, *show])
        self.net.train()
        return image_grid([sum(rows[i::2], []) for i in range(2)])


def load_or_collect(paths: list[str | os.PathLike], file: Path, cfg: DetectorConfig, every: int,
                    max_per_video: int, quiet: bool, mark: float = 0.0) -> FaceSamples:
    """Faces of ``paths`` from ``file`` when it was made from the same videos, else collected and saved there."""
    wanted = [str(p) for p in paths]
    if file.exists():
        samples = FaceSamples.load(file, cfg.resolution)
        if samples.sources == wanted:
            return samples
    samples = collect_faces(paths, cfg, every=every, max_per_video=max_per_video, quiet=quiet, mark=mark)
    samples.save(file)
    return samples


def train_detector(real: list[str | os.PathLike], out_dir: str | os.PathLike, fake: list[str | os.PathLike] = (),
                   model: DetectorConfig | None = None, config: DetectorTrainConfig | None = None,
                   loop: LoopConfig | None = None, every: int = 5, max_per_video: int = 400,
                   quiet: bool = False, mark_reals: float = 0.0) -> TrainSummary:
    """Train (or resume) a detector on the faces of real videos/images and, optionally, synthvid outputs.

    Args:
        real: videos or images of real faces (the more people, lighting and cameras, the better).
        out_dir: run folder; re-running with the same folder resumes.
        fake: synthvid outputs (face swap, reenactment, lip sync) used as extra fakes.
        model, config, loop: network shape, training settings, budget and schedule.
        every: look at every N-th video frame.
        max_per_video: most faces kept per video.
        quiet: no progress bars.
        mark_reals: share of the real sources watermarked as synthvid's outputs are (see :func:`collect_faces`).
    """
    model_cfg = model or DetectorConfig()
    cfg = config or DetectorTrainConfig()
    loop_cfg = loop or LoopConfig(minutes=30)
    if not real:
        raise InputError("give at least one video or image of real faces")
    out = run_folder(out_dir)
    real_file = f"real_faces_marked{mark_reals:g}.npz" if mark_reals else "real_faces.npz"
    ctx = D.init_distributed(loop_cfg.device)
    try:
        def collect() -> None:  # on the main process; the others wait, then read its files
            load_or_collect(list(real), out / real_file, model_cfg, every, max_per_video, quiet, mark_reals)
            if fake:
                load_or_collect(list(fake), out / "synthvid_faces.npz", model_cfg, every, max_per_video, quiet)

        D.on_main_first(collect, ctx, "collect the faces")
        real_faces = FaceSamples.load(out / real_file, model_cfg.resolution)
        fake_faces = FaceSamples.load(out / "synthvid_faces.npz", model_cfg.resolution) if fake else None
        task = DetectorTask(real_faces, fake_faces, model_cfg, cfg, ctx.device, seed=loop_cfg.seed + ctx.rank)
        return run_loop(task, out, loop_cfg, ctx, arch_config=task.arch_config(), quiet=quiet)
    finally:
        D.shutdown(ctx)


def export_detector(run: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write a training run's detector as a small half-precision weights file for ``synthvid detect``."""
    p = Path(run)
    ck = load_checkpoint(p / "checkpoint.pt" if p.is_dir() else p, ARCH)
    try:
        state = {k: (v.half() if v.is_floating_point() else v) for k, v in ck["state_dict"]["detector"].items()}
        config = {"model": dict(ck["config"]["model"]), "data": dict(ck["config"].get("data", {}))}
    except (KeyError, AttributeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{p} has no detector weights ({e})") from None
    return save_checkpoint(out, {"arch": ARCH, "config": config, "state_dict": {"detector": state}, "optimizer": {},
                                 "step": ck["step"], "rng": {}, "elapsed_s": float(ck.get("elapsed_s", 0.0))})


def calibrate_detector(weights: str | os.PathLike, reals: Iterable[str | os.PathLike],
                       out: str | os.PathLike | None = None, false_positive_rate: float = 0.05,
                       max_frames: int = 32, quiet: bool = False) -> dict[str, Any]:
    """Store in an exported weights file the verdict threshold that real videos exceed with probability
    ``false_positive_rate``, estimated from ``reals``: real recordings the detector was not trained on (videos
    it learned from score lower than new ones and would make the threshold too low). Videos without a face are
    skipped. Writes ``out`` (default: over ``weights``, atomically) and returns the calibration with the scores.
    """
    from synthvid.provenance.detect import calibrated_threshold, detect_file  # noqa: PLC0415

    src = Path(weights)
    ck = load_checkpoint(src, ARCH)
    if not isinstance(ck.get("config"), dict) or ck.get("optimizer"):
        raise CheckpointError(f"{src} is not an exported detector weights file (export the run first)")
    scores, names = [], []
    paths = [check_input_file(p, "real video") for p in reals]
    for p in progress(paths, desc="calibrating", unit="video", quiet=quiet):
        try:
            scores.append(detect_file(p, model=src, max_frames=max_frames, quiet=True).probability)
            names.append(p.name)
        except InputError:
            continue
    try:
        threshold = calibrated_threshold(scores, false_positive_rate)
    except ValueError as e:
        raise InputError(str(e)) from None
    cal = {"threshold": round(threshold, 4), "false_positive_rate": false_positive_rate, "videos": len(scores),
           "method": "normal fit to the logits of real videos' scores, one-sided prediction bound (Student's t)",
           "files": names, "scores": [round(float(x), 4) for x in scores]}
    ck["config"] = dict(ck["config"], calibration=cal)
    save_checkpoint(out if out is not None else src, ck)
    return cal
