"""The config classes each CLI subcommand exposes (gathered here so the parser can be built in one place)."""

from synthvid.models.autoencoder import AutoencoderConfig as MODEL
from synthvid.pipelines.extract import ExtractConfig as EXTRACT
from synthvid.pipelines.face_swap_convert import ConvertConfig as CONVERT
from synthvid.pipelines.face_swap import SwapTrainConfig as TRAIN
from synthvid.pipelines.lip_sync import LipSyncConfig as LIPSYNC
from synthvid.pipelines.lip_sync import LipSyncTrainConfig as LIPSYNC_TRAIN
from synthvid.pipelines.reenact import ReenactConfig as REENACT
from synthvid.train.loop import LoopConfig as LOOP

__all__ = ["CONVERT", "EXTRACT", "LIPSYNC", "LIPSYNC_TRAIN", "LOOP", "MODEL", "REENACT", "TRAIN"]
