"""Lips that close on p, b and m when the speech comes from text.

Speech features alone blur the shortest and most visible mouth event of speech: the lips pressing together for a
bilabial (p, b, m), a closure of 30-100 ms, one to three video frames. Viewers notice a "p" said through open
lips at once. With ``--text`` synthvid knows exactly when each phoneme is spoken (espeak-ng's phoneme events,
:func:`synthvid.lipsync.tts.speak_timed`), so the predicted mouth shapes are pulled to the target's own closed
mouth over every bilabial closure:

- a stop (p, b) is silent, or only hums (a voiced b), while the lips are closed, and ends in a burst. Where
  espeak-ng's event falls in that varies: at the burst of a p (the silence is before it: "Piper" 0.56-0.60 s,
  event 0.604 s), at the start of the closure of a b between vowels ("Peter bought": event 0.334 s, burst
  0.38 s). The closure is therefore taken as :data:`STOP_BEFORE` before the event to :data:`STOP_AFTER` after
  it, within about a frame of the true one either way (the sound's own level cannot tell them apart: a p's
  aspiration after the burst is as quiet as a b's hum before it);
- a nasal (m) hums through closed lips for the whole phoneme.

A frame inside a closure takes the closed shape; a frame within one frame of it is blended by its distance; of
a closure shorter than a frame, the nearest frame still closes fully.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from synthvid.lipsync.shape import opening
from synthvid.lipsync.tts import Phoneme

STOP_BEFORE, STOP_AFTER = 0.05, 0.03  # seconds of closed lips before and after a stop's event
CLOSED_SHARE = 0.1  # the closed mouth is the mean of the target's this share of most closed frames


def _kind(name: str) -> str:
    """"stop", "nasal" or "" for an espeak-ng mnemonic (variants such as "p#" or a syllabic "m-" included)."""
    if not name or name[0] not in "pbm" or (len(name) > 1 and name[1] not in "#-:"):
        return ""
    return "nasal" if name[0] == "m" else "stop"


def lip_closures(phonemes: Sequence[Phoneme]) -> list[tuple[float, float]]:
    """(start, end) seconds of every bilabial closure in ``phonemes``."""
    spans = []
    for p in phonemes:
        kind = _kind(p.name)
        if kind == "nasal":
            spans.append((p.start, p.end))
        elif kind == "stop":
            spans.append((max(p.start - STOP_BEFORE, 0.0), p.start + STOP_AFTER))
    return spans


def closure_weights(spans: Sequence[tuple[float, float]], fps: float, frames: int) -> np.ndarray:
    """(frames,) in [0, 1]: how closed the lips must be at each frame (frame t is shown from t / fps to
    (t + 1) / fps, as the speech features pool it; its time is the middle of that)."""
    t = (np.arange(frames) + 0.5) / fps
    w = np.zeros(frames)
    for a, b in spans:
        dist = np.maximum(np.maximum(a - t, t - b), 0.0) * fps  # in frames; 0 inside the closure
        w = np.maximum(w, np.clip(1.0 - dist, 0.0, 1.0))
        nearest = int(np.floor((a + b) / 2 * fps))  # the frame shown at the closure's middle
        if 0 <= nearest < frames:
            w[nearest] = 1.0
    return w


def closed_shape(shapes: np.ndarray) -> np.ndarray:
    """The target's own closed mouth: the mean of its most closed (59, 2) mouth shapes."""
    s = np.asarray(shapes, np.float32)
    o = opening(s)
    keep = o <= np.quantile(o, CLOSED_SHARE)
    return s[keep].mean(0)


def close_lips(shapes: np.ndarray, spans: Sequence[tuple[float, float]], fps: float,
               closed: np.ndarray) -> np.ndarray:
    """``shapes`` (T, 59, 2) with the lips pulled to ``closed`` over the closures ``spans`` (seconds, from
    :func:`lip_closures`)."""
    w = closure_weights(spans, fps, len(shapes))[:, None, None].astype(np.float32)
    return (1 - w) * np.asarray(shapes, np.float32) + w * np.asarray(closed, np.float32)[None]
