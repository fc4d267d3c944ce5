"""Background decoding/encoding helpers: order, bounded memory, and errors surfacing in the caller."""

from __future__ import annotations

import threading
import time

import pytest

from synthvid.io.threaded import BackgroundWriter, prefetch


def test_prefetch_keeps_order_and_runs_ahead():
    seen_threads = set()

    def numbers():
        for i in range(50):
            seen_threads.add(threading.current_thread().name)
            yield i

    assert list(prefetch(numbers(), depth=4)) == list(range(50))
    assert seen_threads == {"synthvid-prefetch"}


def test_prefetch_reraises_producer_errors():
    def broken():
        yield 1
        raise ValueError("bad packet")

    it = prefetch(broken())
    assert next(it) == 1
    with pytest.raises(ValueError, match="bad packet"):
        next(it)


def test_prefetch_stops_its_thread_when_abandoned():
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    it = prefetch(endless(), depth=2)
    assert next(it) == 0
    it.close()
    n = len(produced)
    time.sleep(0.3)
    assert len(produced) <= n + 3  # bounded: the producer stopped


def test_background_writer_order_and_errors():
    out = []
    with BackgroundWriter(out.append, depth=3) as w:
        for i in range(20):
            w.put(i)
    assert out == list(range(20))

    def failing(item):
        if item == 2:
            raise OSError("disk full")
        out.append(item)

    w = BackgroundWriter(failing)
    with pytest.raises(OSError, match="disk full"):
        for i in range(10):
            w.put(i)
            time.sleep(0.01)
        w.close()
