"""Neural refinement benchmark: self-reenactment with and without the refiner, on ../shared/media.

For each talking clip long enough (at least 500 frames): the refiner is trained on the clip's frames from
``--frames`` on (``synthvid reenact train --frames N:``) for ``--minutes`` of CPU, then the first ``--frames``
frames, never seen in training, are self-reenacted exactly as bench/reenact.py does (first frame as the portrait,
the clip as the driver) with and without ``--refine``. Scores: L1, PSNR and SSIM of the (watermarked) output
against the clip's own unmarked frames over the whole 256² frame, the same inside the face box only (where the
refiner works), and the cost per frame.

    python bench/reenact_refine.py                 # ~5 min per clip on 2 cores
    python bench/reenact_refine.py --clips obama_clip1 --minutes 2

Writes bench/results/reenact_refine.json and .md, and docs/img/reenact_refine.png with --docs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from common import goal, table, write_results  # noqa: E402
from reenact import MEDIA, clean_frames, clean_portrait, cut_clip  # noqa: E402
from synthvid.face.detect import detect_faces  # noqa: E402
from synthvid.io.output import Stamp, write_image  # noqa: E402
from synthvid.io.video import VideoReader, probe_video  # noqa: E402
from synthvid.metrics.image import l1, psnr, ssim  # noqa: E402
from synthvid.models.refiner import RefinerConfig  # noqa: E402
from synthvid.pipelines.reenact import ReenactConfig, reenact_photo  # noqa: E402
from synthvid.reenact.refine import Refiner, RefineTrainConfig, train_refiner  # noqa: E402
from synthvid.train.loop import LoopConfig  # noqa: E402
from synthvid.viz import image_grid, label  # noqa: E402

FOMM_L1 = 0.043


def face_box(frame: np.ndarray) -> tuple[slice, slice]:
    f = detect_faces(frame, max_faces=1)[0]
    x0, y0 = np.maximum(np.floor(f.landmarks[:, :2].min(0)).astype(int), 0)
    x1, y1 = np.ceil(f.landmarks[:, :2].max(0)).astype(int)
    return slice(y0, y1), slice(x0, x1)


def scores(real: list[np.ndarray], fake: list[np.ndarray], box: tuple[slice, slice]) -> dict:
    n = min(len(real), len(fake))
    r, f = real[:n], fake[:n]
    return {"l1": float(np.mean([l1(a, b) for a, b in zip(r, f)])),
            "psnr": float(np.mean([psnr(a, b) for a, b in zip(r, f)])),
            "ssim": float(np.mean([ssim(a, b) for a, b in zip(r, f)])),
            "face_l1": float(np.mean([l1(a[box], b[box]) for a, b in zip(r, f)])),
            "face_psnr": float(np.mean([psnr(a[box], b[box]) for a, b in zip(r, f)]))}


def refine_cost(model: Path, frame: np.ndarray, reps: int = 30) -> float:
    """ms per 256² frame of the refiner alone (alignment, network, paste-back), timed on its own."""
    refine = Refiner.load(model)
    lm = detect_faces(frame, max_faces=1)[0].landmarks
    for _ in range(3):
        refine(frame, lm)
    t0 = time.perf_counter()
    for _ in range(reps):
        refine(frame, lm)
    return (time.perf_counter() - t0) * 1000 / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", nargs="*", help="clip names (default: every talking clip with >= 500 frames)")
    ap.add_argument("--frames", type=int, default=250, help="evaluated frames (from the start); training uses the rest")
    ap.add_argument("--minutes", type=float, default=4.0, help="CPU training minutes per clip")
    ap.add_argument("--gan-weight", type=float, default=RefineTrainConfig().gan_weight)
    ap.add_argument("--docs", action="store_true", help="write docs/img/reenact_refine.png")
    args = ap.parse_args()
    if not MEDIA.is_dir():
        sys.exit(f"benchmark needs {MEDIA}")
    os.environ.setdefault("SYNTHVID_QUIET", "1")
    clips = [c for c in sorted((MEDIA / "talking").glob("*.mp4")) if probe_video(c).frame_count >= 500]
    if args.clips:
        clips = [c for c in clips if c.stem in args.clips]
    work = ROOT / "bench" / "work" / "reenact_refine"
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    rows, metrics, strips = [], {}, []
    plain_all, refined_all = [], []
    for clip in clips:
        cut = cut_clip(clip, work / f"self_{clip.stem}.mp4", args.frames, size=256)  # the driver
        real = clean_frames(clip, args.frames, 256)  # the truth, unmarked
        portrait = clean_portrait(real[0], work / f"self_{clip.stem}_portrait.png")
        model = work / f"refiner_{clip.stem}"
        summary = train_refiner(clip, model, RefinerConfig(), RefineTrainConfig(gan_weight=args.gan_weight),
                                LoopConfig(minutes=args.minutes), frames=(args.frames, None), quiet=True)
        box = face_box(real[0])
        res = {}
        for name, cfg in (("plain", ReenactConfig(neutral=0)),
                          ("refined", ReenactConfig(neutral=0, refine=str(model)))):
            out = work / f"self_{clip.stem}_{name}.mp4"
            rep = reenact_photo(portrait, cut, out, cfg, quiet=True)
            res[name] = {**scores(real, list(VideoReader(out)), box), "fps": rep.fps}
        plain_all.append(res["plain"])
        refined_all.append(res["refined"])
        for name, r in res.items():
            for k, v in r.items():
                metrics[f"{clip.stem}_{name}_{k}"] = v
        metrics[f"{clip.stem}_train_steps"] = summary.step
        rows.append([clip.stem, res["plain"]["l1"], res["refined"]["l1"], res["plain"]["face_l1"],
                     res["refined"]["face_l1"], res["plain"]["psnr"], res["refined"]["psnr"], res["plain"]["ssim"],
                     res["refined"]["ssim"], summary.step])
        print(clip.stem, {n: {k: round(v, 4) for k, v in r.items()} for n, r in res.items()}, flush=True)
        if len(strips) < 3:
            fake_p, fake_r = list(VideoReader(work / f"self_{clip.stem}_plain.mp4")), \
                list(VideoReader(work / f"self_{clip.stem}_refined.mp4"))
            idx = np.linspace(len(real) // 5, len(real) - 1, 4).round().astype(int)
            strips.append([[label(fake_p[i][box], "warp") for i in idx], [label(fake_r[i][box], "refined")
                                                                          for i in idx],
                           [label(real[i][box], "real") for i in idx]])
    mean = {k: float(np.mean([r[k] for r in plain_all])) for k in plain_all[0]}
    mean_r = {k: float(np.mean([r[k] for r in refined_all])) for k in refined_all[0]}
    metrics.update({f"self_{k}_mean_plain": v for k, v in mean.items()})
    metrics.update({f"self_{k}_mean_refined": v for k, v in mean_r.items()})
    metrics["l1_reduction_refined"] = 1.0 - mean_r["l1"] / mean["l1"]
    metrics["face_l1_reduction_refined"] = 1.0 - mean_r["face_l1"] / mean["face_l1"]
    metrics["refine_ms_per_frame"] = refine_cost(model, real[0])
    goals = {"self_l1_mean_refined": goal(FOMM_L1, "<=", mean_r["l1"]),
             "l1_reduction_refined": goal(0.0, ">=", metrics["l1_reduction_refined"])}  # must not make it worse
    sections = [
        ("Self-reenactment with and without the refiner (photo mode, first frame as portrait, 256²; held-out frames)",
         table(["clip", "L1 warp", "L1 refined", "face L1 warp", "face L1 refined", "PSNR warp", "PSNR refined",
                "SSIM warp", "SSIM refined", "training steps"], rows)
         + ["", f"Mean L1: {mean['l1']:.4f} without, {mean_r['l1']:.4f} with refinement "
            f"({100 * metrics['l1_reduction_refined']:.1f}% lower); inside the face box {mean['face_l1']:.4f} -> "
            f"{mean_r['face_l1']:.4f} ({100 * metrics['face_l1_reduction_refined']:.1f}% lower). The refiner alone "
            f"costs {metrics['refine_ms_per_frame']:.0f} ms per frame (whole-pipeline fps {mean['fps']:.1f} -> "
            f"{mean_r['fps']:.1f}). Reference: FOMM reports L1 {FOMM_L1} on VoxCeleb (GPU-trained); these clips "
            "are a subset of bench/reenact.py's (those with >= 500 frames, so that training frames and evaluated "
            "frames never overlap)."]),
    ]
    write_results("reenact_refine", "python bench/reenact_refine.py " + " ".join(sys.argv[1:]), metrics, goals,
                  sections, intro=f"Refiner trained {args.minutes:g} min per clip on 2 CPU cores on frames "
                  f"{args.frames}+ of each clip; evaluated on frames 0-{args.frames - 1}.")
    if args.docs and strips:
        rows_img = [r for s in strips for r in s]
        write_image(ROOT / "docs" / "img" / "reenact_refine.png", image_grid(rows_img, cell=160),
                    Stamp("bench.reenact_refine.strip"))
    print(f"done in {(time.time() - t_start) / 60:.1f} min")


if __name__ == "__main__":
    main()
