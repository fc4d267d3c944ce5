"""Facial reenactment and portrait animation — Python API (the CLI's ``synthvid reenact``).

    import synthvid.reenact as reenact
    reenact.photo("portrait.jpg", "driving.mp4", "out.mp4")
    reenact.video("driving.mp4", "target.mp4", "out.mp4", reenact.ReenactConfig(transfer="pose,gaze"))
    reenact.stream("portrait.jpg", "0", "live.mp4", max_frames=500)
    reenact.train("target.mp4", "refiner/")  # neural refinement of one person (10 min CPU by default), then:
    reenact.video("driving.mp4", "target.mp4", "out.mp4", reenact.ReenactConfig(refine="refiner/"))

The building blocks live in the submodules: ``motion`` (tracking), ``transfer`` (expression and pose transfer),
``warp`` and ``render`` (re-rendering), ``mouth`` and ``retrieve`` (mouth interiors), ``refine`` (the optional
neural refinement), ``sequence`` (the built-in performance).
"""

from __future__ import annotations

from typing import Any


def photo(*args: Any, **kwargs: Any) -> Any:
    """Animate a portrait with a driving video: see :func:`synthvid.pipelines.reenact.reenact_photo`."""
    from synthvid.pipelines.reenact import reenact_photo  # noqa: PLC0415 - avoids an import cycle

    return reenact_photo(*args, **kwargs)


def video(*args: Any, **kwargs: Any) -> Any:
    """Re-render a target video's face: see :func:`synthvid.pipelines.reenact.reenact_video`."""
    from synthvid.pipelines.reenact import reenact_video  # noqa: PLC0415

    return reenact_video(*args, **kwargs)


def stream(*args: Any, **kwargs: Any) -> Any:
    """Live mode: see :func:`synthvid.pipelines.reenact.reenact_stream`."""
    from synthvid.pipelines.reenact import reenact_stream  # noqa: PLC0415

    return reenact_stream(*args, **kwargs)


def train(*args: Any, **kwargs: Any) -> Any:
    """Train the neural refinement of one person: see :func:`synthvid.reenact.refine.train_refiner`."""
    from synthvid.reenact.refine import train_refiner  # noqa: PLC0415

    return train_refiner(*args, **kwargs)


def __getattr__(name: str) -> Any:
    if name in ("ReenactConfig", "ReenactReport"):
        from synthvid.pipelines import reenact as _p  # noqa: PLC0415

        return getattr(_p, name)
    if name in ("RefinerConfig", "RefineTrainConfig", "Refiner"):
        from synthvid.models import refiner as _m  # noqa: PLC0415
        from synthvid.reenact import refine as _r  # noqa: PLC0415

        return getattr(_m if hasattr(_m, name) else _r, name)
    raise AttributeError(f"module 'synthvid.reenact' has no attribute {name!r}")


__all__ = ["ReenactConfig", "ReenactReport", "RefineTrainConfig", "Refiner", "RefinerConfig", "photo", "stream",
           "train", "video"]
