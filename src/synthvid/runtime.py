"""Process settings for the frame pipelines (conversion, reenactment, lip sync, motion transfer).

A frame pipeline runs a decoder thread, an encoder thread and the per-frame work on the main thread, all on the
same few cores. Two library defaults cost such a pipeline about a fifth of its speed on a 2-core machine at 720p
(measured on bench/face_swap.py's clip: 18 -> 24 fps):

* numpy's BLAS (OpenBLAS) starts a thread per core, and its idle threads spin-wait after every call. The
  pipeline's only BLAS calls are on tiny matrices (3 x 3 inverses, 478-point similarity fits) that gain nothing
  from threads, while the spinning takes CPU time from the decoder and encoder (system time 3.4 s -> 0.8 s per
  150 frames). Inside :func:`frame_pipeline`, BLAS runs on one thread; the previous limit is restored after.
* glibc returns every freed block above 128 KiB to the system, so each new 2-4 MB frame-sized array is fresh
  memory that the kernel has to fault in and zero, page by page (~700 page faults per 720p frame array, several
  arrays per frame). :func:`keep_freed_memory` makes glibc keep such blocks for reuse (up to 256 MiB kept
  free per malloc arena); it is applied once per process, on Linux with glibc only, never fails, and is not
  undone when the job ends (a library user's process keeps up to that much freed memory around).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # blocks below this come from the reusable heap (a 4K RGB frame is 25 MB)
TRIM_THRESHOLD = 256 * 1024 * 1024  # free heap memory kept before any is returned to the system

F = TypeVar("F", bound=Callable[..., Any])


@functools.lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Ask glibc to keep freed frame-sized blocks for reuse; True when it applied (Linux with glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def frame_pipeline(fn: F | None = None, *, compute_threads: int | None = None) -> Any:
    """Decorator for a job that streams frames: runs it with the settings above.

    ``compute_threads``: also run torch's and OpenCV's own thread pools on that many threads for the call (then
    restore them). For a pipeline that already keeps the cores busy with its own threads (face swap conversion:
    decoder, model, compositing + encoder), pools that spin-wait between small operations cost more CPU than
    they save (720p conversion: 12.2 -> 10.9 s of CPU per 150 frames, 24 -> 26 fps).
    """

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            keep_freed_memory()
            with contextlib.ExitStack() as stack:
                stack.enter_context(_blas_threads(1))
                if compute_threads is not None:
                    stack.enter_context(_compute_threads(compute_threads))
                return f(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate(fn) if fn is not None else decorate


@contextlib.contextmanager
def _blas_threads(n: int) -> Iterator[None]:
    try:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415 - only frame jobs need it
    except ImportError:  # pragma: no cover - a declared dependency; a missing one only costs speed
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield


@contextlib.contextmanager
def _compute_threads(n: int) -> Iterator[None]:
    import cv2  # noqa: PLC0415
    import torch  # noqa: PLC0415

    before = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(n)
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])
