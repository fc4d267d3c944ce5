"""Global pose normalisation between two people (Chan et al., "Everybody Dance Now", section 3.3).

Each video's ground line is summarised by its ankles: the farthest (smallest image y) and closest (largest y)
ankle positions and the body heights seen there. A source pose is scaled by a factor interpolated between the
target/source height ratios at the far and close positions, according to where the source's ankles are between its
own far and close; its ankles are placed at the matching point of the target's range. So a tall source far from the
camera drives a short target near it at the target's size and on the target's floor.

When the feet are out of frame in either video the ankles say nothing: scale then comes from the torso length and
position from the hips, and the result says so.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from synthvid.body.keypoints import ANKLES, LEFT_HIP, NOSE, RIGHT_HIP, VISIBLE, PoseTrack, torso_length

FEET_SHARE = 0.5  # share of a video's person-frames that must show both ankles for ankle-based normalisation
NEAR = 0.05  # ankle y within this share of the frame height of the far/close position counts as "there"
MIN_RANGE = 0.03  # far/close ranges narrower than this share of the frame height are one depth


@dataclasses.dataclass(frozen=True)
class Ground:
    """Where a person stands over a video, in its pixels."""

    feet: bool  # ankles seen in most frames (else the hip/torso fallback)
    far_y: float  # farthest ankle position (or hip position in the fallback)
    close_y: float  # closest ankle position (or hip)
    far_height: float  # body height at the far position (or torso length)
    close_height: float  # body height at the close position (or torso length)
    center_x: float  # median horizontal position of the ankles (or hips)

    def to_dict(self) -> dict[str, float | bool]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Ground:
        return cls(bool(d["feet"]), *(float(d[k]) for k in ("far_y", "close_y", "far_height", "close_height",
                                                             "center_x")))


def _anchor(points: np.ndarray, feet: bool) -> np.ndarray:
    """T x 33 x 2 -> T x 2: the ankles' midpoint (or the hips')."""
    idx = list(ANKLES) if feet else [LEFT_HIP, RIGHT_HIP]
    return points[:, idx].mean(1)


def _size(points: np.ndarray, feet: bool) -> np.ndarray:
    """T x 33 x 2 -> T: body height (nose to ankles, the same landmarks in every video), or torso length."""
    if feet:
        return _anchor(points, True)[:, 1] - points[:, NOSE, 1]
    return torso_length(points)


def ground_of(track: PoseTrack, feet: bool | None = None) -> Ground:
    """Summarise where the person of ``track`` stands (far/close ankle positions and heights there).

    ``feet``: None decides by whether the ankles are seen in most frames; False forces the hip/torso measure.
    """
    found = track.found
    if not found.any():
        raise ValueError("no person in the track")
    feet_seen = (track.visibility[:, list(ANKLES)] > VISIBLE).all(1) & found
    if feet is None or feet:
        feet = bool(feet_seen.sum() >= FEET_SHARE * found.sum())
    use = feet_seen if feet else found
    pts = track.points[use]
    anchor, size = _anchor(pts, feet), _size(pts, feet)
    y = anchor[:, 1]
    far_y, close_y = float(np.percentile(y, 5)), float(np.percentile(y, 95))
    tol = NEAR * track.size[1]

    def height_near(at: float) -> float:
        near = np.abs(y - at) <= tol
        if not near.any():  # percentiles interpolate: no sample may lie that close; take the nearest ones
            near = np.abs(y - at) <= np.abs(y - at).min() + 1e-6
        return float(np.percentile(size[near], 90))

    far_h, close_h = height_near(far_y), height_near(close_y)
    return Ground(bool(feet), far_y, close_y, max(far_h, 1.0), max(close_h, 1.0), float(np.median(anchor[:, 0])))


@dataclasses.dataclass
class Normalised:
    points: np.ndarray  # T x 33 x 2 in the target's pixels
    scale: np.ndarray  # T: the scale applied to each source pose
    feet: bool  # ankle-based (True) or the hip/torso fallback
    note: str  # one line saying how it was done


def normalise_poses(source: PoseTrack, target: Ground, target_hips: Ground, target_height: int) -> Normalised:
    """Map the source's poses into the target's frame (scale and position), frame by frame.

    Args:
        source: the driving poses.
        target: :func:`ground_of` the target video; target_hips: the same with ``feet=False``.
        target_height: the target's frame height (sets what "one depth" means).
    """
    s = ground_of(source)
    feet = s.feet and target.feet
    t = target
    if feet:
        note = "scaled and placed by ankle positions and heights"
    else:
        who = "source and target" if not (s.feet or target.feet) else ("source" if not s.feet else "target")
        s, t = ground_of(source, feet=False), target_hips
        note = f"feet out of frame in the {who}: scaled by torso length and placed by the hips"
    pts = source.points
    anchor = _anchor(pts, feet)
    span_s, span_t = s.close_y - s.far_y, t.close_y - t.far_y
    if span_s > MIN_RANGE * source.size[1] and span_t > MIN_RANGE * target_height:
        a = np.clip((anchor[:, 1] - s.far_y) / span_s, -0.25, 1.25)  # where the source stands, 0 far .. 1 close
        scale = t.far_height / s.far_height + a * (t.close_height / s.close_height - t.far_height / s.far_height)
        y = t.far_y + a * span_t
    else:  # one depth in either video: one scale; the source's depth motion is kept, scaled
        scale = np.full(len(pts), t.close_height / s.close_height)
        y = t.close_y + (anchor[:, 1] - s.close_y) * scale
    scale = np.clip(scale, 0.05, 20.0).astype(np.float32)
    x = t.center_x + (anchor[:, 0] - s.center_x) * scale
    out = (pts - anchor[:, None]) * scale[:, None, None] + np.stack([x, y], 1)[:, None]
    return Normalised(out.astype(np.float32), scale, feet, note)
