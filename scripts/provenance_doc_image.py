"""docs/img/provenance_mark.png: a real frame, the same frame marked, and the change amplified 15x."""

from pathlib import Path

import av
import cv2
import numpy as np

from synthvid.provenance import watermark as wm

clip = Path(__file__).resolve().parents[2] / "shared" / "media" / "talking" / "retalking_face2.mp4"
with av.open(str(clip)) as c:
    frame = next(iter(c.decode(video=0))).to_ndarray(format="rgb24")
frame = cv2.resize(frame, (512, 512), interpolation=cv2.INTER_AREA)
marked = wm.Embedder(wm.Payload(content_id=0x5EED)).__call__(frame)
diff = np.clip(128 + 15.0 * (marked.astype(np.float32) - frame), 0, 255).astype(np.uint8)
strip = np.concatenate([frame, marked, diff], axis=1)
out = Path(__file__).resolve().parents[1] / "docs" / "img" / "provenance_mark.png"
cv2.imwrite(str(out), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
print(out, f"PSNR {wm.psnr_of_mark(frame, marked):.1f} dB")
