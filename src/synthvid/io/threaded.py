"""Decoding and encoding on background threads, so they overlap with the per-frame work of a pipeline.

FFmpeg releases Python's lock while it decodes and encodes, so on a 2-core machine a reader thread, the main
thread and a writer thread genuinely run side by side. Queues are bounded: memory stays flat whatever the length.
Errors raised on a background thread are re-raised in the caller's thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_DONE = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(items: Iterable[Any], depth: int = 8) -> Iterator[Any]:
    """Iterate ``items`` on a background thread, up to ``depth`` items ahead of the consumer."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            q.put(_Failure(e))

    thread = threading.Thread(target=produce, name="synthvid-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


class BackgroundWriter:
    """Call ``write(item)`` on a background thread, in order; ``close()`` waits and re-raises any error.

    Args:
        write: the slow sink (e.g. a video writer's ``write``).
        depth: items that may wait in the queue.
    """

    def __init__(self, write: Callable[[Any], None], depth: int = 8) -> None:
        self._write = write
        self._q: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="synthvid-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is _DONE:
                return
            if self._error is None:
                try:
                    self._write(item)
                except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                    self._error = e

    def put(self, item: Any) -> None:
        if self._error is not None:
            self.close()
        self._q.put(item)

    def close(self) -> None:
        """Wait for the queue to drain; re-raise the first error the sink raised."""
        if self._thread.is_alive():
            self._q.put(_DONE)
            self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            self.close()
        except BaseException:
            if exc_type is None:
                raise
