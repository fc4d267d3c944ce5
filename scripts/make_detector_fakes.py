"""Make training fakes for the detector from the training people's clips: face swaps, or lip sync.

    python scripts/make_detector_fakes.py --model bench/work/run/model [--out bench/work/detect/swaps_train]
    python scripts/make_detector_fakes.py --lipsync [--out bench/work/detect/lipsync_train]

Face swap: every driving clip and every talking clip of scripts/train_detector.py's TRAIN_PEOPLE (first 300 frames)
gets the model's other face painted in (the face-swap benchmark's model puts andrew, a training person, into them);
the outputs are named ``swap_<clip>.mp4`` and `scripts/train_detector.py --swaps DIR` picks them up. Lip sync: the
same clips made to say 8 s of the next clip's speech with `synthvid lipsync` (default settings), named
``lipsync_<clip>.mp4``, picked up by `--lipsyncs DIR`. Clips of the held-out people are never used, so the
benchmark's reals and their fakes stay unseen.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from train_detector import TRAIN_PEOPLE, person_of

from synthvid.io.audio import read_audio, write_wav
from synthvid.pipelines.face_swap_convert import ConvertConfig, convert
from synthvid.pipelines.lip_sync import lipsync


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="face-swap model folder (synthvid swap train)")
    ap.add_argument("--lipsync", action="store_true", help="make lip-sync fakes instead of face swaps")
    ap.add_argument("--media", default="../shared/media")
    ap.add_argument("--out", default=None, help="default: bench/work/detect/swaps_train (lipsync_train)")
    ap.add_argument("--frames", type=int, default=300)
    args = ap.parse_args()
    if not args.lipsync and not args.model:
        ap.error("give --model (face swaps) or --lipsync")
    media = Path(args.media)
    out = Path(args.out or ("bench/work/detect/lipsync_train" if args.lipsync else "bench/work/detect/swaps_train"))
    out.mkdir(parents=True, exist_ok=True)
    clips = sorted((media / "driving").glob("*.mp4")) + sorted(
        p for p in (media / "talking").glob("*.mp4") if person_of(p.stem) in TRAIN_PEOPLE)
    if args.lipsync:
        return make_lipsyncs(clips, out)
    clips = [c for c in clips if not c.stem.startswith("andrew")]  # the model's other face: a swap changes nothing
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


def make_lipsyncs(clips: list[Path], out: Path) -> int:
    for i, clip in enumerate(clips):
        dst = out / f"lipsync_{clip.stem}.mp4"
        if dst.exists():
            continue
        speaker = next((c for c in clips[i + 1:] + clips[:i] if has_speech(c)), None)
        if speaker is None:
            print("no other clip has speech to lip-sync to", flush=True)
            return 1
        wav = write_wav(out / f"speech_{speaker.stem}.wav", read_audio(speaker)[: 16000 * 8], 16000)
        try:
            r = lipsync(clip, dst, audio=wav, quiet=True)
            print(f"{dst}: {r.summary()}".splitlines()[0][:160], flush=True)
        except Exception as e:  # noqa: BLE001 - a clip that cannot be lip-synced is skipped, not fatal
            print(f"skipped {clip.name}: {e}", flush=True)
    return 0


def has_speech(clip: Path) -> bool:
    from synthvid.errors import InputError  # noqa: PLC0415
    from synthvid.lipsync.features import voiced_mask  # noqa: PLC0415

    try:
        return bool(voiced_mask(read_audio(clip)).mean() > 0.3)
    except InputError:
        return False


if __name__ == "__main__":
    sys.exit(main())
