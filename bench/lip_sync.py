"""Lip-sync benchmark on ../shared/media.

- Mouth shape from held-out speech of the same speaker: person-specific stage fitted on obama_clip1 (andrew_clip1),
  tested on obama_clip2 (andrew_clip2), which the generic model never heard. LMD (mean lip-point distance over
  mouth width, pose-free) and correlation over time of predicted and real mouth opening, for: the target's mean
  mouth (baseline), opening proportional to loudness (baseline; gain and lag fitted on the training clip), the
  generic model, and the person-specific model (fine-tuned + ridge map). The mean shape is the training clip's.
- sync-check accuracy: every talking clip with its audio shifted by -10..-1 and +1..+10 frames (features shifted
  in memory, which is what moving the sound track does), error against the known shift.
- A/V offset of a rendered output: obama_clip1's footage made to say obama_clip2's speech, measured by sync-check.
- Speed: rendering fps (per output frame, after tracking) at 256² and 512²; training time of the models.

    python bench/lip_sync.py [--docs]     # 1-2 minutes on 2 cores

Writes bench/results/lip_sync.json and .md (and docs/img/lip_sync_*.png with --docs).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from common import corr, goal, table, write_results  # noqa: E402
from synthvid.io.audio import read_audio, write_wav  # noqa: E402
from synthvid.io.output import Stamp, write_image  # noqa: E402
from synthvid.lipsync.data import load_clip  # noqa: E402
from synthvid.lipsync.model import LipSyncModel  # noqa: E402
from synthvid.lipsync.shape import landmark_distance, opening  # noqa: E402
from synthvid.lipsync.sync import estimate_offset, shift_features, sync_check  # noqa: E402
from synthvid.lipsync.texture import MouthSynthesizer  # noqa: E402
from synthvid.pipelines.lip_sync import (LipSyncConfig, lipsync, load_target, predict_mouths,  # noqa: E402
                                         render_frame, train)
from synthvid.reenact.sequence import loudness_envelope  # noqa: E402
from synthvid.viz import image_grid, label  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
PAIRS = (("obama_clip1", "obama_clip2"), ("andrew_clip1", "andrew_clip2"))
SHIFTS = [s for s in range(-10, 11) if s != 0]


def loudness_baseline(train_clip, test_clip, train_path: Path, test_path: Path) -> np.ndarray:
    """mean + lag-shifted loudness x a fitted offset direction (gain and lag chosen on the training clip)."""
    def env(clip, path):
        return loudness_envelope(read_audio(path), 16000, clip.fps, len(clip))
    e_tr, e_te = env(train_clip, train_path), env(test_clip, test_path)
    off = train_clip.offsets().reshape(len(train_clip), -1)
    best = None
    for lag in range(-6, 7):
        e = shift_features(e_tr[:, None], lag)[:, 0]
        e = e - e.mean()
        v = (e[:, None] * off).sum(0) / max(float((e ** 2).sum()), 1e-9)
        err = float(((off - e[:, None] * v) ** 2).mean())
        if best is None or err < best[0]:
            best = (err, lag, v, float(e_tr.mean()))
    _, lag, v, m = best
    e = shift_features(e_te[:, None], lag)[:, 0] - m
    return train_clip.mean_shape()[None] + (e[:, None] * v).reshape(len(e), 59, 2)


CLOSED = 0.05  # mouth opening (inner-lip gap over mouth width) below which the lips count as closed


def opening_distance(pred: np.ndarray, real: np.ndarray) -> float:
    """How far apart two distributions of mouth opening are: mean gap between their 1st..99th percentiles
    (Wasserstein-1). A mouth that hovers half open is far from a real one that closes and opens wide."""
    q = np.linspace(0.01, 0.99, 99)
    return float(np.abs(np.quantile(pred, q) - np.quantile(real, q)).mean())


def shape_section(cache: Path, work: Path) -> tuple[dict, list[list[object]], dict]:
    metrics, rows, extra = {}, [], {}
    gains, corrs, distances = [], [], []
    for a, b in PAIRS:
        tr_path, te_path = MEDIA / "talking" / f"{a}.mp4", MEDIA / "talking" / f"{b}.mp4"
        tr, te = load_clip(tr_path, cache), load_clip(te_path, cache)
        real = te.shapes
        mean = np.repeat(tr.mean_shape()[None], len(te), 0)
        loud = loudness_baseline(tr, te, tr_path, te_path)
        generic = LipSyncModel.generic().shapes(te.features, te.fps, tr.mean_shape())
        t0 = time.monotonic()
        train([tr_path], work / f"model_{a}", quiet=True)
        fit_s = time.monotonic() - t0
        net = LipSyncModel.load(work / f"model_{a}")
        own = tr.shapes[tr.found]  # what the pipeline knows of the target: its own tracked mouths
        # as `synthvid lipsync` does on this target (mouth range: target, mapped through what the model predicts
        # for the target's own footage)
        person = predict_mouths(net, te.features, te.fps, own, own_speech=(tr.features, tr.found))
        person_model = predict_mouths(net, te.features, te.fps, own, LipSyncConfig(mouth_range="model"))
        res = {}
        seen = te.found
        for name, pred in (("mean", mean), ("loudness", loud), ("generic", generic),
                           ("person, model range", person_model), ("person", person)):
            o, o_real = opening(pred[seen]), opening(real[seen])
            res[name] = (landmark_distance(pred, real), corr(opening(pred), opening(real)),
                         opening_distance(o, o_real), float(np.mean(o < CLOSED)))
            rows.append([f"{a} -> {b}", name, *res[name]])
        rows.append([f"{a} -> {b}", "real", 0.0, 1.0, 0.0, float(np.mean(opening(real[seen]) < CLOSED))])
        best_base = min(res["mean"][0], res["loudness"][0])
        gain = 1 - res["person"][0] / best_base
        gains.append(gain)
        corrs.append(res["person"][1])
        key = a.split("_")[0]
        slug = {n: n.replace(", ", "_").replace(" ", "_") for n in res}
        metrics.update({f"lmd_{key}_{slug[n]}": v[0] for n, v in res.items()})
        metrics.update({f"opening_correlation_{key}_{slug[n]}": v[1] for n, v in res.items() if np.isfinite(v[1])})
        metrics.update({f"opening_distribution_distance_{key}_{slug[n]}": v[2] for n, v in res.items()})
        metrics[f"closed_share_{key}_person"] = res["person"][3]
        metrics[f"closed_share_{key}_real"] = float(np.mean(opening(real[seen]) < CLOSED))
        distances.append(res["person"][2])
        metrics[f"person_fit_seconds_{key}"] = fit_s
        extra[key] = (tr_path, te_path)
    metrics["lmd_reduction_vs_best_baseline"] = float(np.mean(gains))
    metrics["opening_correlation"] = float(np.mean(corrs))
    metrics["opening_distribution_distance"] = float(np.mean(distances))
    return metrics, rows, extra


def sync_section(cache: Path) -> tuple[dict, list[list[object]]]:
    rows, errs, rel_errs = [], [], []
    model = LipSyncModel.generic()
    for p in sorted((MEDIA / "talking").glob("*.mp4")):
        c = load_clip(p, cache)
        real = opening(c.shapes)
        zero = estimate_offset(real, c.features, c.fps, model=model).offset
        e = [estimate_offset(real, shift_features(c.features, s), c.fps, model=model).offset - s for s in SHIFTS]
        errs += e
        rel_errs += [x - zero for x in e]
        held = "held out" if p.stem in ("obama_clip2", "andrew_clip2") else "in generic training"
        rows.append([p.stem, held, zero, float(np.mean(np.abs(e) <= 1)), float(np.mean(np.abs(np.array(e) - zero) <= 1))])
    errs, rel = np.abs(errs), np.abs(rel_errs)
    return {"sync_check_within_1_frame": float(np.mean(errs <= 1)),
            "sync_check_within_1_frame_relative": float(np.mean(rel <= 1)),
            "sync_check_mean_abs_error_frames": float(errs.mean())}, rows


def render_section(work: Path, docs: bool) -> dict:
    metrics = {}
    out = work / "obama_says_clip2.mp4"
    speech = work / "speech.wav"
    write_wav(speech, read_audio(MEDIA / "talking" / "obama_clip2.mp4")[: 16000 * 12], 16000)
    rep = lipsync(MEDIA / "talking" / "obama_clip1.mp4", out, audio=speech, quiet=True,
                  preview=ROOT / "docs" / "img" / "lip_sync_preview.png" if docs else None)
    metrics["pipeline_fps_256"] = rep.fps
    metrics["rendered_av_offset_frames"] = float(sync_check(out).offset)
    for size, clip in ((256, "obama_clip1"), (512, "wda_aoc")):
        tgt = load_target(MEDIA / "talking" / f"{clip}.mp4")
        synth = MouthSynthesizer(tgt.bank)
        feats = load_clip(MEDIA / "talking" / f"{clip}.mp4", work / "cache").features
        shapes = predict_mouths(LipSyncModel.generic(), feats[::-1].copy(), tgt.fps, tgt.own_shapes())
        n = min(150, len(tgt.frames))
        t0 = time.monotonic()
        outs = [render_frame(tgt.frames[i], tgt.motion.states[i], shapes[i], synth) for i in range(n)]
        metrics[f"render_fps_{size}"] = n / (time.monotonic() - t0)
        if docs and size == 256:
            strip = []
            for i in (10, 40, 70, 100):
                st = tgt.motion.states[i]
                c = st.landmarks[:, :2][[61, 291, 0, 17]].mean(0).astype(int)
                h = 48
                crop = lambda im: im[max(c[1] - h, 0): c[1] + h, max(c[0] - 2 * h, 0): c[0] + 2 * h]  # noqa: E731
                strip.append([label(crop(tgt.frames[i]), "real"), label(crop(outs[i]), "synthesised")])
            write_image(ROOT / "docs" / "img" / "lip_sync_mouths.png", image_grid(strip),
                        Stamp("bench.lip_sync", synthetic=True))
    return metrics


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", action="store_true", help="also write docs/img/lip_sync_*.png")
    args = ap.parse_args()
    if not (MEDIA / "talking").is_dir():
        print(f"error: development media not found at {MEDIA}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="lipsync-bench-"))
    cache = ROOT / "bench" / "work" / "lipsync-cache"
    t0 = time.monotonic()
    metrics, shape_rows, _ = shape_section(cache, work)
    sync_metrics, sync_rows = sync_section(cache)
    metrics.update(sync_metrics)
    metrics.update(render_section(work, args.docs))
    from importlib import resources  # noqa: PLC0415

    from synthvid.lipsync.model import _load_network  # noqa: PLC0415
    with resources.as_file(resources.files("synthvid.data").joinpath("audio2mouth.pt")) as p:
        metrics["generic_model_steps"] = float(_load_network(p)[1])
    metrics["bench_seconds"] = time.monotonic() - t0
    goals = {
        "lmd_reduction_vs_best_baseline": goal(0.30, ">=", metrics["lmd_reduction_vs_best_baseline"]),
        "opening_correlation": goal(0.8, ">=", metrics["opening_correlation"]),
        "rendered_av_offset_frames": goal(1.0, "<=", abs(metrics["rendered_av_offset_frames"])),
        "sync_check_within_1_frame": goal(0.9, ">=", metrics["sync_check_within_1_frame"]),
        # The same, against the estimate for the unshifted clip: several dev clips are themselves a few frames out
        # of sync (leave-one-out estimates agree), which the absolute figure counts as errors.
        "sync_check_within_1_frame_relative": goal(0.9, ">=", metrics["sync_check_within_1_frame_relative"]),
        "render_fps_256": goal(30.0, ">=", metrics["render_fps_256"]),
    }
    sections = [
        ("Mouth shape on held-out speech", table(["train -> test", "method", "LMD (x mouth width)",
                                                  "opening correlation", "opening distribution distance",
                                                  f"closed share (opening < {CLOSED})"], shape_rows)
         + ["", "person: what `synthvid lipsync` does (the target's own range of mouth opening, quantile-mapped); "
            "person, model range: the speech filter's own range (`--mouth-range model`). Opening distribution "
            "distance: mean gap between the percentiles of predicted and real mouth opening over the clip."]),
        ("sync-check on shifted audio (shifts -10..-1, +1..+10 frames)",
         table(["clip", "clip vs the generic model", "estimate at shift 0", "within 1 frame of the shift",
                "within 1 frame, relative to the shift-0 estimate"], sync_rows)),
        ("Other figures", table(["metric", "value"], [[k, v] for k, v in metrics.items()
                                                       if not k.startswith(("lmd_", "opening_", "closed_"))])),
    ]
    write_results("lip_sync", "python bench/lip_sync.py --docs", metrics, goals, sections,
                  intro="Generic model: scripts/train_audio2mouth.py on every dev talking clip except obama_clip2 "
                        "and andrew_clip2 (closed-form speech filter + LSTM correction). Person-specific: `synthvid "
                        "lipsync train` (speech filter re-solved with the target's statistics, weight 2; no LSTM "
                        "fine-tuning) on the *_clip1 of the same speaker.")
    print((ROOT / "bench" / "results" / "lip_sync.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
