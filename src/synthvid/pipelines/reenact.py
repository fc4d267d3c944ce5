"""Facial reenactment (Face2Face / Deep Video Portraits style, without training): a driving actor's expressions —
and, when asked, head pose, gaze and blinks — re-rendered on a target video or a single portrait photo.

Both faces are tracked (478 landmarks, head pose against the canonical face); the driver's expression relative to
its neutral face is carried onto the target's neutral face in the pose-free frame with the target's proportions
(:mod:`synthvid.reenact.transfer`), posed, and the target image is warped to the new landmarks
(:mod:`synthvid.reenact.render`). The mouth interior comes from the target's own frames for a video
(:mod:`synthvid.reenact.retrieve`) or is synthesised for a photo (:mod:`synthvid.reenact.mouth`).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from synthvid.config import Config, option
from synthvid.face.detect import mediapipe
from synthvid.face.landmarks import inter_ocular_distance
from synthvid.errors import InputError, NoFaceError
from synthvid.io.files import check_input_file, check_outputs
from synthvid.io.image import IMAGE_SUFFIXES, read_image
from synthvid.io.output import Stamp, VideoOutput, write_image
from synthvid.io.threaded import BackgroundWriter, prefetch
from synthvid.io.video import VIDEO_SUFFIXES, VideoReader, probe_video
from synthvid.progress import progress
from synthvid.reenact.layers import StillBackground
from synthvid.reenact.motion import (FaceFollower, FaceState, Motion, choose_face, faces_in_photo, iter_states,
                                     motion_from, track_video)
from synthvid.reenact.render import mouth_mode, rerender
from synthvid.reenact.retrieve import MAX_FRAMES, PartBank
from synthvid.reenact.transfer import (ExpressionTransfer, clamp_pose, neutral_index, parse_parts, transfer_pose)
from synthvid.runtime import frame_pipeline
from synthvid.types import Frame
from synthvid.viz import image_grid

MIN_FACE = 40  # pixels: smaller faces are refused (too few pixels to re-render)
PROFILE_YAW = 45.0  # degrees from the driver's neutral beyond which its expression is not trusted (held)
PHOTO_DEFAULT = "expression,blink,gaze,pose"
VIDEO_DEFAULT = "expression,blink"


@dataclasses.dataclass(frozen=True)
class ReenactConfig(Config):
    """How a target is re-rendered."""

    transfer: str = option("auto", "what the driver controls, comma-separated from expression, blink, gaze, pose "
                           f"(auto: photo {PHOTO_DEFAULT}; video {VIDEO_DEFAULT})")
    face: int = option(0, "which face of a portrait with several (1 = leftmost; 0 = the largest)", bounds=(0, None))
    neutral: int = option(-1, "driving frame to use as the driver's neutral face (-1: chosen automatically)")
    target_neutral: int = option(-1, "target video frame to use as its neutral face (-1: chosen automatically)")
    audio: str = option("target", "video mode: keep the target's audio, take the driving video's, or none",
                        choices=("target", "source", "none"))
    mouth: str = option("auto", "mouth interior: auto (video: retrieved from the target's frames; photo: painted "
                        "unless the photo shows its own), retrieve, paint, warp", choices=("auto", "retrieve", "paint",
                                                                                            "warp"))
    eyes: str = option("retrieve", "video mode: eyes (lids, blinks, gaze) retrieved from the target's own frames, "
                       "or only warped", choices=("retrieve", "warp"))
    refine: str = option("", "neural refinement model folder from `synthvid reenact train` on a video of the "
                         "target person ('': none)")
    background: str = option("keep", "photo modes: keep the background still while the person moves (person "
                             "segmentation; the warp's stretch stays in a band around them), or warp it along with "
                             "the head", choices=("keep", "warp"))
    max_size: int = option(1024, "photo mode: longest side of the output (the portrait is shrunk if larger)")
    step: int = option(0, "warp grid spacing in pixels (0: by face size, 4 px up to ~64 px between the eyes, "
                       "coarser for larger faces; smaller: slower, marginally more exact)", bounds=(0, 64))

    def warp_step(self, state: FaceState) -> int:
        return self.step if self.step > 0 else max(4, round(inter_ocular_distance(state.landmarks) / 16))
    crf: int = option(18, "H.264 quality of the output (lower = better, larger)", bounds=(0, 51))

    def parts(self, mode: str) -> frozenset[str]:
        auto = self.transfer.strip() in ("", "auto")
        return parse_parts((PHOTO_DEFAULT if mode == "photo" else VIDEO_DEFAULT) if auto else self.transfer)


@dataclasses.dataclass
class ReenactReport:
    output: Path
    frames: int
    seconds: float
    no_face: int = 0  # driving frames without a face (last expression held)
    profile: int = 0  # driving frames turned too far to read the expression (held)
    clamped: int = 0  # frames whose head pose was limited to what a warp can render
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / max(self.seconds, 1e-9)

    def summary(self) -> str:
        extra = []
        if self.no_face:
            extra.append(f"{self.no_face} driving frames had no face (last expression held)")
        if self.profile:
            extra.append(f"{self.profile} driving frames were turned too far (expression held)")
        if self.clamped:
            extra.append(f"{self.clamped} frames had their head turn limited")
        tail = ("; " + "; ".join(extra + self.notes)) if extra or self.notes else ""
        return f"wrote {self.output}: {self.frames} frames ({self.fps:.1f} fps){tail}"


class Driver:
    """Turns driving face states into the target's new frontal face and pose, counting what it had to fix."""

    def __init__(self, source_neutral: FaceState, target_neutral: FaceState, parts: frozenset[str]) -> None:
        self.sn, self.tn, self.parts = source_neutral, target_neutral, parts
        self.transfer = ExpressionTransfer(source_neutral.frontal, target_neutral.frontal, parts)
        self.profile = self.clamped = 0
        self._last = source_neutral.frontal

    def __call__(self, source: FaceState, target: FaceState) -> tuple[np.ndarray, object]:
        """(new frontal landmarks, new pose) for the target currently in state ``target``."""
        if abs(source.pose.yaw - self.sn.pose.yaw) > PROFILE_YAW:
            self.profile += 1
            frontal = self._last
        else:
            frontal = self._last = source.frontal
        pose = transfer_pose(source.pose, self.sn.pose, self.tn.pose) if "pose" in self.parts else target.pose
        pose, clamped = clamp_pose(pose)
        self.clamped += clamped
        return self.transfer(frontal), pose


def _refiner(cfg: ReenactConfig) -> Any:
    """The trained refiner named by ``cfg.refine`` (loaded before any other work, so a bad path fails at once).
    Imported here: torch is only needed with --refine."""
    if not cfg.refine:
        return None
    from synthvid.reenact.refine import Refiner  # noqa: PLC0415

    return Refiner.load(cfg.refine)


def _refined(refiner: Any, frame: Frame, landmarks: np.ndarray) -> Frame:
    return refiner(frame, landmarks) if refiner is not None else frame


def _neutral(motion: Motion, index: int, what: str) -> FaceState:
    if index >= 0:
        if index >= len(motion):
            raise InputError(f"{what} has {len(motion)} frames; neutral frame {index} does not exist")
        return motion.states[index]
    poses = [s.pose for s in motion.states]
    found = np.flatnonzero(motion.found)
    best = neutral_index(motion.frontal()[found], [poses[i] for i in found])
    return motion.states[int(found[best])]


def load_portrait(path: str | os.PathLike, face: int, max_size: int) -> tuple[Frame, FaceState]:
    """Read a portrait, shrink it to ``max_size``, and find the wanted face."""
    image = read_image(path)
    h, w = image.shape[:2]
    if max_size and max(h, w) > max_size:
        k = max_size / max(h, w)
        image = cv2.resize(image, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA)
    image = image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2]  # H.264 wants even sizes
    chosen = choose_face(faces_in_photo(image), face or None, Path(path).name)
    if chosen.size < MIN_FACE:
        raise NoFaceError(f"the face in {Path(path).name} is too small to animate ({chosen.size:.0f} px; "
                          f"at least {MIN_FACE} px needed)")
    return image, FaceState.of(chosen.landmarks)


def _still(image: Frame, target: FaceState, cfg: ReenactConfig) -> StillBackground | None:
    """What keeps the portrait's background still, when it is to stay still."""
    if cfg.background != "keep":
        return None
    return StillBackground(image, face=target.landmarks)


def _preview(path: str | os.PathLike | None, shots: list[tuple[Frame, ...]], stamp: Stamp) -> None:
    if path and shots:
        rows = [list(r) for r in zip(*shots)]
        write_image(path, image_grid(rows, cell=min(256, max(shots[0][0].shape[:2]))), stamp)


def _preview_at(n: int, want: bool) -> set[int]:
    return set(np.linspace(0, max(n - 1, 0), 6).round().astype(int).tolist()) if want else set()


@frame_pipeline
def reenact_photo(portrait: str | os.PathLike, driving: str | os.PathLike | None, output: str | os.PathLike,
                  config: ReenactConfig | None = None, preview: str | os.PathLike | None = None,
                  quiet: bool = False, states: list[FaceState] | None = None, fps: float | None = None,
                  audio: str | os.PathLike | None = None) -> ReenactReport:
    """Animate a portrait photo with the motion of a driving video (its audio kept).

    Args:
        portrait: image file with at least one face.
        driving: video of the driving actor; or None with ``states`` (e.g. the built-in performance) and ``fps``.
        output: output video, written atomically.
        preview: optional PNG strip: driving | output frames.
        audio: sound track for ``states`` mode.
    """
    cfg = config or ReenactConfig()
    t0 = time.monotonic()
    check_outputs((portrait, driving, audio), (output, VIDEO_SUFFIXES), (preview, IMAGE_SUFFIXES))
    refiner = _refiner(cfg)
    image, target = load_portrait(portrait, cfg.face, cfg.max_size)
    no_face = 0
    if driving is not None:
        src = check_input_file(driving, "video")
        motion = track_video(src, quiet=quiet)
        states, fps, no_face, audio = motion.states, motion.fps, motion.missing, src
        source_neutral = _neutral(motion, cfg.neutral, src.name)
        inputs: tuple[str, ...] = (str(portrait), str(src))
    else:
        if not states or not fps:
            raise InputError("reenact_photo needs a driving video or a list of face states with their fps")
        source_neutral = states[max(cfg.neutral, 0)]
        inputs = (str(portrait),)
    driver = Driver(source_neutral, target, cfg.parts("photo"))
    mouth = mouth_mode(target.landmarks) if cfg.mouth in ("auto", "retrieve") else cfg.mouth
    step = cfg.warp_step(target)
    still = _still(image, target, cfg)
    h, w = image.shape[:2]
    stamp = Stamp("reenact.photo", cfg.to_dict(), inputs=inputs, pixels_from=str(portrait))
    shots_at = _preview_at(len(states), preview is not None)
    shots: list[tuple[Frame, ...]] = []
    bar = progress(total=len(states), desc="animating portrait", unit="frame", quiet=quiet)
    with VideoOutput(output, stamp, fps=fps, width=w, height=h, audio_from=audio, crf=cfg.crf) as out:
        with BackgroundWriter(out.write) as sink:
            for i, state in enumerate(states):
                frontal, pose = driver(state, target)
                r = rerender(image, target.landmarks, target.pose, frontal, pose, mouth, step, still)
                frame = _refined(refiner, r.frame, r.landmarks)
                sink.put(frame)
                if i in shots_at:
                    shots.append((frame,))
                bar.update(1)
        frames = out.frames_written
    bar.close()
    if driving is not None and shots:
        shots = [(d, *s) for d, s in zip(_driving_frames(Path(driving), sorted(shots_at)), shots)]
    _preview(preview, shots, Stamp("reenact.photo.preview", cfg.to_dict(), inputs=inputs))
    return ReenactReport(Path(output), frames, time.monotonic() - t0, no_face, driver.profile, driver.clamped)


def _pingpong(i: int, n: int) -> int:
    if n <= 1:
        return 0
    k = i % (2 * n - 2)
    return k if k < n else 2 * n - 2 - k


@frame_pipeline
def reenact_video(source: str | os.PathLike, target: str | os.PathLike, output: str | os.PathLike,
                  config: ReenactConfig | None = None, preview: str | os.PathLike | None = None,
                  quiet: bool = False) -> ReenactReport:
    """Re-render the face of ``target`` (a video) with the expressions of ``source`` (a driving video).

    The driving motion is resampled to the target's frame rate. The output is as long as the shorter of the two;
    it keeps the target's background, body and (by default) audio.
    """
    cfg = config or ReenactConfig()
    t0 = time.monotonic()
    src = check_input_file(source, "video")
    tgt = check_input_file(target, "video")
    check_outputs((src, tgt), (output, VIDEO_SUFFIXES), (preview, IMAGE_SUFFIXES))
    refiner = _refiner(cfg)
    info = probe_video(tgt)
    # The two clips are tracked at once (the face tracker runs native code outside the GIL; 512²: ~0.5 s less).
    # If the driving clip fails or the user interrupts, the target's tracking is told to stop rather than waited for.
    mediapipe()  # imported once here, not by both threads at once
    stop = threading.Event()
    with ThreadPoolExecutor(1, thread_name_prefix="synthvid-track") as pool:
        tracking = pool.submit(_track_target, tgt, info.frame_count, cfg, quiet, stop)
        try:
            drive = track_video(src, quiet=quiet)
        except BaseException:
            stop.set()
            raise
        motion, bank = tracking.result()
    drive = drive.resample(motion.fps)
    n = min(len(drive), len(motion))
    driver = Driver(_neutral(drive, cfg.neutral, src.name), _neutral(motion, cfg.target_neutral, tgt.name),
                    cfg.parts("video"))
    mouth = {"auto": "retrieve"}.get(cfg.mouth, cfg.mouth)
    audio_from = {"target": tgt, "source": src, "none": None}[cfg.audio]
    stamp = Stamp("reenact.video", cfg.to_dict(), inputs=(str(src), str(tgt)), pixels_from=str(tgt))
    shots_at = _preview_at(n, preview is not None)
    shots: list[tuple[Frame, ...]] = []
    notes = [f"output cut to the driving clip's {n} frames"] if n < len(motion) else []
    if n < len(drive):
        notes.append(f"output cut to the target's {n} frames")
    if (~motion.found[:n]).any():
        notes.append(f"{int((~motion.found[:n]).sum())} target frames had no face and pass through unchanged")
    bar = progress(total=n, desc="reenacting", unit="frame", quiet=quiet)
    eyes = cfg.eyes == "retrieve" and "blink" in driver.parts
    with (VideoReader(tgt, end=n) as reader,
          VideoOutput(output, stamp, fps=info.fps_fraction, width=info.width, height=info.height,
                      audio_from=audio_from, audio_end=n / info.fps, crf=cfg.crf) as out):

        def finish(item: tuple[int, Frame, Frame, np.ndarray | None, np.ndarray | None]) -> None:
            # On the writer thread, in frame order: retrieval (OpenCV, outside the GIL), refinement and encoding
            # overlap the main thread's warp of the next frame.
            i, frame, result, landmarks, frontal = item
            if landmarks is not None and frontal is not None:
                result = _retrieve_parts(bank, result, landmarks, frontal, i, mouth == "retrieve", eyes)
                result = _refined(refiner, result, landmarks)
            out.write(result)
            if i in shots_at:
                shots.append((frame, result))

        with BackgroundWriter(finish) as sink:
            for i, frame in enumerate(prefetch(reader)):
                if i >= n:
                    break
                if not motion.found[i]:  # no target face in this frame: it passes through unchanged
                    sink.put((i, frame, frame, None, None))
                    bar.update(1)
                    continue
                state = motion.states[i]
                frontal, pose = driver(drive.states[i], state)
                r = rerender(frame, state.landmarks, state.pose, frontal, pose,
                             "none" if mouth == "retrieve" else mouth, cfg.warp_step(state))
                sink.put((i, frame, r.frame, r.landmarks, frontal))
                bar.update(1)
        frames = out.frames_written
    bar.close()
    if preview and shots:
        drv = _driving_frames(src, [round(i * drive.fps / motion.fps) for i in sorted(shots_at)])
        _preview(preview, [(d, *s) for d, s in zip(drv, shots)],
                 Stamp("reenact.video.preview", cfg.to_dict(), inputs=(str(src), str(tgt))))
    return ReenactReport(Path(output), frames, time.monotonic() - t0, drive.missing, driver.profile, driver.clamped,
                         notes)


def _retrieve_parts(bank: PartBank, frame: Frame, landmarks: np.ndarray, frontal: np.ndarray, index: int,
                    mouth: bool, eyes: bool) -> Frame:
    """Paste the best-matching mouth and eyes of the target's own frames (unless the best is this very frame)."""
    if not len(bank):
        return frame
    for part in (("mouth",) if mouth else ()) + (("right_eye", "left_eye") if eyes else ()):
        best = bank.query(part, frontal, index)
        if bank.frames[best] != index:
            frame = bank.paste(part, frame, landmarks, best)
    return frame


def _track_target(path: Path, count: int, cfg: ReenactConfig, quiet: bool,
                  stop: threading.Event | None = None) -> tuple[Motion, PartBank]:
    """Track the target video and keep its face crops for retrieval (every k-th frame when it is long); returns
    early, with what it has, when ``stop`` is set (the caller is failing anyway)."""
    info = probe_video(path)
    every = max(int(np.ceil(count / MAX_FRAMES)), 1)
    bank = PartBank()
    states: list[FaceState | None] = []
    bar = progress(total=count, desc=f"tracking {path.name}", unit="frame", quiet=quiet)
    with FaceFollower(info.fps) as follow, VideoReader(path) as reader:
        for i, frame in enumerate(prefetch(reader)):
            if stop is not None and stop.is_set():
                break
            seen = follow(frame)
            st = None if seen is None else FaceState.of(*seen)
            states.append(st)
            if st is not None and i % every == 0 and (cfg.mouth in ("auto", "retrieve") or cfg.eyes == "retrieve"):
                bank.add(frame, st.landmarks, st.frontal, i)
            bar.update(1)
    bar.close()
    return motion_from(states, info.fps, (info.width, info.height), path.name), bank


def _driving_frames(path: Path, indices: list[int]) -> list[Frame]:
    with VideoReader(path) as reader:
        got = dict(reader.pick(indices))
    last = next(iter(got.values())) if got else np.zeros((64, 64, 3), np.uint8)
    return [got.get(i, last) for i in indices]


def open_stream(spec: str) -> tuple[Iterator[Frame], float]:
    """Frames from a camera index (``"0"``) or a video file, as they arrive; (iterator, fps)."""
    if spec.isdigit():
        cap = cv2.VideoCapture(int(spec))
        if not cap.isOpened():
            raise InputError(f"cannot open camera {spec}")
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0

        def frames() -> Iterator[Frame]:
            try:
                while True:
                    ok, bgr = cap.read()
                    if not ok:
                        return
                    yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            finally:
                cap.release()
        return frames(), float(fps)
    path = check_input_file(spec, "video")
    info = probe_video(path)

    def file_frames() -> Iterator[Frame]:
        with VideoReader(path) as reader:
            yield from reader
    return file_frames(), info.fps


@frame_pipeline
def reenact_stream(portrait: str | os.PathLike, stream: str, output: str | os.PathLike,
                   config: ReenactConfig | None = None, max_frames: int = 0, quiet: bool = False) -> ReenactReport:
    """Live mode: animate a portrait frame by frame as driving frames arrive (camera index or file).

    The driver's first frame with a face is its neutral face (look at the camera, mouth closed, when starting).
    Frames before the first face show the portrait unchanged.
    """
    cfg = config or ReenactConfig()
    t0 = time.monotonic()
    check_outputs((portrait, stream), (output, VIDEO_SUFFIXES))
    refiner = _refiner(cfg)
    image, target = load_portrait(portrait, cfg.face, cfg.max_size)
    frames, fps = open_stream(stream)
    mouth = mouth_mode(target.landmarks) if cfg.mouth in ("auto", "retrieve") else cfg.mouth
    still = _still(image, target, cfg)
    h, w = image.shape[:2]
    driver: Driver | None = None
    no_face = 0
    stamp = Stamp("reenact.stream", cfg.to_dict(), inputs=(str(portrait), stream), pixels_from=str(portrait))
    bar = progress(total=max_frames or None, desc="live", unit="frame", quiet=quiet)
    with VideoOutput(output, stamp, fps=fps, width=w, height=h, crf=cfg.crf) as out:
        for i, (frame, state) in enumerate(iter_states(frames, fps)):
            if max_frames and i >= max_frames:
                break
            if state is None:
                no_face += 1
                out.write(image)
            else:
                driver = driver or Driver(state, target, cfg.parts("photo"))
                frontal, pose = driver(state, target)
                r = rerender(image, target.landmarks, target.pose, frontal, pose, mouth, cfg.warp_step(target),
                             still)
                out.write(_refined(refiner, r.frame, r.landmarks))
            bar.update(1)
        frames_done = out.frames_written
    bar.close()
    return ReenactReport(Path(output), frames_done, time.monotonic() - t0, no_face,
                         driver.profile if driver else 0, driver.clamped if driver else 0)
