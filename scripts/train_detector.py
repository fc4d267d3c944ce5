"""Train the manipulated-face detector shipped in src/synthvid/data/detector.pt.

    python scripts/train_detector.py [--minutes 30] [--media ../shared/media] [--fakes bench/work/reenact]
                                     [--run runs/detector]

Real faces: the driving clips, the portraits and the talking clips of the people in TRAIN_PEOPLE. The talking
clips of the other people (EVAL_PEOPLE) are never seen, so `bench/detect.py` measures the detector on people and
recordings it did not learn from. Fakes: self-blended versions of those real faces, made on the fly, plus the
synthvid outputs in --fakes whose target is one of TRAIN_PEOPLE (made by `bench/reenact.py`), the face swaps in
--swaps and the lip syncs in --lipsyncs (made by `scripts/make_detector_fakes.py`); missing ones are skipped. Resumable (the shared loop):
re-running continues (--lr may change, e.g. to fine-tune). Writes half-precision weights to the package.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from synthvid.models.detector import DetectorConfig
from synthvid.provenance.detector_training import (DetectorTrainConfig, calibrate_detector, export_detector,
                                                   train_detector)
from synthvid.train.loop import LoopConfig

TRAIN_PEOPLE = ("andrew", "feifeili", "kristinoem", "man_address_60s", "retalking_face1", "retalking_face2",
                "wda_aoc")
EVAL_PEOPLE = ("obama", "reagan", "wda_katiehill", "retalking_face4", "retalking_face5")
# portraits kept out of training: eval people, and the photos the reenactment benchmark animates
EVAL_PORTRAITS = ("obama", "obama2", "macron", "beckham", "edtalk_identity")
# with --hold-out-driving: driving clips of 7 other people kept out of training, so that bench/detect.py has 13
# unseen real recordings rather than 6 (edtalk_pose shows wda_aoc, a training person, so it stays in training)
EVAL_DRIVING = ("lp_d0", "lp_d11", "lp_d19", "lp_d20", "lp_d3", "tpsmm_driving", "edtalk_mouth")


def person_of(stem: str) -> str | None:
    for person in TRAIN_PEOPLE + EVAL_PEOPLE:
        if stem.startswith(person):
            return person
    return None


def training_reals(media: Path, hold_out_driving: bool = False) -> list[Path]:
    talking = sorted(p for p in (media / "talking").glob("*.mp4") if person_of(p.stem) in TRAIN_PEOPLE)
    driving = sorted(p for p in (media / "driving").glob("*.mp4") if not (hold_out_driving and p.stem in EVAL_DRIVING))
    portraits = sorted(p for p in (media / "portraits").iterdir()
                       if p.suffix.lower() in (".jpg", ".png") and p.stem not in EVAL_PORTRAITS)
    return talking + driving + portraits


def training_fakes(fakes: Path, swaps: Path | None = None, lipsyncs: Path | None = None,
                   hold_out_driving: bool = False) -> list[Path]:
    """Self-reenactment and video reenactment outputs whose target is a training person, and the face swaps and
    lip syncs made by scripts/make_detector_fakes.py (in ``swaps`` and ``lipsyncs``; with ``hold_out_driving``,
    not the swaps onto EVAL_DRIVING clips, whose background and body are those evaluation recordings)."""
    out = sorted(p for p in swaps.glob("swap_*.mp4") if not (hold_out_driving and p.stem[5:] in EVAL_DRIVING)) \
        if swaps is not None and swaps.is_dir() else []
    out += sorted(lipsyncs.glob("lipsync_*.mp4")) if lipsyncs is not None and lipsyncs.is_dir() else []
    for p in sorted(fakes.glob("*.mp4")):
        if p.stem.startswith("self_") and p.stem.endswith("_out") and person_of(p.stem[5:]) in TRAIN_PEOPLE:
            out.append(p)
        elif p.stem.startswith("x_video_") and person_of(p.stem[8:]) in TRAIN_PEOPLE:
            out.append(p)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", default="../shared/media")
    ap.add_argument("--fakes", default="bench/work/reenact", help="folder of synthvid outputs (bench/reenact.py)")
    ap.add_argument("--swaps", default="bench/work/detect/swaps_train",
                    help="folder of face-swap fakes (scripts/make_detector_fakes.py)")
    ap.add_argument("--lipsyncs", default=None,
                    help="folder of lip-sync fakes (scripts/make_detector_fakes.py --lipsync; not used by the shipped "
                         "weights: 20 more minutes with them lowered the benchmark, docs/provenance.md)")
    ap.add_argument("--run", default="runs/detector")
    ap.add_argument("--lr", type=float, default=DetectorTrainConfig().lr, help="learning rate (lower to fine-tune)")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--every", type=int, default=3, help="look at every N-th frame")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--mark-reals", type=float, default=0.0,
                    help="share of the real videos watermarked as synthvid marks its outputs (the synthvid fakes all "
                         "carry the mark, the reals none, and the network learns it: docs/provenance.md; 1.0 "
                         "reversed the cue, 0.5 left it near neutral)")
    ap.add_argument("--face-inset", type=float, default=DetectorTrainConfig().face_inset,
                    help="move the whole-face blend masks this share of the crop inside the face outline (off the "
                         "hairline and jaw shadow; docs/provenance.md)")
    ap.add_argument("--hold-out-driving", action="store_true",
                    help=f"keep the driving clips {', '.join(EVAL_DRIVING)} out of training (bench/detect.py then "
                         "measures on them too: video_auc_wide)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "src/synthvid/data/detector.pt"))
    args = ap.parse_args()
    media = Path(args.media)
    if not (media / "talking").is_dir():
        print(f"error: no development media at {media}", file=sys.stderr)
        return 2
    reals = training_reals(media, args.hold_out_driving)
    fakes = training_fakes(Path(args.fakes), Path(args.swaps), Path(args.lipsyncs) if args.lipsyncs else None,
                           args.hold_out_driving)
    print(f"{len(reals)} real videos/images, {len(fakes)} synthvid outputs")
    Path(args.run).parent.mkdir(parents=True, exist_ok=True)
    summary = train_detector(reals, args.run, fake=fakes, model=DetectorConfig(),
                             config=DetectorTrainConfig(lr=args.lr, face_inset=args.face_inset),
                             loop=LoopConfig(minutes=args.minutes, snapshot_minutes=3, preview_minutes=3,
                                             device=args.device),
                             every=args.every, max_per_video=300, mark_reals=args.mark_reals)
    if summary.interrupted:
        print(f"interrupted at step {summary.step}; re-run to continue (nothing exported)")
        return 130
    export_detector(args.run, args.out)
    if args.hold_out_driving:  # the held-out recordings give the verdict threshold (scripts/calibrate_detector.py)
        cal = calibrate_detector(args.out, [media / "driving" / f"{n}.mp4" for n in EVAL_DRIVING])
        print(f"calibrated threshold {cal['threshold']:.4f} ({cal['false_positive_rate']:.0%} false positives)")
    print(f"step {summary.step}, {summary.images_per_s:.0f} img/s, losses {summary.losses}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
