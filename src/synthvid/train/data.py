"""Face batches for training, with augmentation cheap enough to run beside the model on two cores.

Every face is kept in memory as uint8 arrays: RGB, and a loss-weight map (eyes and mouth heavier) with the
face-hull mask, all in the extraction crop's frame. A batch is drawn by sampling those tensors through
random similarity transforms (rotation, scale, shift, flip) into the training crop (OpenCV: several times faster
than ``grid_sample`` on a CPU); the model's input also gets a smooth random warp (the "deepfakes" augmentation
that forces the encoder to learn the face, not copy pixels) and the same colour jitter as the target.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from synthvid.errors import InputError
from synthvid.face.expression import expression_features, expression_stats, mirror, standardize
from synthvid.face.geometry import transform_points
from synthvid.face.masks import face_hull_mask, loss_weights
from synthvid.io.faceset import Faceset
from synthvid.progress import progress

WEIGHT_SCALE = 4.0  # loss weights are stored as uint8 weight / WEIGHT_SCALE * 255


class FaceBank:
    """All faces of one identity, stored at the resolution the training crop needs.

    Args:
        faceset: the faces.
        resolution: training crop side R.
        coverage: face-outline share of the training crop (>= the faceset's, i.e. a tighter crop).
        eyes, mouth: loss weight of the eye and mouth regions (face = 1, background = 0.2).
    """

    def __init__(self, faceset: Faceset, resolution: int, coverage: float, eyes: float = 3.0, mouth: float = 3.0,
                 quiet: bool = False) -> None:
        if coverage < faceset.coverage:
            raise InputError(f"training coverage {coverage} is looser than the faceset's {faceset.coverage}; "
                             "extract with a smaller --coverage")
        self.resolution, self.coverage = resolution, coverage
        # The training crop reads the central (faceset.coverage / coverage) of each stored crop.
        self.window = faceset.coverage / coverage
        self.side = min(int(math.ceil(resolution / self.window / 8) * 8), faceset.size)
        n, s = len(faceset), self.side
        self.rgb = np.empty((n, s, s, 3), dtype=np.uint8)
        self.aux = np.empty((n, s, s, 2), dtype=np.uint8)  # loss weights / WEIGHT_SCALE, face hull
        k = s / faceset.size
        for i in progress(range(n), desc=f"loading {faceset.root.name}", unit="face", quiet=quiet):
            face = faceset.read_face(i)
            if s != faceset.size:
                face = cv2.resize(face, (s, s), interpolation=cv2.INTER_AREA)
            pts = transform_points(faceset.alignments["landmarks"][i], faceset.alignments["matrix"][i]) * k
            self.rgb[i] = face
            w = loss_weights(pts, (s, s), eyes=eyes, mouth=mouth)
            self.aux[i, ..., 0] = np.clip(w / WEIGHT_SCALE * 255, 0, 255).astype(np.uint8)
            self.aux[i, ..., 1] = (face_hull_mask(pts, (s, s)) * 255).astype(np.uint8)
        raw = np.stack([expression_features(p) for p in faceset.alignments["landmarks"]]) if n else np.zeros((0, 10))
        self.expression_stats = expression_stats(raw)
        self.expression = standardize(raw, self.expression_stats)  # N x 10

    def __len__(self) -> int:
        return self.rgb.shape[0]


def _sample_matrix(rng: np.random.Generator | None, out: int, side: int, window: float) -> tuple[np.ndarray, bool]:
    """2 x 3 matrix from output-crop pixels to stored-crop pixels (for WARP_INVERSE_MAP): the central
    ``window`` of the stored crop, randomly rotated (+-10 deg), scaled (+-5%), shifted (+-5%) and flipped when
    ``rng`` is given. Returns (matrix, flipped)."""
    k = window * side / out  # stored pixels per output pixel
    angle, scale, flip, shift = 0.0, 1.0, 1.0, np.zeros(2)
    if rng is not None:
        angle = np.radians(rng.uniform(-10, 10))
        scale = rng.uniform(0.95, 1.05)
        flip = -1.0 if rng.random() < 0.5 else 1.0
        shift = rng.uniform(-0.05, 0.05, 2) * window * side / 2
    c, s = np.cos(angle) * k * scale, np.sin(angle) * k * scale
    a = np.array([[c * flip, -s], [s * flip, c]])
    co, cs = (out - 1) / 2, (side - 1) / 2
    t = cs + shift - a @ np.array([co, co])
    return np.hstack([a, t[:, None]]).astype(np.float32), flip < 0


def _random_flow(rng: np.random.Generator, size: int, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random displacement (x, y maps in pixels) from a 5 x 5 grid of Gaussian offsets, still at the
    border so the warp stays inside the crop. ``strength`` is in units of the half crop."""
    coarse = rng.normal(0.0, strength * size / 2, (5, 5, 2)).astype(np.float32)
    coarse[[0, -1], :] = 0
    coarse[:, [0, -1]] = 0
    flow = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    grid = np.arange(size, dtype=np.float32)
    return grid[None, :] + flow[..., 0], grid[:, None] + flow[..., 1]


def _color_jitter(rng: np.random.Generator, *images: torch.Tensor) -> list[torch.Tensor]:
    """Apply one random brightness/contrast/saturation change per sample to each of ``images`` alike.

    Images are B x 3 x H x W in [0, 1]; the i-th sample of every image gets the same change.
    """
    n = images[0].shape[0]
    bright = torch.from_numpy(rng.uniform(-0.08, 0.08, (n, 1, 1, 1)).astype(np.float32))
    contrast = torch.from_numpy(rng.uniform(0.9, 1.1, (n, 1, 1, 1)).astype(np.float32))
    sat = torch.from_numpy(rng.uniform(0.85, 1.15, (n, 1, 1, 1)).astype(np.float32))
    out = []
    for x in images:
        grey = x.mean(1, keepdim=True)
        x = grey + (x - grey) * sat
        mean = x.mean((1, 2, 3), keepdim=True)
        out.append(((x - mean) * contrast + mean + bright).clamp(0, 1))
    return out


def to_frames(t: torch.Tensor) -> list[np.ndarray]:
    """B x 3 x H x W in [-1, 1] -> list of uint8 H x W x 3 RGB frames."""
    a = ((t.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return [np.ascontiguousarray(x) for x in a]


def _nchw(images: np.ndarray | list[np.ndarray]) -> torch.Tensor:
    """N x H x W x C uint8 (array or list) -> N x C x H x W float32, still 0-255."""
    return torch.from_numpy(np.ascontiguousarray(np.stack(list(images)))).permute(0, 3, 1, 2).float()


def to_tensor(images: np.ndarray | list[np.ndarray]) -> torch.Tensor:
    """N x H x W x C uint8 (array or list) -> N x C x H x W float32 in [-1, 1] (the inverse of :func:`to_frames`)."""
    return _nchw(images).div_(127.5).sub_(1)


def _to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """List of H x W x C uint8 -> B x C x H x W float32 in [0, 1]."""
    return _nchw(images).div_(255.0)


def sample_batch(bank: FaceBank, rng: np.random.Generator, batch: int, warp: float = 0.04,
                 augment: bool = True, indices: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    """A training batch from ``bank``.

    Returns dict of float32 tensors: ``input`` (B x 3 x R x R, warped, [-1, 1]), ``target`` (B x 3 x R x R,
    [-1, 1]), ``weights`` (B x 1 x R x R, loss weights), ``mask`` (B x 1 x R x R, face hull in [0, 1]),
    ``expression`` (B x 10, the person-standardised expression code, mirrored with the image).
    """
    idx = rng.integers(0, len(bank), batch) if indices is None else np.asarray(indices)
    r = bank.resolution
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    targets, auxes, inputs, expressions = [], [], [], []
    for i in idx:
        m, flipped = _sample_matrix(rng if augment else None, r, bank.side, bank.window)
        expressions.append(mirror(bank.expression[i]) if flipped else bank.expression[i])
        t = cv2.warpAffine(bank.rgb[i], m, (r, r), flags=flags, borderMode=cv2.BORDER_REFLECT101)
        auxes.append(cv2.warpAffine(bank.aux[i], m, (r, r), flags=flags, borderMode=cv2.BORDER_REFLECT101))
        targets.append(t)
        if augment and warp > 0:
            mx, my = _random_flow(rng, r, warp)
            inputs.append(cv2.remap(t, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101))
    target = _to_tensor(targets)
    aux = _to_tensor(auxes)
    warped = _to_tensor(inputs) if inputs else target
    if augment:
        target, warped = _color_jitter(rng, target, warped)
    return {"input": warped * 2 - 1, "target": target * 2 - 1, "weights": aux[:, :1] * WEIGHT_SCALE,
            "mask": aux[:, 1:2], "expression": torch.from_numpy(np.stack(expressions))}
