"""The built-in demos, on media that ships with synthvid's dependencies (no download).

``run_demo`` (the default): portrait animation. The public-domain astronaut portrait bundled in scikit-image (and
Grace Hopper's, bundled in matplotlib) is animated by synthvid's built-in performance — talking to a synthetic
voice-like sound track, smiling, blinking, raising the brows and turning the head — and written as mp4 videos.

``run_swap_demo``: the face-swap job. Two public-domain portraits — the astronaut Eileen Collins (NASA, bundled in scikit-image) and Grace Hopper
(US Navy, bundled in matplotlib) — are turned into short clips by moving a virtual camera over each still (pan,
zoom, roll) with a synthetic voice-like sound track. Faces are extracted, a small swap model is trained for a few
minutes, and the astronaut clip is converted so that Grace Hopper's face follows its motion, audio kept.

Being stills, the clips have no changing expression: this demo shows the pipeline working end to end, not the
quality of a swap trained on real footage (see docs/face_swap.md for that).

``run_lipsync_demo``: lip sync from text. The astronaut portrait, animated by the built-in performance, becomes
the target video, and is made to say a sentence spoken by espeak-ng, the lips closing on its p, b and m.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np

from synthvid.errors import InputError, NoFaceError
from synthvid.face.detect import detect_faces
from synthvid.io.audio import write_wav
from synthvid.io.files import make_output_folder
from synthvid.io.image import read_image
from synthvid.io.output import Stamp, VideoOutput, write_image, write_text
from synthvid.types import Frame

FPS = 25
SIZE = 256


def demo_portraits() -> dict[str, Frame]:
    """The two bundled public-domain portraits."""
    import matplotlib  # noqa: PLC0415
    import skimage.data  # noqa: PLC0415

    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return {"astronaut": skimage.data.astronaut(), "hopper": read_image(hopper)}


def voice_like_audio(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """A synthetic sound with speech-like rhythm: a harmonic buzz at ~120 Hz gated into 4 Hz syllables."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    pitch = 120 + 15 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    buzz = sum(np.sin(k * phase) / k for k in range(1, 8))
    syllables = np.clip(np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6)), 0, None) ** 2
    return (0.3 * buzz * syllables).astype(np.float32)


def animate_portrait(image: Frame, out: str | os.PathLike, seconds: float, audio: str | os.PathLike,
                     seed: int = 0) -> Path:
    """Write a clip of a virtual camera moving over ``image`` around its face."""
    faces = detect_faces(image, max_faces=1)
    if not faces:
        raise NoFaceError("no face in the demo portrait")
    cx, cy = faces[0].center
    side = faces[0].size * 2.4
    rng = np.random.default_rng(seed)
    phases = rng.uniform(0, 2 * np.pi, 4)
    n = int(seconds * FPS)
    with VideoOutput(out, Stamp("demo.animate_portrait", {"seconds": seconds, "seed": seed}, synthetic=True),
                     fps=FPS, width=SIZE, height=SIZE, audio_from=audio) as video:
        for i in range(n):
            t = i / FPS
            dx = 0.06 * side * math.sin(2 * math.pi * 0.23 * t + phases[0])
            dy = 0.04 * side * math.sin(2 * math.pi * 0.31 * t + phases[1])
            zoom = 1 + 0.08 * math.sin(2 * math.pi * 0.17 * t + phases[2])
            roll = 7 * math.sin(2 * math.pi * 0.29 * t + phases[3])
            m = cv2.getRotationMatrix2D((float(cx + dx), float(cy + dy)), roll, SIZE / side * zoom)
            m[:, 2] += np.array([SIZE / 2 - (cx + dx), SIZE / 2 - (cy + dy)])
            video.write(cv2.warpAffine(image, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_REFLECT101))
    return Path(out)


def run_demo(out_dir: str | os.PathLike = "demo_out", seconds: float = 8.0, quiet: bool = False) -> str:
    """Animate the bundled portraits with the built-in performance; returns a summary of what was written."""
    from synthvid.pipelines.reenact import reenact_photo  # noqa: PLC0415
    from synthvid.reenact.sequence import builtin_performance, loudness_envelope  # noqa: PLC0415

    out = make_output_folder(out_dir, parents=True)
    lines = ["synthvid demo: portraits animated by the built-in performance (talking, smiling, blinking, turning)"]
    for seed, (name, image) in enumerate(demo_portraits().items()):
        photo = write_image(out / f"{name}.png", image, Stamp("demo.portrait", {}, synthetic=False))
        voice = voice_like_audio(seconds, seed=seed)
        wav = write_wav(out / f"{name}_voice.wav", voice, 16000)
        frames = int(seconds * FPS)
        states = builtin_performance(frames, FPS, loudness_envelope(voice, 16000, FPS, frames))
        try:
            report = reenact_photo(photo, None, out / f"{name}_animated.mp4", states=states, fps=FPS, audio=wav,
                                   preview=out / f"{name}_animated.png", quiet=quiet)
        finally:
            wav.unlink(missing_ok=True)
        lines.append(f"  {name}: {report.summary()}; preview strip {out / f'{name}_animated.png'}")
    lines.append("Every output carries an invisible watermark and a signed C2PA manifest saying it is synthetic "
                 "(check with `synthvid verify FILE`). See docs/reenact.md; "
                 "`synthvid demo --job swap` and `--job lipsync` run the face-swap and lip-sync demos.")
    write_text(out / "README.txt", "\n".join(lines) + "\n")
    return "\n".join(lines)


def run_swap_demo(out_dir: str | os.PathLike = "demo_out", minutes: float = 3.0, seconds: float = 6.0,
                  quiet: bool = False) -> str:
    """Run the face-swap demo; returns a summary of what was written."""
    if not minutes > 0:
        raise InputError(f"--minutes must be a positive number of minutes, got {minutes}")
    from synthvid.pipelines.extract import extract  # noqa: PLC0415
    from synthvid.pipelines.face_swap import train  # noqa: PLC0415
    from synthvid.pipelines.face_swap_convert import convert  # noqa: PLC0415
    from synthvid.train.loop import LoopConfig  # noqa: PLC0415

    out = make_output_folder(out_dir, parents=True)
    portraits = demo_portraits()
    clips = {}
    for seed, (name, image) in enumerate(portraits.items()):
        wav = write_wav(out / f"{name}_voice.wav", voice_like_audio(seconds, seed=seed), 16000)
        clips[name] = animate_portrait(image, out / f"{name}.mp4", seconds, wav, seed=seed)
        wav.unlink()
    for name, clip in clips.items():
        extract([clip], out / f"faces_{name}", quiet=quiet)
    summary = train(out / "faces_astronaut", out / "faces_hopper", out / "model",
                    loop=LoopConfig(minutes=minutes, preview_minutes=1.0), quiet=quiet)
    report = convert(clips["astronaut"], out / "model", out / "astronaut_as_hopper.mp4",
                     preview=out / "astronaut_as_hopper.png", quiet=quiet)
    lines = [
        "synthvid demo (built-in media: two public-domain portraits animated by a moving virtual camera)",
        f"  clips:     {clips['astronaut']}, {clips['hopper']}",
        f"  facesets:  {out / 'faces_astronaut'}, {out / 'faces_hopper'}",
        f"  model:     {out / 'model'} ({summary.step} steps, {summary.elapsed_s / 60:.1f} min, "
        f"{summary.images_per_s:.1f} images/s; previews in model/preview.png, loss in model/loss.png)",
        f"  result:    {report.summary()}",
        f"  preview:   {out / 'astronaut_as_hopper.png'} (top: input, bottom: swapped)",
        "Every output carries an invisible watermark and a signed C2PA manifest saying it is synthetic "
        "(`synthvid verify FILE`). For real footage see docs/face_swap.md.",
    ]
    write_text(out / "README.txt", "\n".join(lines) + "\n")
    return "\n".join(lines)


LIPSYNC_TEXT = ("Hello! I am a portrait from a public domain photo. Every word I say here was made up by a "
                "computer, and my mouth moves to match it.")


def run_lipsync_demo(out_dir: str | os.PathLike = "demo_out", seconds: float = 6.0, text: str = LIPSYNC_TEXT,
                     quiet: bool = False) -> str:
    """Lip sync from text on a built-in target: the astronaut portrait animated by the built-in performance is
    made to say ``text``; returns a summary of what was written."""
    from synthvid.pipelines.lip_sync import lipsync  # noqa: PLC0415
    from synthvid.pipelines.reenact import reenact_photo  # noqa: PLC0415
    from synthvid.reenact.sequence import builtin_performance, loudness_envelope  # noqa: PLC0415

    out = make_output_folder(out_dir, parents=True)
    image = demo_portraits()["astronaut"]
    photo = write_image(out / "astronaut.png", image, Stamp("demo.portrait", {}, synthetic=False))
    voice = voice_like_audio(seconds, seed=0)
    wav = write_wav(out / "astronaut_voice.wav", voice, 16000)
    frames = int(seconds * FPS)
    states = builtin_performance(frames, FPS, loudness_envelope(voice, 16000, FPS, frames))
    target = out / "astronaut_target.mp4"
    try:
        reenact_photo(photo, None, target, states=states, fps=FPS, audio=wav, quiet=quiet)
    finally:
        wav.unlink(missing_ok=True)
    report = lipsync(target, out / "astronaut_says.mp4", text=text, preview=out / "astronaut_says.png", quiet=quiet)
    lines = ["synthvid demo: lip sync from text (espeak-ng), on the astronaut portrait animated as a target video",
             f"  target:    {target} (the portrait animated by the built-in performance)",
             f"  lip sync:  {report.summary()}",
             f"  preview:   {out / 'astronaut_says.png'} (target | lip sync)",
             "Every output carries an invisible watermark and a signed C2PA manifest saying it is synthetic "
             "(check with `synthvid verify FILE`). See docs/lip_sync.md."]
    write_text(out / "README.txt", "\n".join(lines) + "\n")
    return "\n".join(lines)
