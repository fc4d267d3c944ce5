"""Lip shapes from the phonemes of speech made from text: closed on p, b and m, the lower lip at the teeth on
f and v, rounded on oo, oh and w.

Speech features alone blur the shortest and most visible mouth event of speech: the lips pressing together for a
bilabial (p, b, m), a closure of 30-100 ms, one to three video frames. Viewers notice a "p" said through open
lips at once. With ``--text`` synthvid knows exactly when each phoneme is spoken (espeak-ng's phoneme events,
:func:`synthvid.lipsync.tts.speak_timed`), so the predicted mouth shapes are pulled to the target's own closed
mouth over every bilabial closure:

- a stop (p, b) is silent, or only hums (a voiced b), while the lips are closed, and the lips open at its
  burst. Where espeak-ng's event falls varies with the context: at the burst of a p (the silence is before it:
  "Piper" 0.56-0.60 s, event 0.604 s), at the start of the closure of a b between vowels ("Peter bought": event
  0.334 s, burst 0.38 s). So the burst is found in the sound itself: the steepest rise of its level (1.6 times
  or more from one 10 ms to the next) from :data:`BURST_SEARCH` before the event to the end of the phoneme, and
  the lips are closed for :data:`STOP_CLOSURE` before it. Without the sound, or without such a rise (a final b
  before a pause is not released), the closure is taken as :data:`STOP_BEFORE` before the event to
  :data:`STOP_AFTER` after it, within about a frame of the truth either way;
- a nasal (m) hums through closed lips for the whole phoneme.

A frame inside a closure takes the closed shape; a frame within one frame of it is blended by its distance; of
a closure shorter than a frame, the nearest frame still closes fully. Over f and v (the lower lip raised to the
upper teeth) the mouth goes :data:`LABIODENTAL_PULL` of the way to the closed one; over rounded vowels and w
the lips narrow to :data:`ROUND_WIDTH` of their width (a diphthong only over its rounded half).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from synthvid.lipsync.shape import _CORNERS, LIP_COUNT, opening
from synthvid.lipsync.tts import Phoneme

STOP_BEFORE, STOP_AFTER = 0.05, 0.03  # seconds of closed lips before and after a stop's event (no burst found)
STOP_CLOSURE = 0.06  # seconds of closed lips before a stop's burst
BURST_SEARCH = 0.015  # seconds before a stop's event searched for its burst (further back: the vowel before it)
_HOP = 0.005  # seconds per step of the sound level used to find bursts
CLOSED_SHARE = 0.1  # the closed mouth is the mean of the target's this share of most closed frames
LABIODENTAL_PULL = 0.7  # f, v: this much of the way from the predicted mouth to the closed one
ROUND_WIDTH = 0.85  # rounded vowels and w: the lips narrow to this share of their width
# espeak-ng mnemonics (English and the common European voices) of rounded sounds; diphthongs by their rounded half
ROUNDED = frozenset({"u:", "u", "U", "w", "o", "o:", "oU", "O", "O:", "O~", "o~", "o@", "O@", "u@", "U@",
                     "y", "y:", "Y", "2", "2:", "9"})
ROUNDED_END = frozenset({"aU", "@U", "eU"})  # rounded in their second half
ROUNDED_START = frozenset({"OI", "oI"})  # rounded in their first half


def _is(name: str, letters: str, variants: str = "#-:") -> bool:
    """Whether espeak-ng mnemonic ``name`` is one of ``letters``, alone or with a variant mark ("p#", a syllabic
    "m-")."""
    return bool(name) and name[0] in letters and (len(name) == 1 or name[1] in variants)


def _kind(name: str) -> str:
    """"stop", "nasal" or "" for an espeak-ng mnemonic (German "pF" counts as a stop)."""
    if not _is(name, "pbm", "#-:F"):
        return ""
    return "nasal" if name[0] == "m" else "stop"


def _log_level(samples: np.ndarray, rate: int) -> np.ndarray:
    """Log sound level over 10 ms from each 5-ms step (10 ms: a voiced closure's pitch pulses do not read as
    bursts)."""
    hop = max(int(rate * _HOP), 1)
    n = len(samples) // hop
    power = (np.asarray(samples[: n * hop], np.float64).reshape(n, hop) ** 2).mean(1)
    power = (power + np.r_[power[1:], power[-1:]]) / 2 if n else power
    return np.log(np.sqrt(power) + 1e-4)


def _burst(level: np.ndarray, start: float, end: float) -> float | None:
    """Time of the steepest rise of ``level`` (the 10 ms after against the 10 ms before, at least 1.6 times) in
    [start - BURST_SEARCH, end]."""
    a = max(int(round((start - BURST_SEARCH) / _HOP)), 2)
    b = min(int(np.ceil(end / _HOP)), len(level))
    if b <= a:
        return None
    rise = level[a:b] - level[a - 2: b - 2]
    k = int(np.argmax(rise))
    return (a + k) * _HOP if rise[k] >= np.log(1.6) else None


def lip_closures(phonemes: Sequence[Phoneme], samples: np.ndarray | None = None,
                 rate: int | None = None) -> list[tuple[float, float]]:
    """(start, end) seconds of every bilabial closure in ``phonemes`` (``samples`` at ``rate``: their sound, to
    find each stop's burst)."""
    level = _log_level(samples, rate) if samples is not None and rate else None
    spans = []
    for p in phonemes:
        kind = _kind(p.name)
        if kind == "nasal":
            spans.append((p.start, p.end))
        elif kind == "stop":
            burst = _burst(level, p.start, p.end) if level is not None else None
            if burst is None:
                spans.append((max(p.start - STOP_BEFORE, 0.0), p.start + STOP_AFTER))
            else:
                spans.append((max(burst - STOP_CLOSURE, 0.0), burst))
    return spans


def labiodental_spans(phonemes: Sequence[Phoneme]) -> list[tuple[float, float]]:
    """(start, end) seconds of every f and v."""
    return [(p.start, p.end) for p in phonemes if _is(p.name, "fv")]


def rounding_spans(phonemes: Sequence[Phoneme]) -> list[tuple[float, float]]:
    """(start, end) seconds over which the lips are rounded."""
    spans = []
    for p in phonemes:
        mid = (p.start + p.end) / 2
        if p.name in ROUNDED:
            spans.append((p.start, p.end))
        elif p.name in ROUNDED_END:
            spans.append((mid, p.end))
        elif p.name in ROUNDED_START:
            spans.append((p.start, mid))
    return spans


def span_weights(spans: Sequence[tuple[float, float]], fps: float, frames: int) -> np.ndarray:
    """(frames,) in [0, 1]: how much of a viseme (closure, rounding) each frame shows, 1 inside its ``spans``
    (frame t is shown from t / fps to (t + 1) / fps, as the speech features pool it; its time is the middle of
    that)."""
    w = np.zeros(frames)
    for a, b in spans:
        f0, f1 = max(int(np.floor(a * fps)) - 2, 0), min(int(np.ceil(b * fps)) + 2, frames)  # frames it can reach
        if f1 <= f0:
            continue
        t = (np.arange(f0, f1) + 0.5) / fps
        dist = np.maximum(np.maximum(a - t, t - b), 0.0) * fps  # in frames; 0 inside the span
        w[f0:f1] = np.maximum(w[f0:f1], np.clip(1.0 - dist, 0.0, 1.0))
        nearest = int(np.floor((a + b) / 2 * fps))  # the frame shown at the span's middle
        if 0 <= nearest < frames:
            w[nearest] = 1.0
    return w


def closed_shape(shapes: np.ndarray) -> np.ndarray:
    """The target's own closed mouth: the mean of its most closed (59, 2) mouth shapes."""
    s = np.asarray(shapes, np.float32)
    o = opening(s)
    keep = o <= np.quantile(o, CLOSED_SHARE)
    return s[keep].mean(0)


def close_lips(shapes: np.ndarray, spans: Sequence[tuple[float, float]], fps: float, closed: np.ndarray,
               strength: float = 1.0) -> np.ndarray:
    """``shapes`` (T, 59, 2) pulled to ``closed`` over the closures ``spans`` (seconds, from :func:`lip_closures`),
    ``strength`` of the way."""
    w = strength * span_weights(spans, fps, len(shapes))[:, None, None].astype(np.float32)
    return (1 - w) * np.asarray(shapes, np.float32) + w * np.asarray(closed, np.float32)[None]


def round_lips(shapes: np.ndarray, spans: Sequence[tuple[float, float]], fps: float,
               width: float = ROUND_WIDTH) -> np.ndarray:
    """``shapes`` (T, 59, 2) with the lips (not the jaw) narrowed about the mouth's centre to ``width`` of their
    width over ``spans``."""
    out = np.array(shapes, np.float32)
    scale = 1 - (1 - width) * span_weights(spans, fps, len(out)).astype(np.float32)
    cx = out[:, _CORNERS, 0].mean(1, keepdims=True)
    out[:, :LIP_COUNT, 0] = cx + (out[:, :LIP_COUNT, 0] - cx) * scale[:, None]
    return out


def apply_visemes(shapes: np.ndarray, phonemes: Sequence[Phoneme], fps: float, closed: np.ndarray,
                  samples: np.ndarray | None = None, rate: int | None = None) -> np.ndarray:
    """All of the above on ``shapes`` (T, 59, 2): rounding, then f and v, then the bilabial closures (which win;
    ``samples`` at ``rate``: the speech, to time the stops by their bursts)."""
    out = round_lips(shapes, rounding_spans(phonemes), fps)
    out = close_lips(out, labiodental_spans(phonemes), fps, closed, LABIODENTAL_PULL)
    return close_lips(out, lip_closures(phonemes, samples, rate), fps, closed)
