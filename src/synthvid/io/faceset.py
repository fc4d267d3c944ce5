"""A faceset on disk: aligned face crops plus an alignments file.

    FACESET/
      faceset.json      settings (crop size, coverage), sources with progress, counts
      alignments.npz    per face: name (crop file), source, frame, landmarks (478 x 3, frame pixels), matrix (2 x 3,
                        frame -> crop), embedding (128-D identity), sharpness, pose (yaw, pitch, roll)
      faces/            one JPEG per face, named SOURCE_FRAME.jpg

The npz is read with ``allow_pickle=False``: it is data only.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from synthvid.errors import InputError, NoFaceError
from synthvid.face.landmarks import NUM_LANDMARKS
from synthvid.io.files import write_bytes_atomic
from synthvid.io.image import read_image
from synthvid.io.output import write_json
from synthvid.types import Frame

FACESET_JSON = "faceset.json"
ALIGNMENTS = "alignments.npz"
FACES_DIR = "faces"
FORMAT = "synthvid-faceset-1"

# name -> (per-face shape, dtype)
FIELDS: dict[str, tuple[tuple[int, ...], Any]] = {
    "name": ((), "U64"),
    "source": ((), np.int32),
    "frame": ((), np.int64),
    "landmarks": ((NUM_LANDMARKS, 3), np.float32),
    "matrix": ((2, 3), np.float32),
    "embedding": ((128,), np.float32),
    "sharpness": ((), np.float32),
    "pose": ((3,), np.float32),
}


@dataclasses.dataclass
class Alignments:
    """Column arrays, one row per face."""

    columns: dict[str, np.ndarray]

    @classmethod
    def empty(cls) -> Alignments:
        return cls({k: np.zeros((0, *shape), dtype=dt) for k, (shape, dt) in FIELDS.items()})

    def __len__(self) -> int:
        return len(self.columns["name"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def append(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        for k, (shape, dt) in FIELDS.items():
            new = np.asarray([r[k] for r in rows], dtype=dt).reshape(len(rows), *shape)
            self.columns[k] = np.concatenate([self.columns[k], new])

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the rows where ``mask`` is True."""
        self.columns = {k: v[mask] for k, v in self.columns.items()}

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, **self.columns)
        return buf.getvalue()

    @classmethod
    def from_file(cls, path: Path) -> Alignments:
        try:
            with np.load(path, allow_pickle=False) as data:
                cols = {k: data[k] for k in FIELDS if k in data.files}
        except Exception as e:  # noqa: BLE001 - a damaged zip can raise BadZipFile, zlib.error, KeyError, ...
            raise InputError(f"{path} is not a readable alignments file ({str(e)[:120]})") from None
        missing = set(FIELDS) - set(cols)
        n = len(cols.get("name", []))
        bad = [k for k, (shape, _) in FIELDS.items() if k in cols and cols[k].shape != (n, *shape)]
        if missing or bad:
            raise InputError(f"{path} is not a synthvid alignments file (bad or missing: "
                             f"{', '.join(sorted(missing | set(bad)))})")
        for name in cols["name"]:  # plain file names inside faces/: a crafted one must not reach other files
            text = str(name)
            if not text or text in (".", "..") or "/" in text or "\\" in text or "\0" in text:
                raise InputError(f"{path} names a face file outside the faceset ({text[:60]!r})")
        return cls(cols)


@dataclasses.dataclass
class Faceset:
    """A faceset folder: its settings, sources and alignments."""

    root: Path
    info: dict[str, Any]
    alignments: Alignments

    @property
    def size(self) -> int:
        return int(self.info["size"])

    @property
    def coverage(self) -> float:
        return float(self.info["coverage"])

    def __len__(self) -> int:
        return len(self.alignments)

    def face_path(self, i: int) -> Path:
        return self.root / FACES_DIR / str(self.alignments["name"][i])

    def read_face(self, i: int) -> Frame:
        image = read_image(self.face_path(i))
        if image.shape[:2] != (self.size, self.size):
            raise InputError(f"{self.face_path(i)} is {image.shape[1]}x{image.shape[0]}, faceset says {self.size}")
        return image

    def save(self) -> None:
        """Write alignments then faceset.json, each atomically (json last: it is the commit point)."""
        write_bytes_atomic(self.root / ALIGNMENTS, self.alignments.to_bytes())
        self.info["count"] = len(self.alignments)
        write_json(self.root / FACESET_JSON, self.info)


def new_faceset(root: str | os.PathLike, settings: dict[str, Any]) -> Faceset:
    """Create (or reopen, if it exists with the same crop settings) a faceset folder for writing."""
    p = Path(root)
    if p.exists() and not p.is_dir():
        raise InputError(f"faceset path exists and is not a folder: {p}")
    if (p / FACESET_JSON).exists():
        fs = open_faceset(p, require_faces=False)
        for key in ("size", "coverage"):
            if fs.info.get(key) != settings[key]:
                raise InputError(f"{p} was extracted with {key} {fs.info.get(key)}, not {settings[key]}; "
                                 "use the same settings or a new folder")
        return fs
    if not p.parent.is_dir():
        raise InputError(f"output folder's parent does not exist: {p.parent}")
    (p / FACES_DIR).mkdir(parents=True, exist_ok=True)
    info = {"format": FORMAT, **settings, "sources": [], "count": 0}
    return Faceset(p, info, Alignments.empty())


def open_faceset(root: str | os.PathLike, require_faces: bool = True) -> Faceset:
    """Open a faceset folder for reading, checking it is one."""
    p = Path(root)
    if not p.is_dir():
        raise InputError(f"faceset folder not found: {p}")
    meta = p / FACESET_JSON
    if not meta.is_file():
        raise InputError(f"{p} is not a synthvid faceset (no {FACESET_JSON}); make one with `synthvid faces extract`")
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{meta} is not valid JSON ({e})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise InputError(f"{meta} is not a synthvid faceset description")
    try:
        size, coverage = int(info["size"]), float(info["coverage"])
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{meta} lacks a valid size/coverage") from None
    if not 8 <= size <= 4096 or not 0.05 <= coverage <= 1.5:
        raise InputError(f"{meta} has an implausible size {size} or coverage {coverage}")
    align = p / ALIGNMENTS
    alignments = Alignments.from_file(align) if align.is_file() else Alignments.empty()
    if require_faces and len(alignments) == 0:
        raise NoFaceError(f"faceset {p} holds no faces")
    return Faceset(p, info, alignments)
