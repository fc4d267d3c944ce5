"""Build synthvid's expression basis: how the 478 frontal landmarks move per unit of each expression measure.

Real faces in motion are tracked (synthvid.reenact.motion), brought into the canonical frame, and centred per clip;
the frontal landmarks are then regressed (least squares, jointly) on a few measures of
:mod:`synthvid.face.expression` — mouth opening, mouth width, smile, each eye's opening, brow raise. Each row of
the result is the landmark displacement of one unit of one measure with the others held still: a data-driven
"blendshape". synthvid uses it to animate a face without a driving video (the built-in demo sequence).

    python scripts/build_expression_basis.py VIDEO... [-o src/synthvid/data/expression_basis.npz]

The committed file was built from the talking-head and driving clips in ../shared/media (see the npz's
``sources``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from synthvid.face.expression import FEATURES, expression_features
from synthvid.reenact.motion import track_video

CHANNELS = ("mouth_open", "mouth_width", "smile", "eye_open_right", "eye_open_left", "brow")


def channels(features: np.ndarray) -> np.ndarray:
    f = {name: features[:, i] for i, name in enumerate(FEATURES)}
    return np.stack([f["mouth_open"], f["mouth_width"], f["smile"], f["eye_open_right"], f["eye_open_left"],
                     (f["brow_right"] + f["brow_left"]) / 2], 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("videos", nargs="+")
    ap.add_argument("-o", "--output", default=str(Path(__file__).resolve().parents[1] / "src" / "synthvid" / "data"
                                                  / "expression_basis.npz"))
    args = ap.parse_args()
    xs, ys, used = [], [], []
    for path in args.videos:
        motion = track_video(path)
        keep = motion.found
        frontal = motion.frontal()[keep].astype(np.float64)
        feats = channels(np.stack([expression_features(s.landmarks) for s, k in zip(motion.states, keep) if k]))
        if len(frontal) < 30:
            continue
        xs.append(feats - feats.mean(0))
        ys.append((frontal - frontal.mean(0)).reshape(len(frontal), -1))
        used.append(Path(path).name)
        print(f"{Path(path).name}: {len(frontal)} frames", file=sys.stderr)
    x, y = np.concatenate(xs), np.concatenate(ys)
    basis, *_ = np.linalg.lstsq(x, y, rcond=None)
    spread = x.std(0)
    fit = 1 - ((y - x @ basis) ** 2).sum() / (y ** 2).sum()
    print(f"{len(x)} frames from {len(used)} clips; variance explained {fit:.2f}; spread "
          + ", ".join(f"{c} {s:.3f}" for c, s in zip(CHANNELS, spread)), file=sys.stderr)
    np.savez_compressed(args.output, basis=basis.reshape(len(CHANNELS), -1, 3).astype(np.float32),
                        channels=np.array(CHANNELS), spread=spread.astype(np.float32), sources=np.array(used))


if __name__ == "__main__":
    main()
