"""Full-body motion transfer, rendering: the trained target performs a source video's motion.

The source's poses are tracked (streaming), mapped into the target's frame by the global pose normalisation of
:mod:`synthvid.body.normalize`, drawn as stick figures on the target's canvas and turned into frames by the
generator, each knowing the previous one; the face region is refined and the person composited over the target's
background (or a plain colour). ``synthvid pose`` draws the tracked skeleton of any video for inspection.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synthvid.body.keypoints import NOSE, PoseTrack, track_poses
from synthvid.body.normalize import Ground, normalise_poses
from synthvid.body.render import draw_pose, render_pose
from synthvid.config import Config, option
from synthvid.errors import CheckpointError, InputError
from synthvid.io.files import check_input_file, check_output_path
from synthvid.io.image import IMAGE_SUFFIXES
from synthvid.io.output import Stamp, VideoOutput, write_image
from synthvid.io.video import VIDEO_SUFFIXES, VideoReader, probe_video
from synthvid.models.autoencoder import autocast_dtype
from synthvid.models.pix2pix import ARCH, FaceRefiner, Pix2PixConfig, PoseGenerator, crop_faces, face_boxes, paste_faces
from synthvid.pipelines.motion_transfer import TARGET_FILE, TargetData
from synthvid.runtime import frame_pipeline
from synthvid.train.data import to_tensor
from synthvid.progress import progress
from synthvid.train import distributed as D
from synthvid.train.checkpoint import load_checkpoint
from synthvid.train.data import to_frames
from synthvid.train.loop import CHECKPOINT
from synthvid.types import Frame
from synthvid.viz import image_grid, label

# What the person is composited on. green: a chroma-key green; alpha: nothing (ProRes 4444 .mov with transparency).
BACKGROUNDS = {"target": None, "black": (0, 0, 0), "green": (0, 177, 64), "alpha": (0, 0, 0)}


@dataclasses.dataclass(frozen=True)
class TransferConfig(Config):
    """How a source's motion is rendered on the target."""

    normalize: bool = option(True, "map the source's body size and floor position onto the target's (off: use the "
                             "source's poses as they are, e.g. for the same person and camera)")
    person: int = option(0, "which person of the source when several are seen (N: N-th from the left; 0: largest)")
    background: str = option("target", "what the person is composited on: the target's estimated background, "
                             "black, chroma-key green, or alpha (the person alone with transparency, as ProRes "
                             "4444 in a .mov output, for editors)", choices=tuple(BACKGROUNDS))
    face: bool = option(True, "refine the face region with the face refiner")
    crf: int = option(18, "H.264 quality of the output (lower = better, larger)", bounds=(0, 51))
    device: str = option("cpu", "cpu, cuda or cuda:N")
    precision: str = option("auto", "auto (bf16 where the hardware has it), bf16 or fp32",
                            choices=("auto", "bf16", "fp32"))


@dataclasses.dataclass
class DanceModel:
    """A trained motion-transfer model, ready to render."""

    generator: PoseGenerator
    face: FaceRefiner
    config: Pix2PixConfig
    target: TargetData
    device: torch.device
    dtype: torch.dtype | None
    step: int

    def ground(self) -> tuple[Ground, Ground]:
        return Ground.from_dict(self.target.ground["auto"]), Ground.from_dict(self.target.ground["hips"])


def load_dance_model(model_dir: str | os.PathLike, device: str = "cpu", precision: str = "auto") -> DanceModel:
    """Load a model folder written by :func:`synthvid.pipelines.motion_transfer.train` (weights only)."""
    p = Path(model_dir)
    if not p.is_dir():
        raise CheckpointError(f"model folder not found: {p}")
    if not (p / CHECKPOINT).is_file() or not (p / TARGET_FILE).is_file():
        raise CheckpointError(f"{p} is not a synthvid motion-transfer model (needs {CHECKPOINT} and {TARGET_FILE}); "
                              "train one with `synthvid dance train`")
    ckpt = load_checkpoint(p / CHECKPOINT, arch=ARCH)
    try:
        cfg = Pix2PixConfig.from_dict(ckpt["config"]["model"])
        gen, face = PoseGenerator(cfg), FaceRefiner(cfg.face_base)
        gen.load_state_dict(ckpt["state_dict"]["generator"])
        face.load_state_dict(ckpt["state_dict"]["face"])
    except (KeyError, TypeError, ValueError, RuntimeError, InputError) as e:
        raise CheckpointError(f"{p / CHECKPOINT} does not hold a usable motion-transfer model "
                              f"({str(e).splitlines()[0][:120]})") from None
    target = TargetData.load(p / TARGET_FILE, images=False)
    if target.canvas.resolution != cfg.resolution:
        raise CheckpointError(f"{p}: target data at {target.canvas.resolution} px but the model at {cfg.resolution}")
    dev = D.resolve_device(device)
    return DanceModel(gen.to(dev).eval(), face.to(dev).eval(), cfg, target, dev, autocast_dtype(precision, dev),
                      int(ckpt["step"]))


class DanceRenderer:
    """Frame-by-frame generation: pose (target frame pixels) -> the person on the canvas, RGB and matte."""

    def __init__(self, model: DanceModel, refine_face: bool = True) -> None:
        self.model, self.refine_face = model, refine_face
        self.canvas = model.target.canvas
        r = self.canvas.resolution
        self.background = to_tensor(self.canvas.crop(model.target.background)[None]).to(model.device)
        self._prev_pose = torch.zeros(1, 3, r, r, device=model.device)
        self._prev_frame = torch.zeros(1, 3, r, r, device=model.device)

    def reset(self) -> None:
        self._prev_pose.zero_()
        self._prev_frame.zero_()

    @torch.no_grad()
    def render(self, points: np.ndarray, visibility: np.ndarray) -> tuple[Frame, np.ndarray, Frame]:
        """33 x 2 pose in target-frame pixels -> (R x R x 3 person RGB, R x R matte in [0, 1], pose image)."""
        m = self.model
        r = self.canvas.resolution
        pts = self.canvas.to_canvas(points)
        pose_img = render_pose(pts, visibility, r)
        pose = to_tensor(pose_img[None]).to(m.device)
        with torch.autocast(m.device.type, dtype=m.dtype or torch.float32, enabled=m.dtype is not None):
            rgb, logit = m.generator(pose, self._prev_pose, self._prev_frame)
            rgb, alpha = rgb.float(), torch.sigmoid(logit.float())
            # the next frame is conditioned on the unrefined composite, as in training
            self._prev_frame = alpha * rgb + (1 - alpha) * self.background
            self._prev_pose = pose
            if self.refine_face:
                size = m.config.face_size
                corners = face_boxes(torch.from_numpy(pts[None, NOSE]).float(), size, r)
                faces = m.face(crop_faces(rgb, corners, size), crop_faces(pose, corners, size)).float()
                rgb = paste_faces(rgb, faces, corners)
        return to_frames(rgb)[0], alpha[0, 0].cpu().numpy(), pose_img


@dataclasses.dataclass
class TransferReport:
    output: Path
    frames: int
    seconds: float
    no_person: int  # source frames without a person (previous pose held)
    people: int  # people seen in the source
    note: str  # how the poses were normalised
    matte: Path | None = None

    def summary(self) -> str:
        fps = self.frames / max(self.seconds, 1e-9)
        extra = f"; {self.no_person} source frames without a person held the last pose" if self.no_person else ""
        several = f"; {self.people} people in the source, one followed (choose with --person N)" \
            if self.people > 1 else ""
        matte = f"; matte in {self.matte}" if self.matte else ""
        return (f"wrote {self.output}: {self.frames} frames in {self.seconds:.1f} s ({fps:.1f} fps); poses "
                f"{self.note}{extra}{several}{matte}")


def track_video(path: Path, person: int = 0, frames: tuple[int, int | None] = (0, None), quiet: bool = False,
                keep: set[int] | None = None) -> tuple[PoseTrack, dict[int, Frame]]:
    """Poses of a video's frame range, and copies of the frames whose indices are in ``keep``."""
    info = probe_video(path)
    start, end = frames
    total = (min(end, info.frame_count) if end is not None else info.frame_count) - start if info.frame_count else None
    kept: dict[int, Frame] = {}
    bar = progress(total=total, desc=f"tracking {path.name}", unit="frame", quiet=quiet)

    def on_frame(i: int, frame: Frame, *rest: Any) -> None:
        if keep and i in keep:
            kept[i] = frame
        bar.update(1)

    with VideoReader(path, start=start, end=end) as reader:
        track = track_poses(reader, info.fps, (info.width, info.height), person=person, on_frame=on_frame)
    bar.close()
    return track, kept


@frame_pipeline
def transfer(source_video: str | os.PathLike, model_dir: str | os.PathLike, output: str | os.PathLike,
             config: TransferConfig | None = None, frames: tuple[int, int | None] = (0, None),
             preview: str | os.PathLike | None = None, matte: str | os.PathLike | None = None,
             quiet: bool = False) -> TransferReport:
    """Render the model's target person performing the motion of ``source_video``.

    Args:
        source_video: the driving video (anyone moving; the camera should show the whole body).
        model_dir: from :func:`synthvid.pipelines.motion_transfer.train`.
        output: the video to write (the source's frame rate and audio, the target's frame size).
        config: rendering settings.
        frames: (start, end) frame range of the source.
        preview: also write a strip of driving frame | pose | output.
        matte: also write the person's matte (white = person) as a video, for compositing in an editor.
        quiet: no progress bars.
    """
    cfg = config or TransferConfig()
    src = check_input_file(source_video, "source video")
    out_path = check_output_path(output, VIDEO_SUFFIXES)
    matte_path = check_output_path(matte, VIDEO_SUFFIXES) if matte else None
    if matte_path is not None and matte_path.resolve() == out_path.resolve():
        raise InputError("--matte must be a different file from the output")
    alpha_out = cfg.background == "alpha"
    if alpha_out and out_path.suffix.lower() != ".mov":
        raise InputError("--background alpha writes ProRes 4444 with an alpha channel: give an output ending in .mov")
    if preview:
        check_output_path(preview, IMAGE_SUFFIXES)
    model = load_dance_model(model_dir, cfg.device, cfg.precision)
    t0 = time.monotonic()
    info = probe_video(src)
    n_est = max(1, (min(frames[1] or info.frame_count, info.frame_count) - frames[0]) if info.frame_count else 1)
    shown = set(np.linspace(0, n_est - 1, 4).round().astype(int).tolist()) if preview else set()
    track, kept = track_video(src, cfg.person, frames, quiet, shown)
    no_person = int((~track.found).sum())
    if not track.found.any():
        raise InputError(f"{src.name}: no person found in any frame")
    if cfg.normalize:
        ground, hips = model.ground()
        norm = normalise_poses(track, ground, hips, model.target.track.size[1])
        points, note = norm.points, norm.note
    else:
        points, note = track.points, "used as tracked (normalisation off)"
    renderer = DanceRenderer(model, cfg.face)
    w, h = model.target.track.size
    color = BACKGROUNDS[cfg.background]
    background = model.target.background if color is None else np.full((h, w, 3), color, np.uint8)
    settings = {"model": str(model_dir), "step": model.step, **cfg.to_dict()}
    stamp = Stamp("dance.transfer", settings, inputs=(str(src), str(model_dir)))
    strip: list[list[Frame]] = []
    bar = progress(total=len(track), desc="rendering", unit="frame", quiet=quiet)
    black = np.zeros((h, w, 3), np.uint8)
    audio_end = (frames[0] + len(track)) / info.fps if frames[1] is not None else None
    with (VideoOutput(out_path, stamp, fps=info.fps_fraction, width=w, height=h, audio_from=src,
                      audio_start=frames[0] / info.fps, audio_end=audio_end, crf=cfg.crf, alpha=alpha_out) as out,
          (VideoOutput(matte_path, Stamp("dance.matte", settings, inputs=stamp.inputs), fps=info.fps_fraction,
                       width=w, height=h, crf=cfg.crf) if matte_path else contextlib.nullcontext()) as matte_out):
        for i in range(len(track)):
            rgb, alpha, pose_img = renderer.render(points[i], track.visibility[i])
            matte_frame = renderer.canvas.paste(black, np.full_like(rgb, 255), alpha) \
                if matte_out is not None or alpha_out else None
            if alpha_out:  # straight (not premultiplied) colour: the person's RGB over the whole canvas
                frame = renderer.canvas.paste(black, rgb, np.ones_like(alpha))
                out.write(np.concatenate([frame, matte_frame[..., :1]], axis=2))
            else:
                frame = renderer.canvas.paste(background, rgb, alpha)
                out.write(frame)
            if matte_out is not None:
                matte_out.write(matte_frame)
            if i in kept:
                crop = renderer.canvas.crop(frame)
                strip.append([label(kept[i], "driving"), label(pose_img, "pose"), label(crop, "output")])
            bar.update(1)
    bar.close()
    if preview and strip:
        write_image(preview, image_grid(strip, cell=256), Stamp("dance.preview", settings, inputs=stamp.inputs))
    return TransferReport(out_path, len(track), time.monotonic() - t0, no_person, track.people, note, matte_path)


@dataclasses.dataclass
class PoseReport:
    output: Path
    frames: int
    no_person: int
    people: int

    def summary(self) -> str:
        several = f"; {self.people} people seen, one followed (choose with --person N)" if self.people > 1 else ""
        return (f"wrote {self.output}: {self.frames} frames, a person in {self.frames - self.no_person}"
                f"{several}")


def pose_video(video: str | os.PathLike, output: str | os.PathLike, on: str = "video", person: int = 0,
               quiet: bool = False) -> PoseReport:
    """Draw the tracked skeleton of every frame of ``video`` (over the frame, or on black) for inspection."""
    if on not in ("video", "black"):
        raise InputError(f"on must be 'video' or 'black', got {on!r}")
    src = check_input_file(video, "video")
    out_path = check_output_path(output, VIDEO_SUFFIXES)
    info = probe_video(src)
    track, _ = track_video(src, person, quiet=quiet)
    stamp = Stamp("pose", {"on": on, "person": person}, synthetic=False, inputs=(str(src),))
    bar = progress(total=len(track), desc="drawing", unit="frame", quiet=quiet)
    with VideoReader(src) as reader, VideoOutput(out_path, stamp, fps=info.fps_fraction, width=info.width,
                                                 height=info.height, audio_from=src) as out:
        for i, frame in enumerate(reader):
            if i >= len(track):
                break
            base = frame if on == "video" else np.zeros_like(frame)
            vis = track.visibility[i] if track.found[i] else np.zeros_like(track.visibility[i])
            out.write(draw_pose(base, track.points[i], vis))
            bar.update(1)
    bar.close()
    return PoseReport(out_path, len(track), int((~track.found).sum()), track.people)
