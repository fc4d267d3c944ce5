"""Atomic checkpoints: one dict ``{"arch", "config", "state_dict", "optimizer", "step", "rng", ...}``.

Saved to a hidden temporary file, fsynced and renamed into place, so a crash (even kill -9) mid-save leaves the
previous checkpoint intact. Loaded with ``torch.load(weights_only=True)``: a checkpoint is data, never code.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from synthvid import __version__
from synthvid.errors import CheckpointError
from synthvid.io.files import atomic_path

REQUIRED_KEYS = ("arch", "config", "state_dict", "optimizer", "step", "rng")
FORMAT = "synthvid-checkpoint-1"


def save_checkpoint(path: str | os.PathLike, checkpoint: dict[str, Any]) -> Path:
    """Write ``checkpoint`` atomically (tensors, numbers, strings, lists and dicts only)."""
    missing = [k for k in REQUIRED_KEYS if k not in checkpoint]
    if missing:
        raise ValueError(f"checkpoint lacks {', '.join(missing)}")
    data = dict(checkpoint, format=FORMAT, synthvid_version=__version__)
    buf = io.BytesIO()
    torch.save(data, buf)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(buf.getbuffer())
    return Path(path)


def load_checkpoint(path: str | os.PathLike, arch: str | tuple[str, ...] | None = None,
                    map_location: str | torch.device = "cpu", mmap: bool = False,
                    check_weights: bool = True) -> dict[str, Any]:
    """Read a synthvid checkpoint safely, checking it is one (and of ``arch`` when given).

    ``mmap=True`` maps the file instead of reading it: tensors are paged in when first used, so a caller that
    only needs the weights (inference) never reads the optimizer state, two thirds of a training checkpoint.

    Raises CheckpointError naming the file for: missing, corrupt/truncated, not a torch file, a pickle that would
    run code, a torch file from another tool, a different architecture, or (``check_weights``: every caller that
    will use the weights) NaN or infinite weights. Callers that only read ``config`` or ``step`` pass False.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint not found: {p}")
    try:
        with open(p, "rb") as fh:
            magic = fh.read(2)
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {p}: {e.strerror or e}") from None
    if magic[:2] != b"PK" and magic[:1] != b"\x80":  # torch files are zip archives (or, from old versions, pickles)
        raise CheckpointError(f"{p} is not a readable synthvid checkpoint (not a PyTorch file at all: "
                              f"{'it is empty' if not magic else 'unknown format'})")
    try:
        data = torch.load(p, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as e:  # noqa: BLE001 - hostile bytes can make the unpickler raise anything (KeyError, ...)
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "weights_only" in reason or "Unsupported global" in reason or "GLOBAL" in reason:
            reason = "it contains Python objects that would have to be executed to load"
        raise CheckpointError(f"{p} is not a readable synthvid checkpoint ({reason[:160]})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{p} is a PyTorch file but not a synthvid checkpoint")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise CheckpointError(f"{p} is an incomplete synthvid checkpoint (missing {', '.join(missing)})")
    wanted = (arch,) if isinstance(arch, str) else arch
    if wanted is not None and data["arch"] not in wanted:
        raise CheckpointError(f"{p} holds a '{data['arch']}' model, expected {' or '.join(map(repr, wanted))}")
    step = data["step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise CheckpointError(f"{p} is a damaged synthvid checkpoint (its step count is {str(step)[:40]!r})")
    if not isinstance(data["state_dict"], dict) or not isinstance(data["rng"], dict):
        raise CheckpointError(f"{p} is a damaged synthvid checkpoint (weights or random state are not a mapping)")
    bad = _non_finite(data["state_dict"]) if check_weights else ""
    if bad:
        raise CheckpointError(f"{p} holds non-finite weights (NaN or infinity in {bad}): the training that wrote it "
                              "diverged or the file is damaged; use an earlier snapshot")
    return data


def _non_finite(tree: Any, prefix: str = "") -> str:
    """The name of the first floating-point tensor in ``tree`` (nested dicts) holding NaN or infinity, else ''."""
    if isinstance(tree, torch.Tensor):
        if tree.is_meta or tree.layout != torch.strided or not tree.is_floating_point():
            return ""  # no dense data to look at: the model loaders refuse these with their own message
        try:
            return "" if bool(torch.isfinite(tree).all()) else (prefix or "a tensor")
        except (NotImplementedError, RuntimeError, TypeError):  # a dtype isfinite does not support (float8, ...)
            return ""
    if isinstance(tree, dict):
        for k, v in tree.items():
            found = _non_finite(v, f"{prefix}.{k}" if prefix else str(k))
            if found:
                return found
    return ""
