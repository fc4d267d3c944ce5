"""Make face-swap training fakes for the detector: the training people's clips converted by a synthvid face-swap model.

    python scripts/make_detector_fakes.py --model bench/work/run/model [--out bench/work/detect/swaps_train]

Every driving clip and every talking clip of scripts/train_detector.py's TRAIN_PEOPLE (first 300 frames) gets the
model's other face painted in (the face-swap benchmark's model puts andrew, a training person, into them).
The outputs are named ``swap_<clip>.mp4``; `scripts/train_detector.py --swaps DIR` picks them up. Clips of the
held-out people are never converted, so the benchmark's reals and their swaps stay unseen.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from train_detector import TRAIN_PEOPLE, person_of

from synthvid.pipelines.face_swap_convert import ConvertConfig, convert


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="face-swap model folder (synthvid swap train)")
    ap.add_argument("--media", default="../shared/media")
    ap.add_argument("--out", default="bench/work/detect/swaps_train")
    ap.add_argument("--frames", type=int, default=300)
    args = ap.parse_args()
    media, out = Path(args.media), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clips = sorted((media / "driving").glob("*.mp4")) + sorted(
        p for p in (media / "talking").glob("*.mp4") if person_of(p.stem) in TRAIN_PEOPLE and
        not p.stem.startswith("andrew"))  # andrew is the model's other face: a swap would change nothing
    for clip in clips:
        dst = out / f"swap_{clip.stem}.mp4"
        if dst.exists():
            continue
        try:
            # force: the identity check refuses faces nearer to the model's B than to its A (these are neither)
            r = convert(clip, args.model, dst, ConvertConfig(force=True), frames=(0, args.frames), quiet=True)
            print(f"{dst}: {r}".splitlines()[0][:160], flush=True)
        except Exception as e:  # noqa: BLE001 - a clip the model cannot convert is skipped, not fatal
            print(f"skipped {clip.name}: {e}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
