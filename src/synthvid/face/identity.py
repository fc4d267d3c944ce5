"""Face identity: dlib's 128-D face descriptor (ResNet from face_recognition_models), clustering, and choosing
the wanted person.

Two faces of the same person usually lie within 0.6 of each other (Euclidean), different people beyond.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from synthvid.errors import InputError
from synthvid.face import landmarks as L
from synthvid.types import Frame, Landmarks, check_frame, check_landmarks

SAME_PERSON = 0.6  # dlib's usual decision threshold on descriptor distance
DIM = 128


@functools.lru_cache(maxsize=1)
def _models() -> tuple[Any, Any]:
    """dlib's 5-point shape predictor and face-recognition ResNet, loaded once, by path.

    ``face_recognition_models`` is located without importing it: its ``__init__`` imports ``pkg_resources``.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("face_recognition_models is not installed; run `make setup`")
    base = Path(list(spec.submodule_search_locations)[0]) / "models"
    shape_file = base / "shape_predictor_5_face_landmarks.dat"
    net_file = base / "dlib_face_recognition_resnet_model_v1.dat"
    for f in (shape_file, net_file):
        if not f.is_file():
            raise InputError(f"dlib model file missing: {f}; reinstall face_recognition_models")
    import dlib  # noqa: PLC0415 - heavy import, only when identity is needed

    return dlib.shape_predictor(str(shape_file)), dlib.face_recognition_model_v1(str(net_file))


def embed_face(frame: Frame, points: Landmarks) -> np.ndarray:
    """128-D identity descriptor (float32) of the face whose MediaPipe landmarks are ``points``."""
    check_frame(frame)
    pts = check_landmarks(points)
    import dlib  # noqa: PLC0415

    predictor, net = _models()
    # dlib's predictor expects a box like its HOG detector's: about the eyes-to-chin square.
    x0, y0 = pts[:, 0].min(), pts[list(L.RIGHT_EYEBROW + L.LEFT_EYEBROW), 1].min()
    x1, y1 = pts[:, 0].max(), pts[L.CHIN, 1]
    rect = dlib.rectangle(int(x0), int(y0), int(x1), int(y1))
    shape = predictor(np.ascontiguousarray(frame), rect)
    return np.asarray(net.compute_face_descriptor(np.ascontiguousarray(frame), shape), dtype=np.float32)


def mean_embedding(embeddings: np.ndarray) -> np.ndarray:
    """Mean of N x 128 descriptors (the identity's centre)."""
    e = np.asarray(embeddings, dtype=np.float32)
    if e.ndim != 2 or e.shape[1] != DIM or len(e) == 0:
        raise InputError(f"expected N x {DIM} face descriptors, got shape {e.shape}")
    return e.mean(0)


def distances(embeddings: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Euclidean distance of each N x 128 descriptor to one 128 reference."""
    return np.linalg.norm(np.asarray(embeddings, np.float32).reshape(-1, DIM) - np.asarray(reference, np.float32), axis=1)


def cluster_identities(embeddings: np.ndarray, threshold: float = SAME_PERSON * 0.9) -> np.ndarray:
    """Group descriptors into people (average-linkage clustering cut at ``threshold``); labels sorted by size.

    Label 0 is the most frequent person.
    """
    e = np.asarray(embeddings, dtype=np.float64)
    if len(e) == 0:
        return np.zeros(0, dtype=np.int64)
    if len(e) == 1:
        return np.zeros(1, dtype=np.int64)
    from scipy.cluster.hierarchy import fcluster, linkage  # noqa: PLC0415

    raw = fcluster(linkage(e, method="average"), t=threshold, criterion="distance")
    order = np.argsort(-np.bincount(raw))
    relabel = np.empty_like(order)
    relabel[order] = np.arange(len(order))
    return relabel[raw].astype(np.int64)
