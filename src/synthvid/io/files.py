"""Checks on user-supplied paths and atomic file replacement, shared by every reader and writer."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable, Iterator
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
    try:
        is_dir = p.is_dir()
    except OSError as e:  # e.g. a name longer than the file system allows
        raise OutputError(f"cannot write {p}: {e.strerror or e}") from None
    if is_dir:
        raise OutputError(f"output path is a folder, expected a file name: {p}")
    if len(os.fsencode(p.name)) > 200:  # the hidden temporary beside it (".NAME.partial-XXXXXXXX") must fit too
        raise OutputError(f"output file name is too long ({len(os.fsencode(p.name))} bytes; at most 200)")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write {p}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {p}: folder {parent} is not writable")
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise OutputError(f"output {p} must end in one of {', '.join(suffixes)}")
    return p


def check_not_input(path: str | os.PathLike, inputs: Iterable[str | os.PathLike | None]) -> None:
    """Raise OutputError if the output ``path`` is one of the job's ``inputs`` (the finished output would replace
    the file it was made from). Paths that do not exist yet cannot clash."""
    p = Path(path)
    if not p.exists():
        return
    for i in inputs:
        if i is None:
            continue
        try:
            same = os.path.samefile(p, i)
        except (OSError, ValueError):  # the input is not a path on this machine (a device index, a name) or is gone
            continue
        if same:
            raise OutputError(f"output {p} is the input {i}: writing it would destroy the input; choose another name")


def check_outputs(inputs: Iterable[str | os.PathLike | None],
                  *outputs: tuple[str | os.PathLike | None, tuple[str, ...] | None]) -> list[Path | None]:
    """Check, before a job starts, every file it will write: ``outputs`` are (path or None, allowed suffixes)
    pairs. Each must be creatable (:func:`check_output_path`), none may be one of the job's ``inputs``, and no two
    may be the same path. Returns the checked paths (None where none was given)."""
    inputs = list(inputs)
    out: list[Path | None] = []
    seen: dict[str, Path] = {}
    for path, suffixes in outputs:
        if path is None:
            out.append(None)
            continue
        p = check_output_path(path, suffixes)
        check_not_input(p, inputs)
        key = os.path.abspath(p)
        if key in seen:
            raise OutputError(f"{p} is given for two outputs of the same job")
        seen[key] = p
        out.append(p)
    return out


def check_output_folder(path: str | os.PathLike, parents: bool = False) -> Path:
    """Return ``path`` as a Path if a job's output folder can be made (or used) there: no file in the way, and its
    parent exists (unless ``parents``: a typo should not create a tree). For checking before slow work."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputError(f"{p} is an existing file, not a folder: choose a folder name for this output")
    parent = p.parent if str(p.parent) else Path(".")
    if not parents and not parent.is_dir():
        raise InputError(f"output folder's parent does not exist: {parent}")
    return p


def make_output_folder(path: str | os.PathLike, parents: bool = False) -> Path:
    """Create a job's output folder, or accept one that exists (:func:`check_output_folder`); a folder that cannot
    be made is a one-line error too."""
    p = check_output_folder(path, parents)
    try:
        p.mkdir(parents=parents, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the folder {p}: {e.strerror or e}") from None
    return p


@contextlib.contextmanager
def output_folder(path: str | os.PathLike, parents: bool = False) -> Iterator[Path]:
    """:func:`make_output_folder` for the length of a job: if the job fails and the folder was made for it and is
    still empty, it is removed again (a failed first run leaves nothing behind; a resumable run keeps its files)."""
    p = Path(path)
    existed = p.exists()
    folder = make_output_folder(p, parents)
    try:
        yield folder
    except BaseException:
        if not existed:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only succeeds when empty
        raise


def partial_path(path: Path) -> Path:
    """Create an empty hidden temporary file beside ``path`` with the same suffix (so formats are still guessed from
    it) and return its name. Unlike ``tempfile.mkstemp`` (mode 0600), it gets the usual mode for new files (0666
    less the umask), which the finished output keeps after the rename.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    for _ in range(100):
        tmp = folder / f".{path.stem}.partial-{secrets.token_hex(4)}{path.suffix}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        except OSError as e:
            raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
        return tmp
    raise OutputError(f"cannot write {path}: no free temporary name in {folder}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed onto ``path``, on error removed.

    Whatever happens (exception, Ctrl-C), the final path holds either the previous file or the complete new one.
    A kill -9 can leave a hidden ``.NAME.partial-*`` file beside it, never a half-written file at ``path``.
    Raises OutputError when the folder is missing or not writable, or the finished file cannot be moved into place.
    """
    final = Path(path)
    tmp = partial_path(final)
    try:
        yield tmp
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    try:
        finalize_partial(tmp, final)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputError(f"cannot write {final}: {e.strerror or e}") from None


def finalize_partial(tmp: Path, final: Path) -> None:
    """fsync ``tmp`` and rename it onto ``final`` (atomic on POSIX and Windows within one folder)."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
