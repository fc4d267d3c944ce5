"""Face swap, from Python: ``synthvid.swap.train(...)`` and ``synthvid.swap.convert(...)``.

    import synthvid.faces, synthvid.swap
    synthvid.faces.extract(["a.mp4"], "faces_a")
    synthvid.faces.extract(["b.mp4"], "faces_b")
    synthvid.swap.train("faces_a", "faces_b", "model", loop=synthvid.swap.LoopConfig(minutes=30))
    synthvid.swap.convert("a.mp4", "model", "a_as_b.mp4")
"""

from synthvid.models.autoencoder import AutoencoderConfig
from synthvid.pipelines.face_swap import SwapTrainConfig, train
from synthvid.pipelines.face_swap_convert import (ConvertConfig, ConvertReport, SwapModel, convert,
                                                  load_swap_model)
from synthvid.train.loop import LoopConfig, TrainSummary

__all__ = ["AutoencoderConfig", "ConvertConfig", "ConvertReport", "LoopConfig", "SwapModel", "SwapTrainConfig",
           "TrainSummary", "convert", "load_swap_model", "train"]
