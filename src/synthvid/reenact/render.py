"""Re-rendering a face with new landmarks: warp the image, move the head, fill the mouth.

The face's 478 landmarks move to their new places (piecewise-affine warp; the eyelids by their own pixel-exact
remap, :mod:`synthvid.reenact.eyes`); a ring of points around the head,
placed with the head pose, carries hair, ears and neck along when the head turns, while the border of the warped
region stays put so the background joins seamlessly.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from synthvid.face import landmarks as L
from synthvid.face.canonical import canonical_face
from synthvid.face.pose import HeadPose, frontalize
from synthvid.reenact.eyes import move_lids, rigid_eyes
from synthvid.reenact.layers import StillBackground
from synthvid.reenact.mouth import paint_interior
from synthvid.reenact.transfer import place
from synthvid.reenact.warp import piecewise_affine_map, region_of
from synthvid.types import Frame

RING_SCALE = 1.5  # head ring: the face outline grown this much around the face centre
RING_MARGIN = 0.35  # the warped region extends this far (x the ring's size) beyond the ring
PARALLAX_DEPTH = 0.45  # canonical depth behind the eyes beyond which 3-D parallax is no longer rendered


@functools.lru_cache(maxsize=1)
def head_ring() -> np.ndarray:
    """Points around the head in canonical space (the face outline grown by :data:`RING_SCALE`), K x 3."""
    c = canonical_face()
    oval = c[list(L.FACE_OVAL)].astype(np.float64)
    center = oval.mean(0)
    ring = center + RING_SCALE * (oval - center)
    ring[:, 2] = oval[:, 2]
    ring.setflags(write=False)
    return ring


@dataclasses.dataclass
class Rendered:
    frame: Frame
    landmarks: np.ndarray  # the new 478 x 3 landmarks, pixels


def rerender(image: Frame, landmarks: np.ndarray, pose: HeadPose, new_frontal: np.ndarray, new_pose: HeadPose,
             mouth: str = "paint", step: int = 4, still: StillBackground | None = None) -> Rendered:
    """Warp the face of ``image`` (with ``landmarks`` and ``pose``) to the frontal face ``new_frontal`` posed by
    ``new_pose``.

    Args:
        mouth: "paint" to synthesise the interior of an opened mouth (:func:`paint_interior`), "warp" to keep the
            warped original (when the original mouth is open itself), "none" to leave the gap for the caller.
        still: keeps the background still (:class:`StillBackground`): the head's motion fades out in a band
            around the person; without it the warp bends the background all around a moving head.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    new = place(new_frontal, new_pose)
    moved = not (np.allclose(pose.rotation, new_pose.rotation, atol=1e-4)
                 and np.allclose(pose.translation, new_pose.translation, atol=1e-2)
                 and abs(pose.scale - new_pose.scale) < 1e-3)
    ring_src = place(head_ring(), pose)[:, :2]
    frontal = frontalize(pts, pose).astype(np.float64)
    if moved:
        ring_dst = place(head_ring(), new_pose)[:, :2]
        posed = place(frontal, new_pose)[:, :2]  # the face as it is, in the new pose
        smooth = _smooth_pose_motion(pts[:, :2], posed - pts[:, :2], ring_src, ring_dst - ring_src, frontal[:, 2])
        motion = pts[:, :2] + smooth - posed  # expression change + smoothed head motion
    else:
        ring_dst, motion = ring_src, 0.0
    dst_face = new[:, :2].astype(np.float64) + motion
    # The warp moves each eye as a whole (in the frontal face, so it still turns with the head); the lids move
    # after it, at pixel precision.
    shown = place(rigid_eyes(frontal, new_frontal), new_pose)[:, :2].astype(np.float64) + motion
    s = np.concatenate([pts[:, :2], ring_src])
    d = np.concatenate([shown, ring_dst])
    box = region_of(np.concatenate([ring_src, ring_dst]), image.shape[:2], margin=RING_MARGIN)
    warp = piecewise_affine_map(s, d, image.shape[:2], box, step)
    if still is not None and moved:
        warp = still.restrict(warp)
    out = warp.apply(image)
    out = move_lids(out, shown, dst_face)
    new = np.concatenate([dst_face, new[:, 2:]], 1).astype(np.float32)
    if mouth == "paint":
        out = paint_interior(out, new)
    return Rendered(out, new)


def _smooth_pose_motion(face: np.ndarray, motion: np.ndarray, ring: np.ndarray, ring_motion: np.ndarray,
                        depth: np.ndarray) -> np.ndarray:
    """Head-motion displacement of the face points without fold-overs at the silhouette.

    A rotated 3-D face moves its points by depth-dependent amounts; near the silhouette neighbouring points cross
    and a 2-D warp folds. The motion is split into a smooth part (a quadratic field fitted to face and ring) and
    the remaining parallax, which is kept on the front of the face (nose, eyes, mouth) and faded out toward the
    silhouette.
    """
    pos = np.concatenate([face, ring])
    mot = np.concatenate([motion, ring_motion])
    c, s = pos.mean(0), max(float(pos.std()), 1e-6)
    def feats(p: np.ndarray) -> np.ndarray:
        x, y = ((p - c) / s).T
        return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], 1)
    coef, *_ = np.linalg.lstsq(feats(pos), mot, rcond=None)
    fit = feats(face) @ coef
    keep = np.clip((PARALLAX_DEPTH - depth) / PARALLAX_DEPTH, 0, 1)[:, None]
    return fit + keep * (motion - fit)


def mouth_mode(landmarks: np.ndarray) -> str:
    """How to fill the mouth when animating a photo: paint it, unless the photo's own mouth shows its interior."""
    return "warp" if L.mouth_opening(landmarks) > 0.15 else "paint"
