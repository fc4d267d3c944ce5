"""Train the speaker-generic audio-to-mouth model shipped in src/synthvid/data/audio2mouth.pt.

    python scripts/train_audio2mouth.py [--steps 200] [--media ../shared/media] [--run runs/audio2mouth-aligned]

Trains on every talking clip with speech in the development media EXCEPT the lip-sync benchmark's held-out clips
(obama_clip2, andrew_clip2), so the benchmark measures speech the model never heard. First the speech filter is
solved in closed form (its statistics are kept in the weights, for the person-specific stage), then the LSTM
correction is trained on top of it with the shared loop (resumable: re-running continues). Writes the slim weights
(state dict + config) to the package data folder. Before training, every clip's A/V sync is checked with the generic
model shipped at the time, and clips 2+ frames off are moved into sync (``--no-align``: as they are).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from synthvid.lipsync.data import load_clip
from synthvid.lipsync.sync import align_clip, shift_clip
from synthvid.lipsync.training import Audio2MouthTask, Audio2MouthTrainConfig, fit_generic_pca, new_model
from synthvid.models.audio2mouth import ARCH, Audio2MouthConfig
from synthvid.train.checkpoint import load_checkpoint, save_checkpoint
from synthvid.train.loop import LoopConfig, train

HELD_OUT = ("obama_clip2", "andrew_clip2")
EXTRA = ("driving/lp_d11", "driving/lp_d20", "driving/tpsmm_driving", "driving/edtalk_mouth")


def training_clips(media: Path) -> list[Path]:
    talking = sorted(p for p in (media / "talking").glob("*.mp4") if p.stem not in HELD_OUT)
    return talking + [media / f"{e}.mp4" for e in EXTRA if (media / f"{e}.mp4").is_file()]


# The offsets the shipped weights were trained with (estimated by the generic network shipped before them): a
# fresh run reproduces the shipped weights; --realign estimates them again with the weights shipped now.
SHIPPED_ALIGNMENT = Path(__file__).with_name("audio2mouth_alignment.json")


def aligned_clips(clips: list, run: Path, realign: bool = False) -> list:
    """Several dev clips are a few frames out of sync; trained on as they are, the model learns a blurred notion of
    timing. Each clip is moved into sync by the offsets the shipped weights were trained with
    (scripts/audio2mouth_alignment.json), or, with ``realign``, by offsets estimated with the generic network shipped
    when the run starts when 2+ frames off with confidence 0.2+ (synthvid.lipsync.sync.align_clip). The offsets
    are kept in the run folder (alignment.json), so a resumed run trains on the same data."""
    record = run / "alignment.json"
    source = record if record.is_file() else (SHIPPED_ALIGNMENT if SHIPPED_ALIGNMENT.is_file() and not realign
                                              else None)
    if source is not None:
        offsets = json.loads(source.read_text())
        print(f"alignment of the clips from {source}")
        run.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(offsets, indent=2, sort_keys=True) + "\n")
    else:
        offsets = {}
        for c in clips:
            a = align_clip(c)
            offsets[c.name] = a.result.offset if a.applied and a.result is not None else 0
            if a.note():
                print(a.note())
        run.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(offsets, indent=2, sort_keys=True) + "\n")
    return [shift_clip(c, int(offsets.get(c.name, 0))) for c in clips]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", default="../shared/media")
    ap.add_argument("--run", default="runs/audio2mouth-aligned")
    ap.add_argument("--cache", default="runs/lipsync-cache")
    # Four minutes of speech from ~15 speakers is little data: an LSTM correction wider than 8 or trained faster
    # or longer than this overfits (held-out mouth-opening correlation falls from 0.49 after ~200 steps at 2e-3).
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--hidden", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--noise", type=float, default=0.3)
    ap.add_argument("--no-align", action="store_true", help="train on the clips as they are (no A/V sync check)")
    ap.add_argument("--realign", action="store_true", help="estimate the clips' offsets again with the shipped "
                    "network instead of using scripts/audio2mouth_alignment.json (the shipped weights' offsets)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "src/synthvid/data/audio2mouth.pt"))
    args = ap.parse_args()
    media = Path(args.media)
    if not (media / "talking").is_dir():
        print(f"error: no development media at {media}", file=sys.stderr)
        return 2
    clips = [load_clip(p, cache_dir=args.cache, quiet=False) for p in training_clips(media)]
    print(f"{len(clips)} clips, {sum(len(c) for c in clips)} frames")
    if not args.no_align:
        clips = aligned_clips(clips, Path(args.run), args.realign)
    cfg = Audio2MouthConfig(hidden=args.hidden)
    torch.manual_seed(0)
    model = new_model(cfg, fit_generic_pca(clips, cfg.components), clips)
    Path(args.run).parent.mkdir(parents=True, exist_ok=True)
    task = Audio2MouthTask(clips, model, Audio2MouthTrainConfig(feature_noise=args.noise, lr=args.lr), seed=0)
    summary = train(task, args.run, LoopConfig(steps=args.steps, snapshot_minutes=2, preview_minutes=2))
    ck = load_checkpoint(summary.checkpoint, ARCH)
    save_checkpoint(args.out, {"arch": ARCH, "config": ck["config"], "state_dict": ck["state_dict"],
                               "optimizer": {}, "step": ck["step"], "rng": {}})
    print(f"step {summary.step}, loss {summary.losses}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
