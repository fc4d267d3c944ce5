"""Face swap ("deepfakes"), conversion: paint identity B into a video of A with a trained swap model.

For every frame: find A's face, align it, encode it, decode it with B's decoder together with A's expression
code, colour-correct it, and blend it back; frames without a face pass through unchanged. Streaming, with
decoding/encoding on background threads and faces batched through the model. The source audio is kept.
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
from synthvid.errors import CheckpointError, InputError, NoFaceError
from synthvid.face import identity as ident
from synthvid.face.align import alignment_matrix, warp_face
from synthvid.face.detect import DetectedFace, FaceDetector, box_of
from synthvid.face.expression import FEATURES as EXPRESSION_FEATURES
from synthvid.face.expression import expression_features, standardize
from synthvid.face.geometry import transform_points
from synthvid.face.masks import face_hull_mask
from synthvid.face.select import IdentitySelector, scan_identities
from synthvid.face.track import FaceTracker
from synthvid.io.files import check_input_file, check_outputs
from synthvid.io.image import IMAGE_SUFFIXES
from synthvid.io.output import Stamp, VideoOutput, write_image
from synthvid.io.threaded import BackgroundWriter, prefetch
from synthvid.io.video import VIDEO_SUFFIXES, VideoReader, probe_video
from synthvid.models.autoencoder import ARCH, AutoencoderConfig, SwapAutoencoder, autocast_dtype
from synthvid.progress import progress
from synthvid.runtime import frame_pipeline
from synthvid.train import distributed as D
from synthvid.train.checkpoint import load_checkpoint
from synthvid.train.data import to_frames
from synthvid.train.loop import CHECKPOINT
from synthvid.types import Frame
from synthvid.viz import image_grid

DIRECTIONS = ("a2b", "b2a")


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
        return to_frames(rgb), list(masks)


def load_swap_model(model_dir: str | os.PathLike, device: str = "cpu", precision: str = "auto") -> SwapModel:
    """Load a model folder written by :func:`train` (weights only; no code is unpickled)."""
    p = Path(model_dir)
    if not p.is_dir():
        raise CheckpointError(f"model folder not found: {p}")
    if not (p / CHECKPOINT).is_file():
        raise CheckpointError(f"{p} is not a synthvid swap model (no {CHECKPOINT}); train one with `synthvid swap train`")
    dev = D.resolve_device(device)
    ckpt = load_checkpoint(p / CHECKPOINT, arch=ARCH, mmap=True)  # the optimizer state is never read
    try:
        cfg = ckpt["config"]
        model_cfg = AutoencoderConfig.from_dict(cfg["model"])
        coverage = float(cfg["train"]["coverage"])
        identities = cfg["identities"]
        for who in ("a", "b"):
            if len(identities[who]["embedding"]) != ident.DIM:
                raise ValueError("bad identity embedding")
            standardize(np.zeros(len(EXPRESSION_FEATURES)), identities[who]["expression"])
        with torch.device("meta"):  # no random initialisation: every weight comes from the checkpoint
            net = SwapAutoencoder(model_cfg)
        # Plain memory, then a checked copy (shapes, dtypes): nothing stays backed by the mapped file, which may be
        # replaced or cut short while a long video converts.
        net = net.to_empty(device="cpu")
        net.load_state_dict(ckpt["state_dict"]["model"])
    except (KeyError, TypeError, ValueError, RuntimeError, InputError) as e:
        raise CheckpointError(f"{p / CHECKPOINT} does not hold a usable swap model ({str(e).splitlines()[0][:120]})") from None
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
    sharpen: float = option(0.75, "unsharp-mask amount applied to the new face (0: off; 1: strong)")
    crf: int = option(18, "H.264 quality of the output (lower = better, larger)", bounds=(0, 51))
    batch: int = option(8, "faces per model pass (larger is faster on CPUs, up to a point)", bounds=(1, None))
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


def _decode_faces(model: SwapModel, jobs: list[_Pending], identity: int) -> list[tuple[Frame, np.ndarray] | None]:
    """One model pass for all the faces of a batch of frames: (new face, learned mask) per frame, None where the
    frame has no face."""
    with_face = [j for j in jobs if j.crop is not None]
    new: dict[int, tuple[Frame, np.ndarray]] = {}
    if with_face:
        rgbs, masks = model.swap_batch([j.crop for j in with_face], identity, [j.expression for j in with_face])
        new = {j.index: (rgb, m) for j, rgb, m in zip(with_face, rgbs, masks)}
    return [new.get(j.index) for j in jobs]


def _finish(model: SwapModel, job: _Pending, new: tuple[Frame, np.ndarray] | None, cfg: ConvertConfig) -> Frame:
    return job.frame if new is None else _composite(model, job, *new, cfg)


def swap_faces(model: SwapModel, jobs: list[_Pending], identity: int, cfg: ConvertConfig) -> list[Frame]:
    """Finish a batch of frames: one model pass for all their faces, then compositing; faceless frames pass."""
    return [_finish(model, j, new, cfg) for j, new in zip(jobs, _decode_faces(model, jobs, identity))]


def swap_face(model: SwapModel, frame: Frame, landmarks: np.ndarray, smoothed: np.ndarray, identity: int,
              cfg: ConvertConfig) -> Frame:
    """One frame (convenience over :func:`swap_faces`): align the face, decode it as ``identity``, blend it back."""
    track = SimpleNamespace(face=DetectedFace(landmarks, box_of(landmarks)), smoothed=smoothed)
    return swap_faces(model, [_prepare(model, 0, frame, track, "ab"[1 - identity])], identity, cfg)[0]


@frame_pipeline(compute_threads=1 if (os.cpu_count() or 1) <= 4 else None)  # see synthvid.runtime
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
    check_outputs((src,), (output, VIDEO_SUFFIXES), (preview, IMAGE_SUFFIXES))
    info = probe_video(src)
    model = load_swap_model(model_dir, cfg.device)
    source_who = "a" if cfg.direction == "a2b" else "b"
    identity = 1 if cfg.direction == "a2b" else 0
    start, end = frames
    if (end is not None and end <= start) or (info.frame_count and start >= info.frame_count):
        raise InputError(f"--frames {start}:{'' if end is None else end} selects no frame of {src.name} "
                         f"({info.frame_count} frames)")
    dominant, several = scan_identities(src, max_faces=4, start=start, end=end, strict=False)
    if not cfg.force:
        check_direction(model, dominant, cfg.direction, src)
    selector = IdentitySelector(model.embedding(source_who), several)
    stop = min(end, info.frame_count) if end is not None else info.frame_count
    total = max(stop - start, 0)
    preview_at = set(np.linspace(start, max(stop - 1, start), 6).round().astype(int).tolist()) if preview else set()
    shots: list[tuple[Frame, Frame]] = []
    stamp = Stamp("swap.convert", {**cfg.to_dict(), "model_step": model.step}, inputs=(str(src),),
                  pixels_from=str(src))
    swapped = no_face = 0
    t0 = time.monotonic()
    bar = progress(total=total, desc=f"converting {src.name}", unit="frame", quiet=quiet)

    def flush(batch: list[_Pending], sink: BackgroundWriter) -> None:
        nonlocal swapped, no_face
        for job, new in zip(batch, _decode_faces(model, batch, identity)):
            sink.put((job, new))
            swapped += job.crop is not None
            no_face += job.crop is None
        bar.update(len(batch))
        batch.clear()

    def finish_and_write(item: tuple[_Pending, tuple[Frame, np.ndarray] | None]) -> None:
        # On the writer thread: compositing (OpenCV, which releases the GIL) overlaps with the main thread's face
        # tracking and model pass for the next frames (720p, one compute thread: 24 -> 27 fps).
        job, new = item
        result = _finish(model, job, new, cfg)
        out.write(result)
        if job.index in preview_at:
            shots.append((job.frame, result))

    with (FaceDetector(max_faces=4 if several else 1, video=True) as detector,
          VideoReader(src, start=start, end=end) as reader,
          VideoOutput(output, stamp, fps=info.fps_fraction, width=info.width, height=info.height, audio_from=src,
                      audio_start=start / info.fps, audio_end=(stop / info.fps) if end is not None else None,
                      crf=cfg.crf) as out):
        tracker = FaceTracker(info.fps)
        batch: list[_Pending] = []
        with BackgroundWriter(finish_and_write) as sink:  # compositing and encoding overlap the next frames
            for i, frame in enumerate(prefetch(reader), start=start):  # so does decoding
                track = selector.choose(frame, tracker.update(detector.detect(frame), i), i)
                batch.append(_prepare(model, i, frame, track, source_who))
                if len(batch) == cfg.batch:
                    flush(batch, sink)
            flush(batch, sink)
        if not swapped:  # raised inside the writer's block: the output is discarded, not left half-made
            bar.close()
            raise NoFaceError(f"no face found in any of the {no_face} frames of {src.name} that were read: "
                              "nothing to swap (no output written)")
        frames_done = out.frames_written
    bar.close()
    if preview and shots:
        grid = image_grid([[a for a, _ in shots], [b for _, b in shots]], cell=min(256, info.height))
        write_image(preview, grid, Stamp("swap.convert.preview", cfg.to_dict(), inputs=(str(src),)))
    return ConvertReport(Path(output), frames_done, swapped, no_face, time.monotonic() - t0)
