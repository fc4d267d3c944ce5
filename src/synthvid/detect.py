"""Manipulated-face detection, from Python: ``synthvid.detect.detect(...)``, ``synthvid.detect.train(...)``.

    import synthvid.detect
    report = synthvid.detect.detect("clip.mp4", heatmap="suspect.png")   # report.probability, .frame_probabilities
    synthvid.detect.train(["real1.mp4", "real2.mp4"], "runs/my_detector", fake=["synthvid_output.mp4"],
                          loop=synthvid.detect.LoopConfig(minutes=30))
    synthvid.detect.export_detector("runs/my_detector", "my_detector.pt")
    synthvid.detect.calibrate_detector("my_detector.pt", ["unseen_real1.mp4", "unseen_real2.mp4", ...])
    synthvid.detect.detect("clip.mp4", model="my_detector.pt")
"""

from synthvid.models.detector import DetectorConfig, FakeDetector
from synthvid.provenance.detect import DetectReport, calibrated_threshold, load_detector, score_crops
from synthvid.provenance.detect import detect_file as detect
from synthvid.provenance.detector_training import DetectorTrainConfig, calibrate_detector, export_detector
from synthvid.provenance.detector_training import train_detector as train
from synthvid.provenance.self_blend import self_blend
from synthvid.train.loop import LoopConfig, TrainSummary

__all__ = ["DetectReport", "DetectorConfig", "DetectorTrainConfig", "FakeDetector", "LoopConfig", "TrainSummary",
           "calibrate_detector", "calibrated_threshold", "detect", "export_detector", "load_detector", "score_crops", "self_blend", "train"]
