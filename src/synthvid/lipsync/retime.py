"""Re-timing target footage to the length of new speech.

New speech rarely lasts as long as the target clip. The output needs one target frame per output frame, chosen so
the head keeps moving naturally: ``pingpong`` plays the footage forward then backward (no jump at the turn),
``loop`` starts over (one cut per loop), ``pick`` plays forward once and then ping-pongs through the
stillest two seconds of the clip (one cut). During long silences in the new speech the head is held still on one frame (a
speaker who pauses stops moving), and the footage resumes where it stopped when speech comes back.
"""

from __future__ import annotations

import numpy as np

from synthvid.errors import InputError

MODES = ("pingpong", "loop", "pick")
SILENT = 0.1  # speech activity below which a frame counts as silent


def _cycle(n_out: int, n_target: int, mode: str, still: tuple[int, int] | None = None) -> np.ndarray:
    if n_target == 1:
        return np.zeros(n_out, int)
    if mode == "loop":
        return np.arange(n_out) % n_target
    if mode == "pick" and still is not None and n_out > n_target:
        a, b = still  # play once, then cut to the stillest stretch and bounce inside it
        return np.concatenate([np.arange(n_target), a + _cycle(n_out - n_target, b - a + 1, "pingpong")])
    if mode == "pick":
        return np.arange(n_out)
    period = 2 * n_target - 2
    k = np.arange(n_out) % period
    return np.where(k < n_target, k, period - k)


def still_stretch(motion: np.ndarray, length: int) -> tuple[int, int]:
    """The ``length``-frame window (first, last) with the least head motion (``motion``: per-frame change)."""
    n = len(motion)
    length = min(max(length, 2), n)
    c = np.concatenate([[0.0], np.cumsum(motion)])
    sums = c[length:] - c[:-length]
    a = int(np.argmin(sums))
    return a, a + length - 1


def retime(n_out: int, n_target: int, activity: np.ndarray | None = None, fps: float = 25.0,
           mode: str = "pingpong", hold_silence_s: float = 1.0, head_motion: np.ndarray | None = None) -> np.ndarray:
    """Target frame index for each of ``n_out`` output frames.

    Args:
        activity: speech activity (0..1) per output frame; silences longer than ``hold_silence_s`` hold the head.
        head_motion: per-target-frame head movement, for ``pick``'s stillest stretch.
    """
    if n_out < 1 or n_target < 1:
        raise InputError("re-timing needs at least one output and one target frame")
    if mode not in MODES:
        raise InputError(f"unknown re-timing mode {mode!r} (use {', '.join(MODES)})")
    silent = np.zeros(n_out, bool) if activity is None else np.asarray(activity)[:n_out] < SILENT
    hold = np.zeros(n_out, bool)
    min_run = max(int(round(hold_silence_s * fps)), 1)
    i = 0
    while i < n_out:
        if silent[i]:
            j = i
            while j < n_out and silent[j]:
                j += 1
            if j - i >= min_run:
                ease = min(int(round(0.25 * fps)), (j - i) // 4)  # keep moving briefly into and out of the pause
                hold[i + ease: j - ease] = True
            i = j
        else:
            i += 1
    # the footage clock advances only on frames that are not held
    clock = np.cumsum(~hold) - 1
    clock = np.maximum(clock, 0)
    still = None
    if mode == "pick":
        motion = head_motion if head_motion is not None else np.zeros(n_target)
        still = still_stretch(np.asarray(motion, float), max(int(round(2 * fps)), 2))
    path = _cycle(int(clock[-1]) + 1, n_target, mode, still)
    return path[clock].astype(int)
