"""Identity measures on 128-D face descriptors, e.g. dlib's from :func:`synthvid.face.identity.embed_face`.

Two descriptors of the same person are usually closer than 0.6 (Euclidean; dlib's own decision threshold,
:data:`synthvid.face.identity.SAME_PERSON`); different people are usually farther apart. dlib's descriptors are not
unit vectors (norms around 1.4-1.5 on the test portrait). Computing descriptors is left to
:mod:`synthvid.face.identity`; this module only compares them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from synthvid.errors import InputError
from synthvid.types import _describe


def _check_descriptors(descriptors: Any, name: str, ndim: int) -> np.ndarray:
    if (not isinstance(descriptors, np.ndarray) or descriptors.ndim != ndim or descriptors.shape[-1] == 0
            or not (np.issubdtype(descriptors.dtype, np.integer) or np.issubdtype(descriptors.dtype, np.floating))):
        shape = "D" if ndim == 1 else "N x D"
        raise InputError(f"{name} must be a numeric {shape} descriptor array, got {_describe(descriptors)}")
    descriptors = descriptors.astype(np.float64, copy=False)
    if not np.all(np.isfinite(descriptors)):
        raise InputError(f"{name} contains NaN or infinite values")
    return descriptors


def identity_distance(e1: np.ndarray, e2: np.ndarray) -> float:
    """Euclidean distance between two face descriptors.

    Args:
        e1, e2: descriptors of shape (D,), D = 128 for dlib.

    Returns:
        The distance; below 0.6 (:data:`synthvid.face.identity.SAME_PERSON`) dlib calls the two faces the same person.
    """
    e1, e2 = _check_descriptors(e1, "e1", 1), _check_descriptors(e2, "e2", 1)
    if e1.shape != e2.shape:
        raise InputError(f"descriptors must have the same size, got {e1.shape} and {e2.shape}")
    return float(np.linalg.norm(e1 - e2))


def closer_to(embeddings: np.ndarray, ref_b: np.ndarray, ref_a: np.ndarray) -> np.ndarray:
    """For each descriptor, whether it is closer to identity ``b`` than to identity ``a``.

    In a face swap, ``a`` is the person in the target video and ``b`` the source identity pasted in: a row is
    True when the swapped face looks more like ``b``. Ties count as False.

    Args:
        embeddings: N x D descriptors (a single D-vector is treated as N = 1).
        ref_b: reference descriptor (D,) of identity ``b``.
        ref_a: reference descriptor (D,) of identity ``a``.

    Returns:
        bool array of shape (N,).
    """
    if isinstance(embeddings, np.ndarray) and embeddings.ndim == 1:
        embeddings = embeddings[None]
    embeddings = _check_descriptors(embeddings, "embeddings", 2)  # N x D
    ref_b, ref_a = _check_descriptors(ref_b, "ref_b", 1), _check_descriptors(ref_a, "ref_a", 1)
    size = embeddings.shape[1]
    if ref_b.shape != (size,) or ref_a.shape != (size,):
        raise InputError(f"references must have shape ({size},) like the embeddings, got {ref_b.shape} and "
                         f"{ref_a.shape}")
    to_b = np.linalg.norm(embeddings - ref_b, axis=1)  # N
    to_a = np.linalg.norm(embeddings - ref_a, axis=1)  # N
    return to_b < to_a


def share_closer_to(embeddings: np.ndarray, ref_b: np.ndarray, ref_a: np.ndarray) -> float:
    """Fraction of descriptors closer to identity ``b`` than to ``a`` (see :func:`closer_to`), in [0, 1].

    Args:
        embeddings: N x D descriptors, N >= 1.
        ref_b, ref_a: reference descriptors (D,).

    Returns:
        The share of rows for which :func:`closer_to` is True.
    """
    verdicts = closer_to(embeddings, ref_b, ref_a)
    if verdicts.size == 0:
        raise InputError("share_closer_to needs at least one embedding, got 0")
    return float(verdicts.mean())
