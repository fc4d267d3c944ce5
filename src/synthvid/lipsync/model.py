"""A lip-sync model: the audio-to-mouth network plus what it knows about one target person.

Stage 1 is the speaker-generic network shipped with synthvid (``data/audio2mouth.pt``, trained by
``scripts/train_audio2mouth.py``). Stage 2 (Neural Voice Puppetry's person-specific step) adapts it to a target
from a few minutes or less of the target speaking: the network's speech filter is re-solved with the target's own
statistics added to the generic ones (a MAP update, weighted by ``person_weight``), and the target's mean mouth
shape is kept as the base the predicted offsets are added to. A model folder holds ``checkpoint.pt`` (the adapted
network, shared loop format; the LSTM correction optionally fine-tuned) and ``person.npz`` (the mean mouth shape).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from synthvid.errors import CheckpointError, InputError
from synthvid.lipsync.data import ClipData
from synthvid.models.audio2mouth import ARCH, Audio2Mouth, Audio2MouthConfig
from synthvid.train.checkpoint import load_checkpoint

if TYPE_CHECKING:
    from synthvid.lipsync.sync import ClipAlignment

PERSON_WEIGHT = 2.0  # a target frame counts this many generic training frames in the person-specific filter
PERSON_FILE = "person.npz"


def _load_network(source: str | os.PathLike | None) -> tuple[Audio2Mouth, int]:
    if source is None:
        with resources.as_file(resources.files("synthvid.data").joinpath("audio2mouth.pt")) as p:
            ck = load_checkpoint(p, ARCH)
    else:
        ck = load_checkpoint(source, ARCH)
    try:
        net = Audio2Mouth(Audio2MouthConfig.from_dict(ck["config"]))
        net.load_state_dict(ck["state_dict"]["audio2mouth"])
    except (KeyError, RuntimeError, TypeError, ValueError) as e:
        raise CheckpointError(f"audio-to-mouth weights do not fit the network: {str(e).splitlines()[0][:160]}") \
            from None
    net.eval()
    return net, int(ck["step"])


@functools.lru_cache(maxsize=1)
def generic_network() -> Audio2Mouth:
    """The shipped speaker-generic network (loaded once)."""
    return _load_network(None)[0]


@dataclasses.dataclass
class LipSyncModel:
    """Turns speech features into the target's mouth shapes."""

    network: Audio2Mouth
    mean_shape: np.ndarray | None = None  # (59, 2) the target's mean lip/jaw shape (frontal), when fitted

    @classmethod
    def generic(cls) -> LipSyncModel:
        """The shipped generic network (a private copy: fitting a person must not change the shared one)."""
        return cls(copy.deepcopy(generic_network()))

    @classmethod
    def load(cls, folder: str | os.PathLike) -> LipSyncModel:
        d = Path(folder)
        if d.is_file():
            raise InputError(f"{d} is a file: --model takes the folder `synthvid lipsync train` made")
        if not d.is_dir():
            raise InputError(f"lip-sync model folder not found: {d}")
        net, _ = _load_network(d / "checkpoint.pt")
        person = d / PERSON_FILE
        if not person.is_file():
            raise CheckpointError(f"{d} has no {PERSON_FILE}: not a trained lip-sync model")
        try:
            with np.load(person, allow_pickle=False) as z:
                mean = z["mean_shape"].astype(np.float32)
        except (OSError, ValueError, KeyError) as e:
            raise CheckpointError(f"{person} is not readable ({str(e)[:120]})") from None
        if mean.shape != (59, 2) or not np.isfinite(mean).all():
            raise CheckpointError(f"{person} does not hold a mouth shape")
        return cls(net, mean)

    def save_person(self, folder: str | os.PathLike) -> Path:
        from synthvid.io.files import atomic_path  # noqa: PLC0415

        if self.mean_shape is None:
            raise InputError("fit the model on the target before saving it")
        p = Path(folder) / PERSON_FILE
        with atomic_path(p) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, mean_shape=self.mean_shape)
        return p

    def fit_person(self, clips: list[ClipData], weight: float = PERSON_WEIGHT, align: bool = True) -> list[ClipAlignment]:
        """Adapt the speech filter to the target's clips (MAP update; ``weight`` 0: generic filter) and keep the
        target's mean mouth shape. With ``align`` each clip's A/V sync is checked first with this (still generic)
        network and clips whose sound is 2+ frames off are moved into sync (:func:`synthvid.lipsync.sync.align_clip`).
        Returns one :class:`~synthvid.lipsync.sync.ClipAlignment` per clip (its ``clip`` is what was fitted on)."""
        from synthvid.lipsync.sync import ClipAlignment, align_clip  # noqa: PLC0415, F811 - sync imports this module
        from synthvid.lipsync.training import filter_stats  # noqa: PLC0415 - training pulls in the loop

        alignments = [align_clip(c, self) if align else ClipAlignment(c, None, False) for c in clips]
        clips = [a.clip for a in alignments]
        found = sum(int(c.found.sum()) for c in clips)
        if not found:
            raise InputError("no frame of the target shows a face to learn the mouth from")
        self.mean_shape = (np.sum([c.mean_shape() * c.found.sum() for c in clips], 0) / found).astype(np.float32)
        if weight > 0:
            self.network.solve_filter(*filter_stats(clips, self.network), weight=weight)
        return alignments

    def offsets(self, features: np.ndarray, fps: float) -> np.ndarray:
        """(T, 59, 2) predicted offsets from the person's mean mouth."""
        return self.network.offsets(features, fps)

    def shapes(self, features: np.ndarray, fps: float, mean_shape: np.ndarray | None = None) -> np.ndarray:
        """(T, 59, 2) absolute frontal mouth shapes: the person's mean (or ``mean_shape``) plus the offsets."""
        base = mean_shape if mean_shape is not None else self.mean_shape
        if base is None:
            raise InputError("the target's mean mouth shape is unknown: fit the model on the target first")
        return base[None] + self.offsets(features, fps)
