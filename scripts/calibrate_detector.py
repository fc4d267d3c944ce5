"""Give a detector weights file its verdict threshold, from real recordings it was not trained on.

    python scripts/calibrate_detector.py WEIGHTS [VIDEO ...] [--rate 0.05] [--out OUT.pt]

Without videos, uses the driving clips that ``scripts/train_detector.py --hold-out-driving`` keeps out of training
(EVAL_DRIVING in ../shared/media/driving); only weights trained that way have not seen them. The threshold is the
score a new real video exceeds with probability --rate (synthvid.provenance.detect.calibrated_threshold), stored in
the weights so that `synthvid detect` uses it when no --threshold is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_detector import EVAL_DRIVING  # noqa: E402

from synthvid.errors import SynthvidError  # noqa: E402
from synthvid.provenance.detector_training import calibrate_detector  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights")
    ap.add_argument("videos", nargs="*", help="real videos the detector never saw (default: the held-out driving clips)")
    ap.add_argument("--media", default=str(Path(__file__).resolve().parents[2] / "shared" / "media"))
    ap.add_argument("--rate", type=float, default=0.05, help="false-positive rate on real videos (default 0.05)")
    ap.add_argument("--out", default=None, help="write here instead of over WEIGHTS")
    args = ap.parse_args()
    videos = args.videos or [Path(args.media) / "driving" / f"{name}.mp4" for name in EVAL_DRIVING]
    try:
        cal = calibrate_detector(args.weights, videos, args.out, args.rate)
    except SynthvidError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"threshold {cal['threshold']:.4f} for {cal['false_positive_rate']:.0%} false positives, from "
          f"{cal['videos']} real videos scoring {min(cal['scores']):.3f}..{max(cal['scores']):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
