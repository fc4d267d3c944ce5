"""Process settings of the frame pipelines: BLAS on one thread inside, thread pools restored after."""

from __future__ import annotations

import sys

import cv2
import pytest
import torch
from threadpoolctl import threadpool_info

from synthvid.runtime import frame_pipeline, keep_freed_memory


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_frame_pipeline_limits_blas_and_restores_the_pools() -> None:
    torch_before, cv2_before = torch.get_num_threads(), cv2.getNumThreads()
    blas_before = _blas_threads()
    seen = {}

    @frame_pipeline
    def plain(x: int) -> int:
        seen["plain"] = (_blas_threads(), torch.get_num_threads())
        return x + 1

    @frame_pipeline(compute_threads=1)
    def single(x: int) -> int:
        seen["single"] = (_blas_threads(), torch.get_num_threads(), cv2.getNumThreads())
        raise ValueError(f"boom {x}")

    assert plain(1) == 2 and plain.__name__ == "plain"
    assert all(n == 1 for n in seen["plain"][0])
    assert seen["plain"][1] == torch_before  # torch untouched without compute_threads
    with pytest.raises(ValueError, match="boom 3"):
        single(3)
    assert all(n == 1 for n in seen["single"][0]) and seen["single"][1:] == (1, 1)
    # everything is restored, also after an exception
    assert (torch.get_num_threads(), cv2.getNumThreads(), _blas_threads()) == (torch_before, cv2_before, blas_before)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_keep_freed_memory_applies_once_on_linux() -> None:
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # cached: applied once per process


def test_configs_refuse_non_finite_numbers() -> None:
    from synthvid.errors import InputError
    from synthvid.pipelines.lip_sync import LipSyncTrainConfig
    from synthvid.train.loop import LoopConfig

    for bad in (float("nan"), float("inf")):
        with pytest.raises(InputError, match="must be a finite number"):
            LipSyncTrainConfig(lr=bad)
        with pytest.raises(InputError, match="finite"):
            LoopConfig(minutes=bad)
    assert LipSyncTrainConfig(lr=1e-3).lr == 1e-3


def test_config_bounds() -> None:
    from synthvid.errors import InputError
    from synthvid.pipelines.face_swap_convert import ConvertConfig
    from synthvid.pipelines.lip_sync import LipSyncConfig
    from synthvid.pipelines.reenact import ReenactConfig

    with pytest.raises(InputError, match="crf must be from 0 to 51, got 99"):
        LipSyncConfig(crf=99)
    with pytest.raises(InputError, match="candidates must be at least 1, got 0"):
        LipSyncConfig(candidates=0)
    with pytest.raises(InputError, match="batch must be at least 1"):
        ConvertConfig(batch=0)
    with pytest.raises(InputError, match="step must be from 0 to 64"):
        ReenactConfig(step=-3)
    assert ReenactConfig(crf=0, step=8).step == 8
