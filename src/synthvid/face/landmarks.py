"""MediaPipe 478-point face-mesh topology: named index sets, simple shape measures, and temporal smoothing.

"Right"/"left" are the subject's own (the subject's right eye is on the image's left in a frontal, unmirrored view).
The contours were read off ``mediapipe.solutions.face_mesh_connections`` (0.10.21) and ordered into closed loops.
"""

from __future__ import annotations

import numpy as np

from synthvid.types import Landmarks, check_landmarks

NUM_LANDMARKS = 478  # 468 mesh points + 2 x 5 iris points (refine_landmarks=True)

FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176,
             149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)

RIGHT_EYE = (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7)
LEFT_EYE = (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249)
RIGHT_EYEBROW = (46, 53, 52, 65, 55, 107, 66, 105, 63, 70)
LEFT_EYEBROW = (276, 283, 282, 295, 285, 336, 296, 334, 293, 300)
RIGHT_IRIS = (469, 470, 471, 472)
LEFT_IRIS = (474, 475, 476, 477)
RIGHT_IRIS_CENTER = 468
LEFT_IRIS_CENTER = 473

LIPS_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)
LIPS_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
NOSE = (168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 98, 97, 326, 327, 294, 278, 344, 440, 275, 45, 220, 115, 48, 64)

# Named single points.
RIGHT_EYE_OUTER, RIGHT_EYE_INNER = 33, 133
LEFT_EYE_OUTER, LEFT_EYE_INNER = 263, 362
RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM = 159, 145
LEFT_EYE_TOP, LEFT_EYE_BOTTOM = 386, 374
MOUTH_RIGHT, MOUTH_LEFT = 61, 291
LIP_INNER_TOP, LIP_INNER_BOTTOM = 13, 14
NOSE_TIP = 1
CHIN = 152
FOREHEAD = 10

# Points that move little with expression: used to align faces (eyes' corners and lids, brow ridge, nose, upper
# face outline). Lips, jaw and lower cheeks are left out so that an open mouth does not tilt the crop.
STABLE = tuple(sorted(set(RIGHT_EYE + LEFT_EYE + NOSE + (10, 338, 297, 332, 284, 251, 389, 356, 454, 109, 67, 103,
                                                          54, 21, 162, 127, 234, 9, 8, 151))))

# Left-right pairs used to build a symmetric canonical face (subject's right, subject's left).
SYMMETRIC_PAIRS = ((33, 263), (133, 362), (159, 386), (145, 374), (61, 291), (234, 454), (127, 356), (162, 389),
                   (21, 251), (54, 284), (103, 332), (67, 297), (109, 338), (172, 397), (136, 365), (150, 379),
                   (149, 378), (176, 400), (148, 377), (70, 300), (105, 334), (107, 336), (98, 327), (48, 278),
                   (468, 473))


def eye_centers(points: Landmarks) -> tuple[np.ndarray, np.ndarray]:
    """Centres (x, y) of the subject's right and left eye (iris centre when present, else mean of the eye contour)."""
    pts = check_landmarks(points)
    if len(pts) >= NUM_LANDMARKS:
        return pts[RIGHT_IRIS_CENTER, :2], pts[LEFT_IRIS_CENTER, :2]
    return pts[list(RIGHT_EYE), :2].mean(0), pts[list(LEFT_EYE), :2].mean(0)


def inter_ocular_distance(points: Landmarks) -> float:
    """Distance between the outer eye corners, in the landmarks' units (the usual normaliser for landmark errors)."""
    pts = check_landmarks(points)
    return float(np.linalg.norm(pts[RIGHT_EYE_OUTER, :2] - pts[LEFT_EYE_OUTER, :2]))


def mouth_opening(points: Landmarks) -> float:
    """Inner-lip gap divided by mouth width: 0 when closed, about 0.3-0.6 wide open. Scale and rotation free."""
    pts = check_landmarks(points)
    gap = np.linalg.norm(pts[[82, 13, 312], :2] - pts[[87, 14, 317], :2], axis=1).mean()
    width = np.linalg.norm(pts[MOUTH_RIGHT, :2] - pts[MOUTH_LEFT, :2])
    return float(gap / max(width, 1e-6))


# Per eye: upper-lid points, the lower-lid points facing them, outer and inner corner.
EYE_LIDS = {"right": ((160, 159, 158), (144, 145, 153), RIGHT_EYE_OUTER, RIGHT_EYE_INNER),
            "left": ((385, 386, 387), (380, 374, 373), LEFT_EYE_OUTER, LEFT_EYE_INNER)}


def eye_size(points: np.ndarray, side: str) -> tuple[float, float]:
    """(corner-to-corner width, mean lid gap) of the subject's ``side`` ("right"/"left") eye, in the points' units."""
    top, bottom, outer, inner = EYE_LIDS[side]
    pts = np.asarray(points)
    gap = float(np.linalg.norm(pts[list(top), :2] - pts[list(bottom), :2], axis=1).mean())
    return float(np.linalg.norm(pts[outer, :2] - pts[inner, :2])), gap


def eye_aspect(points: np.ndarray, side: str) -> float:
    """Lid gap divided by eye width of the subject's ``side`` eye (its eye aspect ratio)."""
    width, gap = eye_size(points, side)
    return gap / max(width, 1e-6)


def eye_opening(points: Landmarks) -> float:
    """Mean over both eyes of lid gap divided by eye width (eye aspect ratio): about 0.25-0.35 open, < 0.1 shut."""
    pts = check_landmarks(points)
    return float(np.mean([eye_aspect(pts, side) for side in EYE_LIDS]))


class OneEuroFilter:
    """One Euro filter (Casiez et al., CHI 2012) over arrays of any shape, e.g. 478 x 3 landmarks.

    A low-pass filter whose cut-off rises with speed: still faces are smoothed hard (no crop jitter), fast motion
    passes with little lag. Set ``min_cutoff`` lower for more smoothing at rest, ``beta`` higher for less lag.

    Args:
        fps: frame rate of the samples.
        min_cutoff: cut-off frequency at rest, in Hz.
        beta: how fast the cut-off rises with speed (per unit of the values' scale, e.g. per pixel/s).
        d_cutoff: cut-off for the speed estimate, in Hz.
    """

    def __init__(self, fps: float, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0) -> None:
        if fps <= 0 or min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError("fps, min_cutoff and d_cutoff must be positive and beta non-negative")
        self.dt = 1.0 / fps
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def _alpha(self, cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau / self.dt)

    def reset(self) -> None:
        self._x = None
        self._dx = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._x.shape != x.shape:
            self._x, self._dx = x.copy(), np.zeros_like(x)
            return x.astype(np.float32)
        dx = (x - self._x) / self.dt
        a_d = self._alpha(self.d_cutoff)
        self._dx = a_d * dx + (1 - a_d) * self._dx
        a = self._alpha(self.min_cutoff + self.beta * np.abs(self._dx))
        self._x = a * x + (1 - a) * self._x
        return self._x.astype(np.float32)


def smooth_sequence(frames: np.ndarray, fps: float, min_cutoff: float = 1.0, beta: float = 0.05) -> np.ndarray:
    """Apply :class:`OneEuroFilter` along axis 0 of a T x ... array (offline convenience)."""
    f = OneEuroFilter(fps, min_cutoff, beta)
    return np.stack([f(x) for x in frames]) if len(frames) else np.asarray(frames, dtype=np.float32)
