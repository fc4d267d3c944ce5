"""Self-blended images (SBI, Shiohara & Yamasaki 2022): fake faces made from one real face, for training a
detector without any fake dataset.

A face crop is blended with a slightly altered copy of itself (colour shift, blur or sharpening, a small resize
and shift) through a deformed, feathered face mask. Identity and expression stay the same, so the only things
that tell the result from the original are the artefacts every face swap, reenactment and lip sync leaves where
it pastes a generated face: a blending boundary, a colour mismatch, a change of sharpness, a slight misfit of
shapes. The blend's boundary map ``4 m (1 - m)`` (Face X-ray) is the target of the detector's heat-map head.

Both real and blended crops then go through the same augmentation (flip, a global change of colour, exposure and
sharpness, JPEG, down-up scaling, noise), so the look of a recording (its colour grading, exposure, compression and
resolution) cannot separate the classes: only the blend's local mismatch can.
"""

from __future__ import annotations

import cv2
import numpy as np

from synthvid.errors import InputError
from synthvid.face import landmarks as L

# mask shapes: the whole face (swap, reenactment), the inner face (eyes to mouth), the lower face (lip sync)
_INNER = L.RIGHT_EYEBROW + L.LEFT_EYEBROW + L.LIPS_OUTER + (234, 454, 93, 323, 132, 361, 58, 288, 172, 397)
_LOWER = L.LIPS_OUTER + L.NOSE + (132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361)
REGIONS = ((tuple(L.FACE_OVAL), 0.6), (_INNER, 0.25), (_LOWER, 0.15))
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)


def _check(face: np.ndarray, points: np.ndarray) -> None:
    if face.ndim != 3 or face.shape[2] != 3 or face.dtype != np.uint8 or face.shape[0] != face.shape[1]:
        raise InputError(f"self_blend needs a square uint8 H x W x 3 crop, got {face.dtype} {face.shape}")
    if points.ndim != 2 or points.shape[0] < L.NUM_LANDMARKS - 10 or points.shape[1] < 2:
        raise InputError(f"self_blend needs the 478 landmarks in crop pixels, got {points.shape}")


def blend_mask(points: np.ndarray, size: int, rng: np.random.Generator, face_inset: float = 0.0) -> np.ndarray:
    """A random, deformed, feathered face-region mask: float32 size x size in [0, 1].

    ``face_inset`` (a share of ``size``) moves the whole-face mask's edge inwards, off the face outline and the
    hairline, where every real face has strong natural edges of its own (detectors trained with the edge there
    took hairlines and jaw shadows of unseen people for blends: docs/provenance.md)."""
    k = rng.choice(len(REGIONS), p=[p for _, p in REGIONS])
    hull = cv2.convexHull(np.ascontiguousarray(points[list(REGIONS[k][0]), :2], dtype=np.float32))
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, np.round(hull.reshape(-1, 2) * 4).astype(np.int32), 255, lineType=cv2.LINE_AA, shift=2)
    m = mask.astype(np.float32) / 255.0
    # smooth elastic deformation: masks of real tools follow landmarks only roughly
    amp = size * rng.uniform(0.01, 0.04)
    grid = rng.normal(0.0, 1.0, (2, 5, 5)).astype(np.float32)
    flow = [cv2.resize(g, (size, size), interpolation=cv2.INTER_CUBIC) * amp for g in grid]
    xs, ys = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))
    m = cv2.remap(m, xs + flow[0], ys + flow[1], cv2.INTER_LINEAR, borderValue=0)
    grow = int(round(size * (rng.uniform(-0.04, 0.02) - (face_inset if k == 0 else 0.0))))
    if grow:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(grow) + 1, 2 * abs(grow) + 1))
        m = cv2.dilate(m, kernel) if grow > 0 else cv2.erode(m, kernel)
    for _ in range(2):  # two blurs of random width: from hard edges to wide feathering
        sigma = size * rng.uniform(0.002, 0.03)
        if sigma > 0.3:
            m = cv2.GaussianBlur(m, (0, 0), sigma)
    return np.clip(m, 0.0, 1.0)


def alter_copy(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The face with a colour shift, a change of sharpness and a small resize/shift (the 'source' of the blend)."""
    size = face.shape[0]
    x = face.astype(np.float32)
    x = x * rng.uniform(0.9, 1.1) + rng.uniform(-12, 12)  # contrast, brightness
    x = x + rng.uniform(-14, 14, 3)  # per-channel shift: a colour mismatch
    if rng.random() < 0.3:
        x = saturate(x, rng.uniform(0.8, 1.2))
    x = np.clip(x, 0, 255)
    kind = rng.integers(3)
    if kind == 0:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 1.5))
    elif kind == 1:
        x = np.clip(sharpen(x, rng.uniform(0.3, 1.0)), 0, 255)
    else:
        s = rng.uniform(0.4, 0.8)
        small = cv2.resize(x, (max(8, int(size * s)),) * 2, interpolation=cv2.INTER_AREA)
        x = cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)
    sx, sy = rng.uniform(0.95, 1.05, 2)
    tx, ty = rng.uniform(-0.03, 0.03, 2) * size
    c = size / 2
    m = np.array([[sx, 0, c - sx * c + tx], [0, sy, c - sy * c + ty]], np.float32)
    x = cv2.warpAffine(x, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    return x


def self_blend(face: np.ndarray, points: np.ndarray, rng: np.random.Generator,
               face_inset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Blend a face crop with an altered copy of itself.

    Args:
        face: uint8 S x S x 3 aligned face crop.
        points: 478 x 2 (or x 3) landmarks in crop pixels.
        rng: random source.
        face_inset: how far inside the face outline the whole-face mask's edge lies (share of S; see blend_mask).

    Returns:
        (blended uint8 S x S x 3, blend weights float32 S x S in [0, 1]: 0 = original, 1 = altered copy).
    """
    _check(face, points)
    size = face.shape[0]
    m = blend_mask(points, size, rng, face_inset) * float(rng.choice(BLEND_RATIOS))
    src = alter_copy(face, rng)
    out = src * m[..., None] + face.astype(np.float32) * (1.0 - m[..., None])
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), m.astype(np.float32)


def add_glasses(face: np.ndarray, points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw a random pair of glasses on a face crop: two rims around the eyes, a bridge, temples towards the ears,
    sometimes tinted lenses and a reflection.

    Applied to a real crop before its self-blended fake is made (so both carry them), it teaches the detector that
    the sharp, dark edges of glasses across the face are not a blending boundary: few of the training people wear
    glasses, and a detector trained without this took a held-out real clip of a woman in glasses for a fake
    (0.47-0.83 where the other real clips scored 0.04-0.21)."""
    _check(face, points)
    size = face.shape[0]
    x = face.astype(np.float32)
    centres = [points[list(L.RIGHT_EYE), :2].mean(0), points[list(L.LEFT_EYE), :2].mean(0)]
    d = float(np.linalg.norm(centres[1] - centres[0]))
    along = ((centres[1] - centres[0]) / max(d, 1e-6)).astype(np.float32)  # unit vector along the eye line
    normal = np.array([-along[1], along[0]], np.float32)  # pointing down the face
    angle = float(np.degrees(np.arctan2(along[1], along[0])))
    a = d * rng.uniform(0.36, 0.48)
    b = a * rng.uniform(0.55, 0.9)
    drop = d * rng.uniform(-0.02, 0.12)  # lenses sit at or a little below the eyes
    centres = [c + drop * normal for c in centres]
    thick = max(1, int(round(d * rng.uniform(0.015, 0.07))))
    colour = (np.full(3, rng.uniform(10, 70)) if rng.random() < 0.6 else rng.uniform(20, 220, 3)).astype(np.float32)
    rim = np.zeros((size, size), np.uint8)
    lens = np.zeros((size, size), np.uint8)
    sub = 4  # sub-pixel drawing (shift=2)

    def pt(v: np.ndarray) -> tuple[int, int]:
        return int(round(v[0] * sub)), int(round(v[1] * sub))

    axes = (int(round(a * sub)), int(round(b * sub)))
    for c in centres:
        cv2.ellipse(rim, pt(c), axes, angle, 0, 360, 255, thick, cv2.LINE_AA, shift=2)
        cv2.ellipse(lens, pt(c), axes, angle, 0, 360, 255, -1, cv2.LINE_AA, shift=2)
    inner = [centres[0] + a * along, centres[1] - a * along]
    cv2.line(rim, pt(inner[0] - 0.1 * b * normal), pt(inner[1] - 0.1 * b * normal), 255, thick, cv2.LINE_AA, shift=2)
    for c, side, ear in ((centres[0], -1.0, 234), (centres[1], 1.0, 454)):  # temples towards the face's edges
        start = c + side * a * along
        end = points[ear, :2] - 0.05 * d * normal
        cv2.line(rim, pt(start), pt(end), 255, max(1, thick - 1), cv2.LINE_AA, shift=2)
    lens_w = lens.astype(np.float32)[..., None] / 255.0
    if rng.random() < 0.35:  # tinted lenses
        x = x * (1 - lens_w) + x * rng.uniform(0.7, 1.0, 3).astype(np.float32) * lens_w
    if rng.random() < 0.3:  # a soft reflection on one lens
        glare = np.zeros((size, size), np.float32)
        c = centres[int(rng.integers(2))] + rng.uniform(-0.4, 0.4, 2).astype(np.float32) * a
        cv2.ellipse(glare, (int(c[0]), int(c[1])), (max(1, int(a * 0.5)), max(1, int(b * 0.25))),
                    angle + rng.uniform(-40, 40), 0, 360, 1.0, -1)
        glare = cv2.GaussianBlur(glare, (0, 0), max(0.5, a * 0.15)) * (lens_w[..., 0] * rng.uniform(0.15, 0.4))
        x = x * (1 - glare[..., None]) + 255.0 * glare[..., None]
    w = rim.astype(np.float32)[..., None] / 255.0
    ramp = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    tilt = rng.uniform(-0.25, 0.25, 2).astype(np.float32)
    shine = 1.0 + tilt[0] * ramp[None, :] + tilt[1] * ramp[:, None]  # light falls unevenly along the frame
    shade = colour * shine[..., None]
    x = x * (1 - w) + shade * w
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def boundary_map(m: np.ndarray, side: int) -> np.ndarray:
    """Face X-ray target: ``4 m (1 - m)`` of the blend mask, area-averaged to side x side, float32 in [0, 1].

    ``m`` is taken relative to its peak (a half-strength blend has the same boundary as a full one, at half the
    strength), so the target marks the blend's edge, not its inside."""
    peak = float(m.max()) if m.size else 0.0
    if peak <= 0:
        return np.zeros((side, side), np.float32)
    u = m / peak
    b = 4.0 * u * (1.0 - u) * peak
    return np.clip(cv2.resize(b.astype(np.float32), (side, side), interpolation=cv2.INTER_AREA), 0.0, 1.0)


def saturate(x: np.ndarray, factor: float) -> np.ndarray:
    """Colour saturation of float RGB pixels scaled by ``factor`` around each pixel's grey."""
    grey = x.mean(2, keepdims=True)
    return grey + (x - grey) * factor


def sharpen(x: np.ndarray, amount: float) -> np.ndarray:
    """Unsharp masking of a float image (1-px Gaussian)."""
    return x + amount * (x - cv2.GaussianBlur(x, (0, 0), 1.0))


# Fixed global edits of a crop's look, for measuring how much a detector's score depends on it (float RGB -> float)
LOOK_EDITS = {
    "saturation_0.6": lambda x: saturate(x, 0.6),
    "saturation_1.4": lambda x: saturate(x, 1.4),
    "gamma_0.7": lambda x: 255.0 * (x / 255.0) ** 0.7,
    "gamma_1.4": lambda x: 255.0 * (x / 255.0) ** 1.4,
    "warmer": lambda x: x + np.array([15.0, 0.0, -15.0], np.float32),
    "cooler": lambda x: x + np.array([-15.0, 0.0, 15.0], np.float32),
}


def edit_look(face: np.ndarray, name: str) -> np.ndarray:
    """``face`` (uint8 RGB) with the global edit :data:`LOOK_EDITS` ``[name]``, as uint8."""
    return np.clip(LOOK_EDITS[name](face.astype(np.float32)) + 0.5, 0, 255).astype(np.uint8)


def restyle(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A global change of the whole crop's look, as cameras, lighting and colour grading differ between recordings:
    exposure, contrast, gamma, saturation, white balance, and softness or sharpening. Applied alike to real and fake
    crops, it keeps a detector from taking a recording's colour or sharpness for a sign of manipulation (without it,
    the first shipped detector's score of one real clip went from 0.64 to 0.02 at gamma 0.7 and to 1.00 at 1.4x
    saturation)."""
    x = face.astype(np.float32)
    if rng.random() < 0.8:
        x = x * rng.uniform(0.75, 1.3) + rng.uniform(-25, 25)  # contrast, exposure
        x = 255.0 * (np.clip(x, 0, 255) / 255.0) ** rng.uniform(0.7, 1.45)  # gamma
        x = saturate(x, rng.uniform(0.5, 1.5))
        x = x * rng.uniform(0.85, 1.15, 3)  # white balance
    kind = rng.random()
    if kind < 0.2:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.4, 1.2))
    elif kind < 0.35:
        x = sharpen(x, rng.uniform(0.2, 0.8))
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def degrade(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What happens to any face on its way to a viewer: a recording's own look (:func:`restyle`), resampling, JPEG,
    noise (applied to both classes)."""
    x = restyle(face, rng)
    size = x.shape[0]
    if rng.random() < 0.3:
        s = rng.uniform(0.5, 0.9)
        small = cv2.resize(x, (max(8, int(size * s)),) * 2, interpolation=cv2.INTER_AREA)
        x = cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        ok, buf = cv2.imencode(".jpg", x[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 96))])
        if ok:
            x = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    if rng.random() < 0.2:
        x = np.clip(x.astype(np.float32) + rng.normal(0, rng.uniform(1, 4), x.shape), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(x)
