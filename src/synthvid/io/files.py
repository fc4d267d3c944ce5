"""Checks on user-supplied paths and atomic file replacement, shared by every reader and writer."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from synthvid.errors import InputError, OutputError


def check_input_file(path: str | os.PathLike, what: str = "input") -> Path:
    """Return ``path`` as a Path if it is an existing, readable, non-empty regular file; else raise InputError."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} file not found: {p}")
    if p.is_dir():
        raise InputError(f"{what} is a folder, expected a file: {p}")
    if not os.access(p, os.R_OK):
        raise InputError(f"{what} file is not readable (permissions): {p}")
    if p.stat().st_size == 0:
        raise InputError(f"{what} file is empty: {p}")
    return p


def check_output_path(path: str | os.PathLike, suffixes: tuple[str, ...] | None = None) -> Path:
    """Return ``path`` as a Path if a file can be created there; else raise OutputError.

    The folder must already exist (we never create surprising directory trees for a file output) and the path must
    not be a folder. ``suffixes`` restricts the file extension (lower-case, with the dot).
    """
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"output path is a folder, expected a file name: {p}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"output folder does not exist: {parent}")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"output folder is not writable: {parent}")
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise OutputError(f"output {p.name} must end in one of {', '.join(suffixes)}")
    return p


def partial_path(path: Path) -> Path:
    """A hidden temporary name beside ``path`` with the same suffix (so formats are still guessed from it)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.partial-", suffix=path.suffix, dir=path.parent or ".")
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed onto ``path``, on error removed.

    Whatever happens (exception, Ctrl-C), the final path holds either the previous file or the complete new one.
    A kill -9 can leave a hidden ``.NAME.partial-*`` file beside it, never a half-written file at ``path``.
    """
    final = Path(path)
    tmp = partial_path(final)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
