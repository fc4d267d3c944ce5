"""The config classes each CLI subcommand exposes (gathered here so the parser can be built in one place)."""

from synthvid.models.autoencoder import AutoencoderConfig as MODEL
from synthvid.models.pix2pix import Pix2PixConfig as DANCE_MODEL
from synthvid.pipelines.extract import ExtractConfig as EXTRACT
from synthvid.pipelines.face_swap_convert import ConvertConfig as CONVERT
from synthvid.pipelines.face_swap import SwapTrainConfig as TRAIN
from synthvid.pipelines.lip_sync import LipSyncConfig as LIPSYNC
from synthvid.pipelines.motion_transfer import DanceTrainConfig as DANCE_TRAIN
from synthvid.pipelines.motion_transfer_render import TransferConfig as DANCE_TRANSFER
from synthvid.pipelines.lip_sync import LipSyncTrainConfig as LIPSYNC_TRAIN
from synthvid.models.refiner import RefinerConfig as REFINE_MODEL
from synthvid.pipelines.reenact import ReenactConfig as REENACT
from synthvid.reenact.refine import RefineTrainConfig as REFINE_TRAIN
from synthvid.train.loop import LoopConfig as LOOP

__all__ = ["CONVERT", "DANCE_MODEL", "DANCE_TRAIN", "DANCE_TRANSFER", "EXTRACT", "LIPSYNC", "LIPSYNC_TRAIN", "LOOP", "MODEL", "REENACT", "REFINE_MODEL",
           "REFINE_TRAIN", "TRAIN"]
