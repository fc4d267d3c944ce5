"""Blinks at pixel precision: the eyelids get their own remap.

The face warp (:mod:`synthvid.reenact.warp`) is exact only at grid nodes a few pixels apart and smooth in between.
A lid that travels the whole height of an open eye (a dozen pixels in a portrait) is smeared by it: the eyeball
stays visible behind a half-lowered lid, and a blink reads as a squint. So the face warp moves each eye only as a
whole (:func:`rigid_eyes`: a similarity through its two corners, the lids keeping the shape they have in the
picture), and :func:`move_lids` then moves the lids themselves. In the eye's own frame (x along the corners, y
across) every column is remapped piecewise-linearly: the upper lid line goes from where the face warp left it to
where the new landmarks put it, the skin above it stretching down over the eye as a real lid does, and the lower lid
likewise, while the band's top and bottom edges stay put. A closing eye shows lid skin and lashes, not a squashed
eyeball; an eye opening wider than in the picture shows more of the eyeball's own pixels.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from synthvid.face import landmarks as L
from synthvid.face.canonical import canonical_face
from synthvid.types import Frame

EYE_RADIUS = 0.42  # canonical units: points this close to an eye's centre belong to that eye
SKIN_ABOVE = 0.3  # x eye width: band of skin above the upper lid that stretches or folds with it
SKIN_BELOW = 0.2  # x eye width: the same below the lower lid
LASH_OFFSET = 0.04  # x eye width: a fully closed lid's edge is taken from this far above the shown lid line
LASH_BAND = 0.08  # x eye width: band above the lid edge (lashes, eyeliner) that moves with it unstretched
SMOOTH_LID = 0.12  # x eye width: smoothing along the eye of lid skin stretched over a closing eye
LASH_DARKEN = 0.5  # a shut eye's lash line: the luma along the closed lid edge falls by up to this share
LASH_LINE = 0.05  # x eye width: the width (Gaussian sigma) of that darkening across the lid edge
MIN_CHANGE = 0.3  # pixels: lids that move less than this are left as the face warp put them
MAX_IRIS_SHIFT = (0.2, 0.15)  # iris shift limits (x eye width, along and across the eye) while the eye is rigid
RIGID_FADE = (0.2, 0.3)  # canonical units from the eye's centre: rigid within the first, own motion beyond the second
MAX_BAND = 2.0  # x eye width: a lid band taller than this means a tracking failure; that eye is left alone


@functools.lru_cache(maxsize=1)
def eye_sets() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(eye, lower, iris) over the 478 landmarks: which eye (0 right, 1 left, -1 none) each point moves with (brows
    excluded: they move with the forehead), whether it lies below the base of the nose, and whether it is an
    iris point."""
    c = canonical_face()
    centers = [c[list(L.RIGHT_EYE), :2].mean(0), c[list(L.LEFT_EYE), :2].mean(0)]
    d = np.stack([np.linalg.norm(c[:, :2] - ctr, axis=1) for ctr in centers])  # 2 x N
    eye = np.full(len(c), -1)
    for k in (0, 1):
        eye[(d[k] < EYE_RADIUS) & (d[k] <= d[1 - k])] = k
    brow = set(L.RIGHT_EYEBROW + L.LEFT_EYEBROW)
    eye[[i for i in brow if i < len(eye)]] = -1
    lower = c[:, 1] > c[2, 1]
    iris = np.zeros(len(c), dtype=bool)
    iris[[L.RIGHT_IRIS_CENTER, *L.RIGHT_IRIS, L.LEFT_IRIS_CENTER, *L.LEFT_IRIS]] = True
    for a in (eye, lower, iris):
        a.setflags(write=False)
    return eye, lower, iris


# Each eye contour runs outer corner, upper lid, inner corner (index 8), lower lid back toward the outer corner.
_EYES = ((L.RIGHT_EYE, L.RIGHT_IRIS_CENTER, (L.RIGHT_IRIS_CENTER, *L.RIGHT_IRIS)),
         (L.LEFT_EYE, L.LEFT_IRIS_CENTER, (L.LEFT_IRIS_CENTER, *L.LEFT_IRIS)))


def _upper(contour: np.ndarray) -> np.ndarray:
    return contour[0:9]


def _lower(contour: np.ndarray) -> np.ndarray:
    return np.concatenate([contour[8:], contour[:1]])


def _similarity(c0: np.ndarray, c1: np.ndarray, d0: np.ndarray, d1: np.ndarray):
    """The similarity taking points c0, c1 to d0, d1, as a function of N x 2 arrays."""
    cs, ds = complex(*(c1 - c0)), complex(*(d1 - d0))
    a = ds / cs if abs(cs) > 1e-6 else 1.0 + 0j

    def f(p: np.ndarray) -> np.ndarray:
        z = (p[:, 0] - c0[0]) + 1j * (p[:, 1] - c0[1])
        w = a * z
        return np.stack([w.real + d0[0], w.imag + d0[1]], 1)
    return f


@functools.lru_cache(maxsize=1)
def _rigid_weights() -> np.ndarray:
    """(2, N): how much each point moves with its eye as a whole rather than with the expression: 1 on and around
    the lids (within the remap band), fading to 0 by :data:`RIGID_FADE` (brow, cheek and nose points keep their
    own motion)."""
    c = canonical_face()
    eye, _, iris = eye_sets()
    w = np.zeros((2, len(c)))
    for k, contour in enumerate((L.RIGHT_EYE, L.LEFT_EYE)):
        d = np.linalg.norm(c[:, :2] - c[list(contour), :2].mean(0), axis=1)
        lo, hi = RIGID_FADE
        w[k] = np.clip((hi - d) / (hi - lo), 0, 1) * ((eye == k) & ~iris)
    w.setflags(write=False)
    return w


def rigid_eyes(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``dst`` (478 x 2 or x 3 landmarks) with each eye moved as a whole from ``src``.

    Points on and around the lids follow the similarity (in x, y) through the eye's corners and the corners' mean
    depth change (fading back to their own motion further out, :func:`_rigid_weights`); the corners stay exactly
    where ``dst`` puts them; the iris keeps its shape and moves by the new landmarks' iris shift (gaze), limited so
    it stays inside the eye the picture shows. Used on frontal landmarks, so that the head pose then foreshortens
    the eye as it should.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    out = dst.copy()
    weights = _rigid_weights()
    for k, (contour, center, iris_pts) in enumerate(_EYES):
        corners = [contour[0], contour[8]]
        c0, c1 = src[corners[0], :2], src[corners[1], :2]
        d0, d1 = dst[corners[0], :2], dst[corners[1], :2]
        f = _similarity(c0, c1, d0, d1)
        region = np.flatnonzero(weights[k] > 0)
        w = weights[k][region][:, None]
        width = float(np.linalg.norm(d1 - d0))
        axis = (d1 - d0) / max(width, 1e-6)
        across = np.array([-axis[1], axis[0]])
        shift = dst[center, :2] - f(src[center: center + 1, :2])[0]
        along_limit, across_limit = (m * width for m in MAX_IRIS_SHIFT)
        shift = (np.clip(shift @ axis, -along_limit, along_limit) * axis
                 + np.clip(shift @ across, -across_limit, across_limit) * across)
        idx = list(iris_pts)
        if out.shape[1] > 2:
            dz = float(np.mean(dst[corners, 2] - src[corners, 2]))
            out[region, 2] = w[:, 0] * (src[region, 2] + dz) + (1 - w[:, 0]) * dst[region, 2]
            out[idx, 2] = src[idx, 2] + dz
        out[region, :2] = w * f(src[region, :2]) + (1 - w) * dst[region, :2]
        out[idx, :2] = f(src[idx, :2]) + shift
        out[corners] = dst[corners]
    return out


def move_lids(image: Frame, shown: np.ndarray, wanted: np.ndarray) -> Frame:
    """Move the lids of both eyes from where the picture shows them (``shown``: 478 x 2+ pixels) to ``wanted``.
    Returns ``image`` itself when no lid moves, else a new frame (one copy for both eyes)."""
    out = image
    for contour, _, _ in _EYES:
        idx = list(contour)
        a, b = np.asarray(shown, np.float64)[idx, :2], np.asarray(wanted, np.float64)[idx, :2]
        if np.abs(a - b).max() >= MIN_CHANGE:
            if out is image:
                out = image.copy()
            _move_lid_pair(image, out, a, b)
    return out


def _curve(points: np.ndarray, origin: np.ndarray, axis: np.ndarray, across: np.ndarray) -> tuple[np.ndarray, ...]:
    rel = points - origin
    u, v = rel @ axis, rel @ across
    order = np.argsort(u, kind="stable")
    return u[order], v[order]


def _move_lid_pair(image: Frame, out: Frame, shown: np.ndarray, wanted: np.ndarray) -> None:
    """Remap one eye from ``image`` into ``out`` (16-point contours: where its lids are in ``image`` and where they
    must go; both with the same two corners). Leaves ``out`` alone for an implausible or degenerate eye."""
    origin, inner = wanted[0], wanted[8]
    width = float(np.linalg.norm(inner - origin))
    if width < 2:
        return
    axis = (inner - origin) / width
    across = np.array([-axis[1], axis[0]])
    # "across" points from the upper lid to the lower one (judged on the picture's eye, which is open if either is)
    opened = shown if np.ptp(shown @ across) >= np.ptp(wanted @ across) else wanted
    if (_lower(opened).mean(0) - _upper(opened).mean(0)) @ across < 0:
        across = -across
    curves = [_curve(f(c), origin, axis, across) for c in (shown, wanted) for f in (_upper, _lower)]
    (su_u, su_v), (sl_u, sl_v), (wu_u, wu_v), (wl_u, wl_v) = curves
    top = min(su_v.min(), wu_v.min()) - SKIN_ABOVE * width
    bottom = max(sl_v.max(), wl_v.max()) + SKIN_BELOW * width
    if bottom - top > MAX_BAND * width:
        return
    # The band spans the eye from corner to corner (u = 0 .. width), where shown and wanted lines meet, so its
    # edges are the identity; np.interp holds a curve's end values for lid points that project past a corner.
    corners = origin + np.array([[u, v] for u in (0.0, width) for v in (top, bottom)]) @ np.stack([axis, across])
    h, w = image.shape[:2]
    x0, y0 = np.floor(corners.min(0)).astype(int) - 1
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
    rel = np.stack([gx - origin[0], gy - origin[1]], -1)
    u, v = rel @ axis, rel @ across
    inside = (u > 0) & (u < width) & (v > top) & (v < bottom)
    wt, wb = np.interp(u, wu_u, wu_v), np.interp(u, wl_u, wl_v)
    st, sb = np.interp(u, su_u, su_v), np.interp(u, sl_u, sl_v)
    mid = (wt + wb) / 2
    wt, wb = np.minimum(wt, mid), np.maximum(wb, mid)  # lids that would cross meet instead
    sb = np.maximum(sb, st)
    wt, wb = np.clip(wt, top + 0.5, bottom - 0.5), np.clip(wb, top + 0.5, bottom - 0.5)
    # A closing lid brings its lashes down, not the top of the iris that the upper-lid landmarks often sit on:
    # its edge is taken from a little above the shown lid line, by as much as the eye closes, tapering to nothing
    # toward the corners (where the shown gap narrows) so the band's sides stay seamless.
    gap = sb - st
    closing = np.clip(1 - (wb - wt) / np.maximum(gap, 1e-6), 0, 1)
    taper = gap / max(float(gap[inside].max(initial=0.0)), 1e-6)
    st = st - LASH_OFFSET * width * closing * taper
    # The lashes and liner just above the lid edge move with it at their own size; only the skin above them
    # stretches (or folds). Stretched with the skin, a dark lash line became a tall dark band that reads (to an
    # eye and to a face tracker) as a half-open eye.
    lash = np.minimum(LASH_BAND * width, 0.5 * np.minimum(wt - top, st - top))
    in_lash = v >= wt - lash
    above = np.where(in_lash, st - (wt - v),
                     top + (v - top) * (st - lash - top) / np.maximum(wt - lash - top, 1e-6))
    between = st + (v - wt) * (sb - st) / np.maximum(wb - wt, 1e-6)
    below = sb + (v - wb) * (bottom - sb) / (bottom - wb)
    src_v = np.where(v < wt, above, np.where(v < wb, between, below))
    src_v = np.where(inside, src_v, v)
    sx = origin[0] + u * axis[0] + src_v * across[0]
    sy = origin[1] + u * axis[1] + src_v * across[1]
    roi = cv2.remap(image, sx.astype(np.float32), sy.astype(np.float32), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REFLECT)
    # Skin stretched down over a closing eye turns every lash and eyeliner stroke into a vertical streak: where the
    # lid is stretched, its texture is smoothed along the eye (more the more it is stretched).
    stretch = np.where(inside & (v < wt) & ~in_lash, (wt - lash - top) / np.maximum(st - lash - top, 1e-6), 1.0)
    weight = np.clip((stretch - 1.3) / 0.7, 0, 1)
    if weight.max() > 0:
        k = max(int(round(SMOOTH_LID * width)) | 1, 3)
        smooth = cv2.blur(roi, (k, 1), borderType=cv2.BORDER_REFLECT)
        roi = (roi * (1 - weight[..., None]) + smooth * weight[..., None]).round().astype(np.uint8)
    # Upper and lower lashes meet along a shut eye's lid edge in a dark line, which a face tracker (and a viewer)
    # reads as a closed eye; the remapped lid alone shows a thin, light edge and read as a narrow open eye
    # (MediaPipe: a shut render 0.12-0.17 of eye width open, a real shut eye 0.02-0.05). Darkened by the square of
    # how far the eye closes, so open and half-open eyes keep their own look.
    if LASH_DARKEN * float(closing[inside].max(initial=0.0)) ** 2 > 0.01:
        line = LASH_DARKEN * closing ** 2 * np.exp(-0.5 * ((v - wt) / (LASH_LINE * width)) ** 2) * inside
        roi = (roi * (1 - line[..., None])).round().astype(np.uint8)
    out[y0:y1, x0:x1] = roi
