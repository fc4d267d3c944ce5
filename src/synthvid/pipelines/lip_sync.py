"""Lip sync from audio or text (Synthesizing Obama / Neural Voice Puppetry): a target talking-head video made to
say new speech. Only the mouth region is synthesised; head, body and background come from the target footage.

1. The target is tracked (478 landmarks, head pose, the pose-free face) and its frames kept for re-timing and
   for mouth texture.
2. The new speech (a file, or text spoken by espeak-ng) becomes MFCC features at the target's frame rate, and the
   audio-to-mouth network (a speech filter and an LSTM correction) predicts lip and jaw shapes (the generic model
   adapted to the target's own speech, or a person-specific one from ``synthvid lipsync train``), added to the
   target's own mean mouth.
3. Target frames are re-timed to the speech's length (:mod:`synthvid.lipsync.retime`); in each, the lips and jaw
   line are warped to the predicted shape, the mouth is re-synthesised from the target's frames with that shape
   (:mod:`synthvid.lipsync.texture`), and blended in. The output carries the new audio.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from synthvid.config import Config, option
from synthvid.errors import InputError, NoFaceError
from synthvid.io.audio import SPEECH_RATE, read_audio, write_wav
from synthvid.io.files import check_input_file, check_outputs, output_folder
from synthvid.io.image import IMAGE_SUFFIXES
from synthvid.io.output import Stamp, VideoOutput, write_image
from synthvid.io.threaded import BackgroundWriter, prefetch
from synthvid.io.video import VIDEO_SUFFIXES, VideoReader, probe_video
from synthvid.lipsync.features import speech_activity, speech_features, voiced_mask
from synthvid.lipsync.model import LipSyncModel
from synthvid.lipsync.retime import MODES, retime
from synthvid.lipsync.shape import POINTS, match_opening, mouth_shape
from synthvid.lipsync.texture import MouthSynthesizer
from synthvid.lipsync.visemes import apply_visemes, closed_shape
from synthvid.progress import progress
from synthvid.reenact.motion import FaceFollower, FaceState, Motion, motion_from
from synthvid.reenact.render import rerender
from synthvid.reenact.retrieve import PartBank
from synthvid.runtime import frame_pipeline
from synthvid.types import Frame
from synthvid.viz import image_grid, label

MEMORY_BUDGET = 1.5e9  # bytes of target frames kept in memory; longer targets use their first part
MIN_MOUTH_FRAMES = 10


@dataclasses.dataclass(frozen=True)
class LipSyncConfig(Config):
    """How new speech is put into a target video."""

    candidates: int = option(5, "target frames whose mouths are combined (weighted median) per output frame",
                            bounds=(1, None))
    sharpen: float = option(0.7, "teeth sharpening: share of the best candidate's fine detail added back")
    retime: str = option("pingpong", "re-timing of the target footage to the speech's length", choices=MODES)
    hold_silence: float = option(1.0, "seconds of silence after which the head is held still (0: never)")
    person: str = option("auto", "without --model: adapt the speech filter to the target's own speech when it has "
                         "10 s or more of it (auto), or use the generic filter (off)", choices=("off", "auto"))
    voice: str = option("en-us", "espeak-ng voice for --text")
    words_per_minute: int = option(160, "speaking rate for --text")
    mouth_range: str = option("target", "range of mouth opening: target (when the target speaks 10 s or more in "
                              "its own footage, the predicted mouths get the range that footage shows: closed in "
                              "pauses and on p/b/m, as the person's are) or model (the speech filter's own: never "
                              "fully closed, 1-2 percent lower lip-point error)",
                              choices=("target", "model"))
    visemes: bool = option(True, "with --text: shape the lips by the phonemes espeak-ng speaks, when it speaks them: "
                           "closed on p, b, m, lower lip to the teeth on f, v, rounded on oo, oh, w (the speech "
                           "filter alone blurs these)")
    max_seconds: float = option(600.0, "longest speech accepted, in seconds")
    crf: int = option(18, "H.264 quality of the output (lower = better, larger)", bounds=(0, 51))


@dataclasses.dataclass
class LipSyncReport:
    output: Path
    frames: int
    seconds: float
    speech_seconds: float
    held_frames: int
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / max(self.seconds, 1e-9)

    def summary(self) -> str:
        tail = "; " + "; ".join(self.notes) if self.notes else ""
        held = f", head held still for {self.held_frames} frames of silence" if self.held_frames else ""
        return (f"wrote {self.output}: {self.frames} frames for {self.speech_seconds:.1f} s of speech "
                f"({self.fps:.1f} fps{held}){tail}")


@dataclasses.dataclass
class Target:
    """A tracked target video held in memory."""

    path: Path
    fps: float
    fps_fraction: object
    size: tuple[int, int]
    frames: list[Frame]
    motion: Motion
    bank: PartBank
    notes: list[str]

    def own_shapes(self) -> np.ndarray:
        """(N, 59, 2) the target's own mouth shapes, in its frames with a face."""
        return mouth_shape(self.motion.frontal()[self.motion.found])

    def mean_shape(self) -> np.ndarray:
        return self.own_shapes().mean(0)


def load_target(path: str | os.PathLike, quiet: bool = True) -> Target:
    """Track a target video, keeping its frames (up to :data:`MEMORY_BUDGET`) and a bank of its mouths."""
    src = check_input_file(path, "target video")
    info = probe_video(src)
    limit = max(int(MEMORY_BUDGET // max(info.width * info.height * 3, 1)), 1)
    count = min(info.frame_count, limit) if info.frame_count else limit
    frames: list[Frame] = []
    states: list[FaceState | None] = []
    bank = PartBank()
    bar = progress(total=count, desc=f"tracking {src.name}", unit="frame", quiet=quiet)
    with FaceFollower(info.fps) as follow, VideoReader(src, end=count) as reader:
        for i, frame in enumerate(prefetch(reader)):
            if i >= count:
                break
            seen = follow(frame)
            st = None if seen is None else FaceState.of(*seen)
            states.append(st)
            frames.append(frame)
            if st is not None:
                bank.add(frame, st.landmarks, st.frontal, i)
            bar.update(1)
    bar.close()
    motion = motion_from(states, info.fps, (info.width, info.height), src.name)
    if int(motion.found.sum()) < MIN_MOUTH_FRAMES:
        raise NoFaceError(f"{src.name} has only {int(motion.found.sum())} frames with a usable face; "
                          f"lip sync needs at least {MIN_MOUTH_FRAMES}")
    notes = []
    if info.frame_count > count:
        notes.append(f"only the first {count} of {info.frame_count} target frames were used (memory)")
    if motion.missing:
        notes.append(f"{motion.missing} target frames had no face and are not used")
    return Target(src, info.fps, info.fps_fraction, (info.width, info.height), frames, motion, bank, notes)


def _speech(audio: str | os.PathLike | None, text: str | None, cfg: LipSyncConfig,
            scratch: Path) -> tuple[np.ndarray, Path, str, list]:
    """(16-kHz samples, file to mux, description, phonemes with their times: text only) of the new speech."""
    if (audio is None) == (text is None):
        raise InputError("give exactly one of --audio FILE or --text \"...\"")
    if text is not None:
        from synthvid.lipsync.tts import speak_timed  # noqa: PLC0415

        samples, rate, phonemes = speak_timed(text, cfg.voice, cfg.words_per_minute)
        if len(samples) > cfg.max_seconds * rate:
            raise InputError(f"the text takes {len(samples) / rate:.0f} s to speak, longer than {cfg.max_seconds:g} s "
                             "(raise --max-seconds to allow it)")
        wav = write_wav(scratch / "speech.wav", samples, rate)
        return read_audio(wav), wav, "text", phonemes
    src = check_input_file(audio, "audio")
    samples = read_audio(src, max_seconds=cfg.max_seconds + 1)
    if len(samples) > cfg.max_seconds * SPEECH_RATE:
        raise InputError(f"{src.name} is longer than {cfg.max_seconds:g} s (raise --max-seconds to allow it)")
    return samples, src, src.name, []


@frame_pipeline
def lipsync(target: str | os.PathLike, output: str | os.PathLike, *, audio: str | os.PathLike | None = None,
            text: str | None = None, model: str | os.PathLike | None = None, config: LipSyncConfig | None = None,
            preview: str | os.PathLike | None = None, quiet: bool = False) -> LipSyncReport:
    """Make ``target`` (a talking-head video) say ``audio`` (any media file with sound) or ``text``.

    ``model``: a folder from :func:`train` (person-specific); default: the generic model shipped with synthvid.
    The output lasts as long as the speech and carries it as its sound track.
    """
    cfg = config or LipSyncConfig()
    t0 = time.monotonic()
    check_input_file(target, "target video")
    out_path, _ = check_outputs((target, audio), (output, VIDEO_SUFFIXES), (preview, IMAGE_SUFFIXES))
    assert out_path is not None
    net = LipSyncModel.load(model) if model is not None else LipSyncModel.generic()
    scratch = Path(tempfile.mkdtemp(prefix="synthvid-lipsync-"))
    try:
        samples, mux_from, what, phonemes = _speech(audio, text, cfg, scratch)
        if not voiced_mask(samples).any():
            raise InputError(f"no speech found in {what} (it is silent or only noise)")
        tgt = load_target(target, quiet)
        notes = list(tgt.notes)
        fit = model is None and cfg.person == "auto"
        own = _own_speech(tgt) if fit or cfg.mouth_range == "target" else "not needed"
        if fit:
            notes.append(_fit_on_target(net, tgt, own))
        if cfg.mouth_range == "target" and isinstance(own, str):
            notes.append(f"{own}: the speech filter's own range of mouth opening used")
        fps = tgt.fps
        n_out = max(int(round(len(samples) / SPEECH_RATE * fps)), 1)
        feats = speech_features(samples, fps, n_out)
        activity = speech_activity(samples, fps, n_out)
        shapes = predict_mouths(net, feats, fps, tgt.own_shapes(), cfg, phonemes,
                                own_speech=None if isinstance(own, str) else (own[0], tgt.motion.found),
                                samples=samples)
        usable = np.flatnonzero(tgt.motion.found)
        head = np.linalg.norm(np.diff(np.stack([s.pose.as_vector()[4:] for s in tgt.motion.states]), axis=0), axis=1)
        order = retime(n_out, len(usable), activity, fps, cfg.retime, cfg.hold_silence if cfg.hold_silence > 0
                       else 1e9, np.r_[0.0, head][usable])
        held = int(np.sum(np.diff(order) == 0))
        synth = MouthSynthesizer(tgt.bank, cfg.candidates, cfg.sharpen)
        stamp = Stamp("lipsync", cfg.to_dict(), inputs=tuple(str(p) for p in (tgt.path, mux_from)),
                      pixels_from=str(tgt.path))
        shots_at = set(np.linspace(0, n_out - 1, min(4, n_out)).round().astype(int).tolist()) if preview else set()
        shots: list[tuple[Frame, Frame]] = []
        w, h = tgt.size
        bar = progress(total=n_out, desc="lip sync", unit="frame", quiet=quiet)
        with VideoOutput(out_path, stamp, fps=tgt.fps_fraction, width=w, height=h, audio_from=mux_from,
                         audio_end=n_out / fps, crf=cfg.crf) as out:
            with BackgroundWriter(out.write) as sink:
                for t in range(n_out):
                    r = int(usable[order[t]])
                    result = render_frame(tgt.frames[r], tgt.motion.states[r], shapes[t], synth)
                    sink.put(result)
                    if t in shots_at:
                        shots.append((tgt.frames[r], result))
                    bar.update(1)
            frames = out.frames_written
        bar.close()
        if preview and shots:
            grid = image_grid([[label(a, "target"), label(b, "lip sync")] for a, b in shots])
            write_image(preview, grid, Stamp("lipsync.preview", cfg.to_dict(), inputs=(str(tgt.path),)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return LipSyncReport(out_path, frames, time.monotonic() - t0, len(samples) / SPEECH_RATE, held, notes)


def predict_mouths(net: LipSyncModel, features: np.ndarray, fps: float, own: np.ndarray,
                   cfg: LipSyncConfig | None = None, phonemes: Sequence = (),
                   own_speech: tuple[np.ndarray, np.ndarray] | None = None,
                   samples: np.ndarray | None = None) -> np.ndarray:
    """(T, 59, 2) mouth shapes for speech ``features``, on a target whose own mouths are ``own`` (N, 59, 2).

    The speech filter's offsets on the target's mean mouth, given the target's range of opening
    (``cfg.mouth_range`` "target": :func:`synthvid.lipsync.shape.match_opening`, one fixed map per target learnt
    from what the model predicts for the target's own footage, ``own_speech``: the speech features of each of its
    frames and which have a face; without them the filter's range is kept, since the mouths of a target that does
    not speak show no speaking range to take) and, for speech from text, lips shaped by its ``phonemes``
    (``samples``: that speech at 16 kHz, to time its stops by their bursts).
    """
    cfg = cfg or LipSyncConfig()
    mean = own.mean(0)
    shapes = net.shapes(features, fps, mean)
    if cfg.mouth_range == "target" and own_speech is not None and len(own_speech[0]):
        predicted = net.shapes(own_speech[0], fps, mean)[np.asarray(own_speech[1], bool)]
        shapes = match_opening(shapes, own, predicted)
    if phonemes and cfg.visemes:
        shapes = apply_visemes(shapes, phonemes, fps, closed_shape(own), samples, SPEECH_RATE)
    return shapes


def render_frame(frame: Frame, state: FaceState, shape: np.ndarray, synth: MouthSynthesizer) -> Frame:
    """``frame`` with its lips and jaw moved to ``shape`` (59 x 2, frontal) and the mouth re-synthesised."""
    frontal = state.frontal.copy()
    frontal[list(POINTS), :2] = shape
    r = rerender(frame, state.landmarks, state.pose, frontal, state.pose, mouth="none")
    return synth(r.frame, r.landmarks, frontal)


MIN_OWN_SPEECH = 10.0  # seconds of the target's own speech needed to learn from it


def _own_speech(tgt: Target) -> tuple[np.ndarray, np.ndarray] | str:
    """(speech features, speech activity) of the target's own sound track at its frame rate, or why not."""
    try:
        samples = read_audio(tgt.path)
    except InputError:
        return "target has no sound"
    if voiced_mask(samples).mean() * len(samples) / SPEECH_RATE < MIN_OWN_SPEECH:
        return f"target has under {MIN_OWN_SPEECH:g} s of speech"
    n = len(tgt.motion)
    return speech_features(samples, tgt.fps, n), speech_activity(samples, tgt.fps, n)


def _fit_on_target(net: LipSyncModel, tgt: Target, own: tuple[np.ndarray, np.ndarray] | str) -> str:
    from synthvid.lipsync.data import ClipData  # noqa: PLC0415

    if isinstance(own, str):
        return f"{own}: generic speech filter used"
    clip = ClipData(tgt.path.name, tgt.fps, own[0], mouth_shape(tgt.motion.frontal()), tgt.motion.found.copy(),
                    own[1], None)
    aligned = net.fit_person([clip])[0]
    return "speech filter adapted to the target's own speech" + (f" ({aligned.note()})" if aligned.note() else "")


@dataclasses.dataclass(frozen=True)
class LipSyncTrainConfig(Config):
    """How the person-specific stage is fitted (``synthvid lipsync train``)."""

    person_weight: float = option(2.0, "how many generic training frames one frame of the target counts for when "
                                  "the speech filter is re-solved (0: keep the generic filter)")
    lr: float = option(5e-4, "learning rate of the optional LSTM fine-tuning (--steps/--minutes)")
    align: bool = option(True, "check each target video's A/V sync first and move sound that is 2+ frames off into "
                         "sync before fitting (otherwise the model learns the offset)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.person_weight < 0 or self.lr <= 0:
            raise InputError(f"person_weight must be >= 0 and lr > 0, got {self.person_weight} and {self.lr}")


@dataclasses.dataclass
class TrainSummary:
    step: int  # LSTM fine-tuning steps done (0: the closed-form stage only)
    frames: int  # target frames with a face that the person-specific filter learned from
    notes: list[str] = dataclasses.field(default_factory=list)  # e.g. target videos moved into sync


def train(targets: Sequence[str | os.PathLike], out_dir: str | os.PathLike, loop: object | None = None,
          config: LipSyncTrainConfig | None = None, quiet: bool = False) -> TrainSummary:
    """Fit the person-specific stage on ``targets`` (videos of the target person speaking) into ``out_dir``.

    Starts from the shipped generic network: its speech filter is re-solved with the target's statistics added
    (closed form, seconds) and the target's mean mouth shape is kept. With a ``loop`` (a step or time budget) the
    LSTM correction is then fine-tuned on the target with the shared resumable loop (re-running resumes; the
    folder refuses other videos or another ``person_weight``); by default it is not, because on held-out speech of
    the benchmark's speakers fine-tuning it on 20-30 s made predictions worse (docs/lip_sync.md).
    """
    cfg = config or LipSyncTrainConfig()
    if not targets:
        raise InputError("give at least one target video")
    paths = [check_input_file(t, "target video") for t in targets]
    with output_folder(out_dir) as out:
        return _train_person(paths, out, loop, cfg, quiet)


def _train_person(paths: list[Path], out: Path, loop: object | None, cfg: LipSyncTrainConfig,
                  quiet: bool) -> TrainSummary:
    from synthvid.lipsync.data import file_digest, load_clip  # noqa: PLC0415
    from synthvid.lipsync.training import Audio2MouthTask, Audio2MouthTrainConfig  # noqa: PLC0415
    from synthvid.train.checkpoint import load_checkpoint  # noqa: PLC0415
    from synthvid.train.loop import save_task_checkpoint, train as run_loop  # noqa: PLC0415

    ckpt = out / "checkpoint.pt"
    if loop is None and ckpt.is_file():
        done = int(load_checkpoint(ckpt, check_weights=False)["step"])
        if done > 0:
            raise InputError(f"{out} holds an LSTM fine-tuned for {done} steps: continue it with --steps/--minutes, "
                             "or choose another folder")
    clips = [load_clip(p, quiet=quiet) for p in paths]
    model = LipSyncModel.generic()
    alignments = model.fit_person(clips, cfg.person_weight, cfg.align)
    clips = [a.clip for a in alignments]
    net = model.network
    net.freeze_filter()
    task = Audio2MouthTask(clips, net, Audio2MouthTrainConfig(lr=cfg.lr), seed=getattr(loop, "seed", 0))
    # What a resumed fine-tuning must match: the network's shape, and what its filter was fitted on.
    arch = {**net.cfg.to_dict(), "person_weight": cfg.person_weight, "targets": sorted(file_digest(p) for p in paths)}
    if cfg.align:  # runs from before alignment existed have no such key: --no-align resumes them
        arch["align"] = True
    step = 0
    if loop is not None:
        step = run_loop(task, out, loop, arch_config=arch, quiet=quiet).step  # type: ignore[arg-type]
    else:
        save_task_checkpoint(task, ckpt, arch_config=arch)
    model.save_person(out)
    return TrainSummary(step, sum(int(c.found.sum()) for c in clips), [a.note() for a in alignments if a.note()])
