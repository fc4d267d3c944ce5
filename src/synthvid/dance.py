"""Full-body motion transfer ("Everybody Dance Now"), from Python: ``synthvid.dance.train(...)`` and
``synthvid.dance.transfer(...)``.

    import synthvid.dance
    synthvid.dance.train("target.mp4", "model", loop=synthvid.dance.LoopConfig(minutes=30))
    synthvid.dance.transfer("dancer.mp4", "model", "target_dancing.mp4", preview="strip.png")
    synthvid.dance.pose_video("dancer.mp4", "skeleton.mp4")
"""

from synthvid.models.pix2pix import Pix2PixConfig
from synthvid.pipelines.motion_transfer import DanceTrainConfig, train
from synthvid.pipelines.motion_transfer_render import (DanceModel, DanceRenderer, PoseReport, TransferConfig,
                                                       TransferReport, load_dance_model, pose_video, transfer)
from synthvid.train.loop import LoopConfig, TrainSummary

__all__ = ["DanceModel", "DanceRenderer", "DanceTrainConfig", "LoopConfig", "Pix2PixConfig", "PoseReport",
           "TrainSummary", "TransferConfig", "TransferReport", "load_dance_model", "pose_video", "train", "transfer"]
