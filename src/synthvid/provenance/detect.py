"""`synthvid detect FILE`: how likely the faces in a video or image are manipulated, per frame and overall, with a
heat map of the suspect regions.

Faces are found with the face mesh, aligned to the detector's crop (:mod:`synthvid.models.detector`), and scored;
a frame's score is its most suspect face, a video's the mean over the frames looked at (spread evenly over the
whole video). The heat map is the detector's blend-boundary map of the most suspect face, drawn back onto its
frame (scaled to its own peak, which is written on the image with the face's probability). The shipped weights
(``synthvid/data/detector.pt``) were trained by ``scripts/train_detector.py`` from real faces only (self-blended
images) plus synthvid's own outputs; see ``docs/provenance.md`` for what they were measured to catch and miss.

The verdict's threshold: the one given, else the weights' own calibrated one (:func:`calibrated_threshold`, set by
``scripts/calibrate_detector.py`` from real recordings the detector never saw, for a stated false-positive rate),
else 0.5.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from synthvid.errors import CheckpointError, InputError
from synthvid.face.align import align_face
from synthvid.face.detect import FaceDetector
from synthvid.face.geometry import transform_points
from synthvid.io.files import check_input_file, check_outputs
from synthvid.io.image import IMAGE_SUFFIXES, read_image
from synthvid.models.detector import ARCH, DetectorConfig, FakeDetector
from synthvid.progress import progress
from synthvid.train.checkpoint import load_checkpoint
from synthvid.train.data import to_tensor
from synthvid.train.distributed import resolve_device
from synthvid.types import Affine, Frame

# exit codes of `synthvid detect` (errors keep the usual 2-5)
EXIT_REAL = 0  # no manipulation found
EXIT_MANIPULATED = 1  # overall probability at or above the threshold
SHIPPED = "detector.pt"
DEFAULT_THRESHOLD = 0.5  # for weights without a calibration


def calibrated_threshold(real_scores: Any, false_positive_rate: float = 0.05) -> float:
    """The video score that a new real video exceeds with probability ``false_positive_rate``, estimated from the
    scores of real videos the detector never saw: a normal distribution fitted to their logits, and its one-sided
    prediction bound for one more video (Student's t with n-1 degrees of freedom, widened by sqrt(1 + 1/n), so a
    handful of videos gives a cautious threshold rather than an optimistic one).

    Raises ValueError for fewer than 3 scores, scores outside [0, 1] or a rate outside (0, 0.5).
    """
    from scipy.stats import t as student_t  # noqa: PLC0415

    s = np.asarray(real_scores, dtype=np.float64).ravel()
    if s.size < 3:
        raise ValueError(f"calibration needs the scores of at least 3 real videos, got {s.size}")
    if not np.all((s >= 0.0) & (s <= 1.0)):
        raise ValueError("calibration scores must be probabilities in [0, 1]")
    if not 0.0 < false_positive_rate < 0.5:
        raise ValueError(f"false_positive_rate must lie strictly between 0 and 0.5, got {false_positive_rate}")
    z = np.log(np.clip(s, 1e-4, 1 - 1e-4) / np.clip(1 - s, 1e-4, 1 - 1e-4))
    bound = z.mean() + student_t.ppf(1.0 - false_positive_rate, s.size - 1) * z.std(ddof=1) * np.sqrt(1 + 1 / s.size)
    return float(1.0 / (1.0 + np.exp(-bound)))


def calibration_of(ck: dict[str, Any]) -> dict[str, Any] | None:
    """The calibration stored in a detector checkpoint's config (None when it has none), checked: the file may be
    hostile, and a bad threshold would silently change every verdict."""
    cal = ck.get("config", {}).get("calibration") if isinstance(ck.get("config"), dict) else None
    if cal is None:
        return None
    try:
        out = {"threshold": float(cal["threshold"]), "false_positive_rate": float(cal["false_positive_rate"]),
               "videos": int(cal["videos"])}
    except (KeyError, TypeError, ValueError):
        raise CheckpointError("the detector weights hold a malformed calibration") from None
    if not (0.0 < out["threshold"] < 1.0 and 0.0 < out["false_positive_rate"] < 0.5 and out["videos"] >= 3):
        raise CheckpointError(f"the detector weights hold an impossible calibration: {out}")
    return out


@dataclasses.dataclass
class FaceCrop:
    crop: Frame  # R x R x 3 aligned crop
    matrix: Affine  # frame -> crop
    points: np.ndarray  # 478 x 2 landmarks in crop pixels


def face_crops(frame: Frame, detector: FaceDetector, cfg: DetectorConfig) -> list[FaceCrop]:
    """Aligned detector crops of every face the detector finds in ``frame``, largest first."""
    out = []
    for face in detector.detect(frame):
        crop, m = align_face(frame, face.landmarks, cfg.resolution, cfg.coverage)
        out.append(FaceCrop(crop, m, transform_points(face.landmarks[:, :2], m)))
    return out


def load_detector(path: str | os.PathLike | None = None, device: str = "cpu") -> FakeDetector:
    """The detector from a training run's checkpoint or an exported weights file (default: the shipped one)."""
    if path is None:
        return _shipped(device)
    p = Path(path)
    if p.is_dir():
        p = p / "checkpoint.pt"
    return _build(load_checkpoint(p, ARCH, map_location="cpu"), device)


@functools.lru_cache(maxsize=2)
def _shipped(device: str) -> FakeDetector:
    with resources.as_file(resources.files("synthvid.data").joinpath(SHIPPED)) as p:
        if not p.is_file():
            raise CheckpointError("the shipped detector weights are missing (synthvid/data/detector.pt); train "
                                  "one with scripts/train_detector.py and pass --model")
        return _build(load_checkpoint(p, ARCH, map_location="cpu"), device)


def _build(ck: dict[str, Any], device: str) -> FakeDetector:
    try:
        net = FakeDetector(DetectorConfig.from_dict(ck["config"]["model"]))
        net.load_state_dict({k: v.float() for k, v in ck["state_dict"]["detector"].items()})
    except (KeyError, RuntimeError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"detector weights do not fit the network: {str(e).splitlines()[0][:160]}") from None
    net.calibration = calibration_of(ck)  # type: ignore[assignment]
    return net.to(device).eval()


def verdict_threshold(net: FakeDetector, threshold: float | None) -> tuple[float, str]:
    """The threshold a verdict uses, and where it came from: ``threshold`` when given, else the weights'
    calibrated one, else DEFAULT_THRESHOLD."""
    if threshold is not None:
        return threshold, "given"
    cal = getattr(net, "calibration", None)
    if cal:
        return cal["threshold"], (f"calibrated: {cal['false_positive_rate']:.0%} of real videos expected above it, "
                                  f"from {cal['videos']} real recordings it never saw")
    return DEFAULT_THRESHOLD, "default; these weights carry no calibration"


@torch.no_grad()
def score_crops(net: FakeDetector, crops: list[Frame]) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (N) that each crop is manipulated, and blend maps (N x R/4 x R/4, in [0, 1])."""
    if not crops:
        side = net.cfg.resolution // 4
        return np.zeros(0, np.float32), np.zeros((0, side, side), np.float32)
    device = next(net.parameters()).device
    logit, blend = net(to_tensor(crops).to(device))
    return torch.sigmoid(logit).cpu().numpy(), torch.sigmoid(blend[:, 0]).cpu().numpy()


@dataclasses.dataclass
class DetectReport:
    path: str
    probability: float  # overall probability that the faces are manipulated
    verdict: str  # "likely manipulated" | "likely real"
    threshold: float
    threshold_source: str  # "given", "calibrated: ...", or "default; ..."
    frames: list[int]  # frame indices looked at that had a face
    frame_probabilities: list[float]  # one per entry of ``frames`` (the most suspect face)
    faces: int  # faces scored
    frames_without_face: int
    heatmap: str | None  # path of the heat-map image, when written
    exit_code: int

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=True)

    def summary(self) -> str:
        p = np.asarray(self.frame_probabilities)
        lines = [self.path,
                 f"  manipulated: {self.probability:.1%} probability ({len(self.frames)} frames with a face, "
                 f"{self.faces} faces scored; frame scores {p.min():.2f}..{p.max():.2f})",
                 f"  verdict:     {self.verdict} (threshold {self.threshold:.2f}, {self.threshold_source})"]
        if self.frames_without_face:
            lines.insert(2, f"  no face in {self.frames_without_face} of the frames looked at")
        if self.heatmap:
            lines.append(f"  heat map:    {self.heatmap}")
        return "\n".join(lines)


def _frames(path: Path, max_frames: int, quiet: bool) -> Any:
    """(index, frame) pairs: the image, or up to ``max_frames`` frames spread evenly over the video."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        yield 0, read_image(path)
        return
    from synthvid.io.video import VideoReader  # noqa: PLC0415

    with VideoReader(path) as reader:  # InputError for non-media and for files without a video stream
        n = max(len(reader), 1)  # from the header: a wrong count only thins or cuts the sampling
        wanted = set(np.linspace(0, n - 1, min(max_frames, n)).round().astype(int).tolist())
        bar = progress(total=len(wanted), desc="scoring faces", unit="frame", quiet=quiet)
        try:
            for i, frame in reader.pick(wanted):
                yield i, frame
                bar.update(1)
        finally:
            bar.close()


def detect_file(path: str | os.PathLike, model: str | os.PathLike | None = None, max_frames: int = 32,
                threshold: float | None = None, heatmap: str | os.PathLike | None = None, device: str = "cpu",
                quiet: bool = False) -> DetectReport:
    """Score the faces of a video or image.

    Args:
        path: video or image file.
        model: detector checkpoint or training folder (default: the shipped weights).
        max_frames: frames looked at, spread over the video.
        threshold: overall probability at which the verdict is "likely manipulated" (default: the weights'
            calibrated threshold, else 0.5; a single image is one frame, so its score varies more than a video's
            and the calibrated rate of false positives holds for videos).
        heatmap: PNG/JPEG path for the heat map of the most suspect face's frame (input | heat map).
        device: torch device.
        quiet: no progress bar.
    """
    p = check_input_file(path, "input")
    resolve_device(device)  # InputError for an unknown device or CUDA without a GPU, before any work
    check_outputs((p,), (heatmap, IMAGE_SUFFIXES))
    if max_frames < 1:
        raise InputError(f"max_frames must be at least 1, got {max_frames}")
    if threshold is not None and not 0.0 < threshold < 1.0:
        raise InputError(f"threshold must lie strictly between 0 and 1, got {threshold}")
    net = load_detector(model, device)
    threshold, threshold_source = verdict_threshold(net, threshold)
    frames, probs, nfaces, missing = [], [], 0, 0
    worst: tuple[float, Frame, FaceCrop, np.ndarray] | None = None
    with FaceDetector(max_faces=4, video=False) as detector:
        for index, frame in _frames(p, max_frames, quiet):
            crops = face_crops(frame, detector, net.cfg)
            if not crops:
                missing += 1
                continue
            prob, maps = score_crops(net, [c.crop for c in crops])
            k = int(np.argmax(prob))
            frames.append(index)
            probs.append(round(float(prob[k]), 4))
            nfaces += len(crops)
            if heatmap is not None and (worst is None or prob[k] > worst[0]):
                worst = (float(prob[k]), frame, crops[k], maps[k])
    if not frames:
        raise InputError(f"no face found in {p} ({missing} frames looked at)")
    overall = float(np.mean(probs))
    written = None
    if heatmap is not None and worst is not None:
        from synthvid.io.output import Stamp, write_image  # noqa: PLC0415

        image = draw_heatmap(worst[1], worst[2].matrix, worst[3], net.cfg.resolution, worst[0])
        written = str(write_image(heatmap, image, Stamp("detect.heatmap", {"probability": round(worst[0], 4)},
                                                        synthetic=False, inputs=(str(p),))))
    manipulated = overall >= threshold
    return DetectReport(path=str(p), probability=round(overall, 4),
                        verdict="likely manipulated" if manipulated else "likely real", threshold=threshold,
                        threshold_source=threshold_source,
                        frames=frames, frame_probabilities=probs, faces=nfaces, frames_without_face=missing,
                        heatmap=written, exit_code=EXIT_MANIPULATED if manipulated else EXIT_REAL)


def draw_heatmap(frame: Frame, matrix: Affine, blend: np.ndarray, resolution: int, probability: float) -> Frame:
    """Side by side: the frame with the face box, and the frame with the blend map drawn over the face (scaled to
    its own peak so its shape shows; the peak and the face's probability are written on it)."""
    h, w = frame.shape[:2]
    peak = float(blend.max())
    crop_map = cv2.resize(blend.astype(np.float32) / max(peak, 0.05), (resolution, resolution),
                          interpolation=cv2.INTER_CUBIC)
    inv = cv2.invertAffineTransform(np.asarray(matrix, np.float32))
    heat = np.clip(cv2.warpAffine(crop_map, inv, (w, h), flags=cv2.INTER_LINEAR, borderValue=0), 0, 1)
    colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1].astype(np.float32)
    alpha = np.clip(0.8 * heat, 0, 0.8)[..., None]
    over = (frame.astype(np.float32) * (1 - alpha) + colour * alpha).astype(np.uint8)
    left = frame.copy()
    corners = np.array([[0, 0], [resolution, 0], [resolution, resolution], [0, resolution]], np.float32)
    box = (corners @ inv[:, :2].T + inv[:, 2]).round().astype(np.int32)
    thick = max(1, round(min(h, w) / 300))
    for image in (left, over):  # the region the detector looked at
        cv2.polylines(image, [box], True, (255, 220, 0), thick, cv2.LINE_AA)
    text = f"manipulated {probability:.0%}, map peak {peak:.2f}"
    scale = max(0.4, min(h, w) / 600)
    cv2.putText(over, text, (8, h - 10), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(over, text, (8, h - 10), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return np.concatenate([left, over], 1)
