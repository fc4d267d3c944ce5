"""Build synthvid's canonical 3-D face (478 MediaPipe points) from real faces, and write it into the package.

MediaPipe 0.10.21's wheel does not carry its canonical face model, so synthvid makes its own: MediaPipe 3-D
landmarks from many frames of several people are aligned by generalised Procrustes analysis (3-D similarity),
averaged, made left-right symmetric, turned to face the camera (x: subject's right to left, y: down, z: away from
the camera), centred on the point midway between the eyes and scaled so the outer eye corners are 1 unit apart.

    python scripts/build_canonical_face.py VIDEO_OR_IMAGE... [-o src/synthvid/data/canonical_face.npz]

The committed file was built from the talking-head clips and portraits in ../shared/media (see the npz's
``sources``); any set of frontal-ish faces of several people gives nearly the same shape.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from synthvid.face import landmarks as L
from synthvid.face.detect import FaceDetector
from synthvid.face.geometry import umeyama
from synthvid.io.image import read_image
from synthvid.io.video import VideoReader


def collect(paths: list[str], every: int) -> tuple[list[np.ndarray], list[str]]:
    shapes, used = [], []
    for path in paths:
        before = len(shapes)
        if Path(path).suffix.lower() in (".jpg", ".jpeg", ".png"):
            with FaceDetector(max_faces=1, video=False) as det:
                faces = det.detect(read_image(path))
            shapes += [f.landmarks for f in faces]
        else:
            with FaceDetector(max_faces=1, video=True) as det, VideoReader(path) as reader:
                for i, frame in enumerate(reader):
                    if i % every == 0:
                        faces = det.detect(frame)
                        shapes += [f.landmarks for f in faces[:1]]
                    else:
                        det.detect(frame)  # keep tracking warm
        if len(shapes) > before:
            used.append(Path(path).name)
        print(f"{Path(path).name}: {len(shapes) - before} faces", file=sys.stderr)
    return shapes, used


def procrustes_mean(shapes: np.ndarray, iterations: int = 10) -> np.ndarray:
    mean = shapes[0].copy()
    for _ in range(iterations):
        aligned = []
        for s in shapes:
            k, rot, t = umeyama(s, mean)
            aligned.append(k * s @ rot.T + t)
        new = np.mean(aligned, axis=0)
        new -= new.mean(0)
        new /= np.sqrt((new ** 2).sum(1).mean())
        mean = new
    return mean


def orient(mean: np.ndarray) -> np.ndarray:
    """Rotate so the face looks down -z with x from the subject's right to left and y from forehead to chin."""
    right = np.array([a for a, _ in L.SYMMETRIC_PAIRS])
    left = np.array([b for _, b in L.SYMMETRIC_PAIRS])
    x = (mean[left] - mean[right]).mean(0)
    x /= np.linalg.norm(x)
    y = mean[L.CHIN] - mean[L.FOREHEAD]
    y -= x * (y @ x)
    y /= np.linalg.norm(y)
    z = np.cross(x, y)
    rot = np.stack([x, y, z])  # rows are the new axes
    return mean @ rot.T


def symmetrize(points: np.ndarray) -> np.ndarray:
    """Average each point with the mirror image of its nearest mirrored partner (x -> -x about the mid-plane)."""
    centre_x = np.mean([(points[a, 0] + points[b, 0]) / 2 for a, b in L.SYMMETRIC_PAIRS])
    p = points.copy()
    p[:, 0] -= centre_x
    mirrored = p * np.array([-1.0, 1.0, 1.0])
    d = ((p[:, None, :] - mirrored[None, :, :]) ** 2).sum(-1)
    partner = d.argmin(1)
    return (p + mirrored[partner]) / 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("-o", "--output", default="src/synthvid/data/canonical_face.npz")
    ap.add_argument("--every", type=int, default=15, help="use every N-th frame of videos")
    args = ap.parse_args()
    shapes, used = collect(args.inputs, args.every)
    if len(shapes) < 10:
        sys.exit(f"need at least 10 faces, found {len(shapes)}")
    arr = np.stack(shapes).astype(np.float64)
    mean = symmetrize(orient(procrustes_mean(arr)))
    mid_eyes = (mean[L.RIGHT_EYE_OUTER] + mean[L.LEFT_EYE_OUTER] + mean[L.RIGHT_EYE_INNER] + mean[L.LEFT_EYE_INNER]) / 4
    mean -= mid_eyes
    mean /= np.linalg.norm(mean[L.LEFT_EYE_OUTER] - mean[L.RIGHT_EYE_OUTER])
    np.savez(args.output, points=mean.astype(np.float32), faces=np.int64(len(shapes)), sources=np.array(used))
    print(f"wrote {args.output} from {len(shapes)} faces of {len(used)} files", file=sys.stderr)


if __name__ == "__main__":
    main()
