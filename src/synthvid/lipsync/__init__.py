"""Lip sync from audio or text — Python API (the CLI's ``synthvid lipsync`` and ``synthvid sync-check``).

    import synthvid.lipsync as lipsync
    lipsync.run("target.mp4", "out.mp4", audio="speech.wav")          # or text="Hello there."
    lipsync.train(["target.mp4"], "model/")                            # person-specific stage
    lipsync.run("target.mp4", "out.mp4", audio="speech.wav", model="model/")
    print(lipsync.sync_check("video.mp4").summary())

Submodules: ``features`` (MFCC), ``shape`` (mouth/jaw shapes, PCA), ``model`` (generic + person-specific),
``training`` (the training task), ``retime``, ``texture`` (mouth synthesis), ``tts`` (espeak-ng), ``sync``.
"""

from __future__ import annotations

from typing import Any


def run(*args: Any, **kwargs: Any) -> Any:
    """Make a target video say new speech: see :func:`synthvid.pipelines.lip_sync.lipsync`."""
    from synthvid.pipelines.lip_sync import lipsync  # noqa: PLC0415 - avoids an import cycle

    return lipsync(*args, **kwargs)


def train(*args: Any, **kwargs: Any) -> Any:
    """Fit the person-specific stage: see :func:`synthvid.pipelines.lip_sync.train`."""
    from synthvid.pipelines.lip_sync import train as _train  # noqa: PLC0415

    return _train(*args, **kwargs)


def sync_check(*args: Any, **kwargs: Any) -> Any:
    """Estimate a video's audio/video offset: see :func:`synthvid.lipsync.sync.sync_check`."""
    from synthvid.lipsync.sync import sync_check as _check  # noqa: PLC0415

    return _check(*args, **kwargs)


def __getattr__(name: str) -> Any:
    if name in ("LipSyncConfig", "LipSyncReport", "LipSyncTrainConfig"):
        from synthvid.pipelines import lip_sync as _p  # noqa: PLC0415

        return getattr(_p, name)
    raise AttributeError(f"module 'synthvid.lipsync' has no attribute {name!r}")


__all__ = ["LipSyncConfig", "LipSyncReport", "LipSyncTrainConfig", "run", "sync_check", "train"]
