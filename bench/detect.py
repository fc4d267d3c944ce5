"""Detector benchmark: ROC AUC of `synthvid detect` on real talking clips of people the detector never saw versus
generated talking heads of other tools and synthvid's own face swap, reenactment and lip-sync outputs, at frame and
video level; a control of real clips that only passed through synthvid's writer (watermark, no manipulation); cost.

    python bench/detect.py [--model runs/detector] [--job NAME] [--compare OTHER_JOB] [--docs]

Reals: the talking clips of scripts/train_detector.py's EVAL_PEOPLE (held out of training). Fakes:
../shared/media/fakes (VASA-1 / EMO outputs, never trained on); synthvid outputs made by bench/reenact.py
(self-reenactment of the eval people's clips, photo reenactment of portraits kept out of training) and
bench/face_swap.py (the held-out obama clips with andrew's face), read from bench/work (missing ones are skipped);
lip sync made here (each real clip saying 8 s of the next one's speech, default settings; cached in bench/work).
Also: how much a real clip's score moves under global edits of its look (saturation, gamma, white balance), which a
detector of manipulation should not care about.

With a few real videos the AUC is uncertain: the benchmark reports a 90% bootstrap interval (videos resampled), keeps
every video's score in bench/work/detect/scores_JOB.json, and with ``--compare OTHER_JOB`` gives the paired bootstrap
interval of the difference to that earlier run on the same videos (a difference whose interval holds 0 is noise).
To narrow it, the held-out driving clips of 7 more people (train_detector.py's EVAL_DRIVING, set ``real_driving``)
join the reals in ``video_auc_wide``; only weights trained with ``--hold-out-driving`` have not seen them (the
shipped ones have), so compare ``video_auc_wide`` between such runs only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "scripts"))
from common import goal, table, write_results  # noqa: E402
from train_detector import EVAL_DRIVING, EVAL_PEOPLE, EVAL_PORTRAITS, person_of  # noqa: E402

from synthvid.errors import InputError  # noqa: E402
from synthvid.io.files import atomic_path  # noqa: E402
from synthvid.io.output import Stamp, VideoOutput  # noqa: E402
from synthvid.io.video import VideoReader, VideoWriter, probe_video  # noqa: E402
from synthvid.metrics import auc_difference_interval, auc_interval, roc_auc  # noqa: E402
from synthvid.provenance.detect import detect_file, load_detector  # noqa: E402
from synthvid.provenance.self_blend import LOOK_EDITS, edit_look  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
WORK = ROOT / "bench" / "work"
FRAMES = 32


FAKE_SETS = ("external", "synthvid_reenact", "synthvid_swap", "synthvid_lipsync")


def scores_path(job: str) -> Path:
    return WORK / "detect" / f"scores_{job}.json"


def compare(scores: dict[str, dict[str, list[float]]], other: str) -> dict[str, float]:
    """Paired bootstrap of this run's video AUC minus ``other``'s, on the videos both scored (and of the wide AUC,
    when both runs scored the held-out driving clips)."""
    theirs = json.loads(scores_path(other).read_text())

    def common(sets: tuple[str, ...]) -> tuple[list[float], list[float]]:
        keys = [(s, v) for s in sets for v in sorted(scores.get(s, {})) if v in theirs.get(s, {})]
        return ([float(np.mean(scores[s][v])) for s, v in keys], [float(np.mean(theirs[s][v])) for s, v in keys])

    out = {}
    fake_a, fake_b = common(FAKE_SETS)
    for name, real_sets in (("video_auc", ("real",)), ("video_auc_wide", ("real", "real_driving"))):
        real_a, real_b = common(real_sets)
        if name == "video_auc_wide" and len(real_a) == len(common(("real",))[0]):
            continue  # one of the runs has no driving-clip scores
        d, lo, hi = auc_difference_interval(real_a, fake_a, real_b, fake_b)
        out.update({f"{name}_minus_{other}": d, f"{name}_minus_{other}_ci90_low": lo,
                    f"{name}_minus_{other}_ci90_high": hi})
    return out


def eval_sets() -> dict[str, list[Path]]:
    reals = sorted(p for p in (MEDIA / "talking").glob("*.mp4") if person_of(p.stem) in EVAL_PEOPLE)
    reen = WORK / "reenact"
    stages = sorted(WORK.glob("run/eval_*"), key=lambda d: int(d.name[5:]) if d.name[5:].isdigit() else -1)
    swaps = sorted(stages[-1].glob("heldout_*.mp4")) if stages else []  # the longest-trained face-swap model
    return {
        "real": reals,
        "real_driving": sorted(p for p in (MEDIA / "driving").glob("*.mp4") if p.stem in EVAL_DRIVING),
        "external": sorted((MEDIA / "fakes").glob("*.mp4")),
        "synthvid_reenact": sorted(p for p in reen.glob("self_*_out.mp4") if person_of(p.stem[5:]) in EVAL_PEOPLE)
        + sorted(p for p in reen.glob("x_photo_*.mp4") if any(p.stem[8:].startswith(e) for e in EVAL_PORTRAITS)),
        "synthvid_swap": swaps,
    }


def watermarked_copies(reals: list[Path], out: Path) -> list[Path]:
    """Real clips passed through synthvid's writer unchanged (watermarked and re-encoded, nothing manipulated)."""
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for p in reals[:3]:
        dst = out / f"passthrough_{p.stem}.mp4"
        if not dst.exists():
            info = probe_video(p)
            with VideoReader(p, end=300) as r, VideoOutput(dst, fps=info.fps_fraction, width=info.width,
                                                           height=info.height, stamp=Stamp("bench.passthrough",
                                                                                           synthetic=False)) as w:
                for f in r:
                    w.write(f)
        made.append(dst)
    return made


def lipsync_outputs(reals: list[Path], out: Path) -> list[Path]:
    """Each real clip made to say 8 s of the next real clip's speech by `synthvid lipsync` (default settings)."""
    from synthvid.io.audio import read_audio, write_wav  # noqa: PLC0415
    from synthvid.pipelines.lip_sync import lipsync  # noqa: PLC0415

    out.mkdir(parents=True, exist_ok=True)
    made = []
    for i, target in enumerate(reals):
        speaker = reals[(i + 1) % len(reals)]
        dst = out / f"lipsync_{target.stem}_says_{speaker.stem}.mp4"
        if not dst.exists():
            try:
                wav = write_wav(out / f"speech_{speaker.stem}.wav", read_audio(speaker)[: 16000 * 8], 16000)
                lipsync(target, dst, audio=wav, quiet=True)
            except InputError as e:  # e.g. no usable face: recorded by its absence, not fatal
                print(f"lip sync of {target.name} skipped: {e}", flush=True)
                continue
        made.append(dst)
    return made


def reencoded(paths: list[Path], out: Path, crf: int = 28) -> list[Path]:
    """The first 10 s of each video re-encoded with H.264 at ``crf`` (what a sharing site does), not watermarked."""
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for p in paths:
        dst = out / f"crf{crf}_{p.stem}.mp4"
        if not dst.exists():
            info = probe_video(p)
            with atomic_path(dst) as tmp, VideoReader(p, end=int(10 * info.fps) or None) as r, VideoWriter(
                    tmp, fps=info.fps_fraction, width=info.width, height=info.height, crf=crf, preset="medium") as w:
                for f in r:
                    w.write(f)
        made.append(dst)
    return made


def look_sensitivity(reals: list[Path], model: str | None, frames: int = 16) -> dict[str, float]:
    """Mean and largest change of a real video's score (mean over ``frames`` face crops) under each global edit of
    the crops' colour or exposure (``self_blend.LOOK_EDITS``); a real clip stays real whatever its colour grading."""
    from synthvid.face.detect import FaceDetector  # noqa: PLC0415
    from synthvid.provenance.detect import face_crops, load_detector, score_crops  # noqa: PLC0415

    net = load_detector(model)
    changes = []
    for p in reals:
        crops = []
        with VideoReader(p) as r, FaceDetector(max_faces=1, video=False) as detector:
            want = set(np.linspace(0, max(len(r), 1) - 1, frames).round().astype(int).tolist())
            for _, f in r.pick(want):
                found = face_crops(f, detector, net.cfg)
                crops += [found[0].crop] if found else []
        if not crops:
            continue
        base = float(score_crops(net, crops)[0].mean())
        for name in LOOK_EDITS:
            changes.append(abs(float(score_crops(net, [edit_look(c, name) for c in crops])[0].mean()) - base))
    return {"real_score_change_under_colour_edits": float(np.mean(changes)),
            "real_score_change_under_colour_edits_max": float(np.max(changes))}


def training_of(model: str | None) -> dict:
    """The checkpoint (or shipped weights file) being measured: its step and training time."""
    from importlib import resources  # noqa: PLC0415

    from synthvid.train.checkpoint import load_checkpoint  # noqa: PLC0415

    if model is None:
        with resources.as_file(resources.files("synthvid.data").joinpath("detector.pt")) as p:
            return load_checkpoint(p)
    p = Path(model)
    return load_checkpoint(p / "checkpoint.pt" if p.is_dir() else p)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="detector run folder or weights (default: the shipped one)")
    ap.add_argument("--docs", action="store_true", help="also write the heat-map figures of docs/provenance.md")
    ap.add_argument("--job", default="detect", help="results name (bench/results/JOB.json), e.g. for another stage")
    ap.add_argument("--compare", default=None, metavar="OTHER_JOB",
                    help="paired bootstrap of the video AUC against an earlier run's saved scores")
    args = ap.parse_args()
    if args.compare and not scores_path(args.compare).is_file():
        print(f"error: no saved scores of {args.compare!r} at {scores_path(args.compare)} (run the benchmark with "
              f"--job {args.compare} first)", file=sys.stderr)
        return 2
    if not (MEDIA / "talking").is_dir():
        print(f"error: no development media at {MEDIA}", file=sys.stderr)
        return 2
    sets = eval_sets()
    sets["control_watermarked_real"] = watermarked_copies(sets["real"], WORK / "detect")
    sets["synthvid_lipsync"] = lipsync_outputs(sets["real"], WORK / "detect" / "lipsync")
    sets["crf28_real"] = reencoded(sets["real"], WORK / "detect" / "crf28")
    sets["crf28_fake"] = reencoded([p for n in FAKE_SETS for p in sets[n]], WORK / "detect" / "crf28")
    scores: dict[str, dict[str, list[float]]] = {}
    rows, seconds, frames = [], 0.0, 0
    for name, paths in sets.items():
        scores[name] = {}
        for p in paths:
            t = time.perf_counter()
            try:
                r = detect_file(p, model=args.model, max_frames=FRAMES, quiet=True)
            except InputError as e:  # e.g. no face found: recorded, not fatal
                rows.append([name, p.name, 0, "n/a", str(e)[:60], ""])
                print(f"{name:26s} {p.name:44s} skipped: {e}", flush=True)
                continue
            seconds += time.perf_counter() - t
            frames += len(r.frames) + r.frames_without_face
            scores[name][p.name] = r.frame_probabilities
            rows.append([name, p.name, len(r.frames), r.probability, min(r.frame_probabilities),
                         max(r.frame_probabilities)])
            print(f"{name:26s} {p.name:44s} {r.probability:.3f}", flush=True)

    def video(name: str) -> list[float]:
        return [float(np.mean(v)) for v in scores[name].values()]

    def frame(name: str) -> list[float]:
        return [x for v in scores[name].values() for x in v]

    metrics: dict[str, float] = {}
    for name in FAKE_SETS + ("control_watermarked_real",):
        metrics[f"video_auc_{name}"] = roc_auc(video("real"), video(name))
        metrics[f"frame_auc_{name}"] = roc_auc(frame("real"), frame(name))
    all_fake_v = [x for n in FAKE_SETS for x in video(n)]
    all_fake_f = [x for n in FAKE_SETS for x in frame(n)]
    metrics["video_auc"] = roc_auc(video("real"), all_fake_v)
    metrics["video_auc_ci90_low"], metrics["video_auc_ci90_high"] = auc_interval(video("real"), all_fake_v)
    metrics["frame_auc"] = roc_auc(frame("real"), all_fake_f)
    wide = video("real") + video("real_driving")
    metrics["video_auc_wide"] = roc_auc(wide, all_fake_v)
    metrics["video_auc_wide_ci90_low"], metrics["video_auc_wide_ci90_high"] = auc_interval(wide, all_fake_v)
    metrics["frame_auc_wide"] = roc_auc(frame("real") + frame("real_driving"), all_fake_f)
    for name in FAKE_SETS:
        metrics[f"video_auc_wide_{name}"] = roc_auc(wide, video(name))
    metrics["video_auc_crf28"] = roc_auc(video("crf28_real"), video("crf28_fake"))
    metrics["frame_auc_crf28"] = roc_auc(frame("crf28_real"), frame("crf28_fake"))
    metrics["video_accuracy_at_0_5"] = float(np.mean([v < 0.5 for v in video("real")] + [v >= 0.5 for v in all_fake_v]))
    cal = load_detector(args.model).calibration
    if cal:  # the verdict `synthvid detect` gives by default, on the talking clips (never used to calibrate)
        t = cal["threshold"]
        metrics["calibrated_threshold"] = t
        metrics["false_positive_rate_at_calibrated_threshold"] = float(np.mean([v >= t for v in video("real")]))
        metrics["true_positive_rate_at_calibrated_threshold"] = float(np.mean([v >= t for v in all_fake_v]))
        metrics["video_accuracy_at_calibrated_threshold"] = float(
            np.mean([v < t for v in video("real")] + [v >= t for v in all_fake_v]))
    metrics["mean_probability_real"] = float(np.mean(video("real")))
    metrics["mean_probability_real_driving"] = float(np.mean(video("real_driving")))
    metrics["mean_probability_watermarked_real"] = float(np.mean(video("control_watermarked_real")))
    for name in FAKE_SETS:
        metrics[f"mean_probability_{name}"] = float(np.mean(video(name))) if video(name) else float("nan")
    metrics["detect_ms_per_frame"] = 1000.0 * seconds / max(frames, 1)
    metrics.update(look_sensitivity(sets["real"], args.model))
    saved = scores_path(args.job)
    with atomic_path(saved) as tmp:
        Path(tmp).write_text(json.dumps(scores, indent=1))
    if args.compare:
        metrics.update(compare(scores, args.compare))
    ck = training_of(args.model)
    metrics["training_steps"] = int(ck["step"])
    metrics["training_minutes"] = round(float(ck.get("elapsed_s", 0.0)) / 60, 1)
    metrics["videos_real"] = len(sets["real"])
    metrics["videos_real_driving"] = len(scores["real_driving"])
    metrics["videos_fake"] = len(all_fake_v)
    goals = {
        "video_auc_external": goal(0.95, ">=", metrics["video_auc_external"]),
        "video_auc_synthvid_reenact": goal(0.95, ">=", metrics["video_auc_synthvid_reenact"]),
        "video_auc_synthvid_swap": goal(0.95, ">=", metrics["video_auc_synthvid_swap"]),
        "video_auc_synthvid_lipsync": goal(0.95, ">=", metrics["video_auc_synthvid_lipsync"]),
        "video_auc": goal(0.95, ">=", metrics["video_auc"]),
    }
    sections = [("Per video", table(["set", "file", "frames", "probability", "min frame", "max frame"], rows)),
                ("All figures", table(["metric", "value"], [[k, v] for k, v in metrics.items()]))]
    intro = (f"Reals: talking clips of people held out of training ({', '.join(EVAL_PEOPLE)}). Up to {FRAMES} frames "
             "per video, spread evenly; a video's score is the mean of its frames' scores. AUC with few videos per "
             "set is coarse (one video moves it by 1/(reals x fakes); video_auc_ci90: 90% bootstrap interval, videos resampled; "
             "video_auc_minus_JOB: paired bootstrap against another run on the same videos). control_watermarked_real: real clips that "
             "only passed through synthvid's writer; an AUC near 0.5 there means the detector does not key on the "
             "watermark or re-encoding. video_auc_wide: the reals joined by set real_driving, the driving clips of "
             f"7 more people ({', '.join(EVAL_DRIVING)}), unseen only by weights trained with --hold-out-driving "
             "(not the shipped ones). calibrated_threshold: the weights' own verdict threshold (scripts/"
             "calibrate_detector.py, from the driving clips only), and the rates it gives on the talking reals and "
             "all fakes. crf28: every real and fake video's first 10 s re-encoded with H.264 CRF 28. "
             "real_score_change_under_colour_edits: mean (and largest) change of a real video's score, over 16 face "
             f"crops, when the crops' colour or exposure is edited globally ({', '.join(LOOK_EDITS)}).")
    cmd = "python bench/detect.py" + (f" --model {args.model}" if args.model else "") + (
        f" --job {args.job}" if args.job != "detect" else "")
    path = write_results(args.job, cmd, metrics, goals, sections, intro=intro)
    print(f"wrote {path}")
    if args.docs:
        write_figures(sets, args.model)
    return 0


def write_figures(sets: dict[str, list[Path]], model: str | None) -> None:
    """Heat maps of one real clip, one external fake and one synthvid output of each kind, for the docs."""
    img = ROOT / "docs" / "img"
    picks = {"real": sets["real"][:1], "external": sets["external"][:1], "reenact": sets["synthvid_reenact"][:1],
             "swap": sets["synthvid_swap"][:1]}
    for name, paths in picks.items():
        for p in paths:
            detect_file(p, model=model, max_frames=FRAMES, heatmap=img / f"detect_{name}.jpg", quiet=True)


if __name__ == "__main__":
    sys.exit(main())
