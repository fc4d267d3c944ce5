"""Make docs/img/reenact_demo.png: head crops of frames from the built-in demo's two animations.

    python -m synthvid demo -o demo_out && python scripts/demo_doc_image.py demo_out
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from synthvid.face.detect import detect_faces
from synthvid.io.output import Stamp, write_image
from synthvid.io.video import VideoReader
from synthvid.viz import image_grid, label

FRAMES = (0, 25, 40, 60, 110, 150, 175)  # neutral, talking, blink, turning, smiling, brows, turning back


def main() -> None:
    demo = Path(sys.argv[1] if len(sys.argv) > 1 else "demo_out")
    rows = []
    for name in ("astronaut", "hopper"):
        frames = list(VideoReader(demo / f"{name}_animated.mp4"))
        face = detect_faces(frames[0], max_faces=1)[0]
        cx, cy = face.center
        half = int(face.size * 0.8)
        row = []
        for i in FRAMES:
            f = frames[min(i, len(frames) - 1)]
            pad = cv2.copyMakeBorder(f, half, half, half, half, cv2.BORDER_REFLECT)
            crop = pad[int(cy): int(cy) + 2 * half, int(cx): int(cx) + 2 * half]
            row.append(label(np.ascontiguousarray(crop), f"{i / 25:.1f} s"))
        rows.append(row)
    out = Path(__file__).resolve().parents[1] / "docs" / "img" / "reenact_demo.png"
    write_image(out, image_grid(rows, cell=200), Stamp("docs.reenact_demo"))
    print(out)


if __name__ == "__main__":
    main()
