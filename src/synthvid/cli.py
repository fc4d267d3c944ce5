"""The ``synthvid`` command line: thin subcommands over the pipelines.

Every error a user can cause prints one line (``synthvid: error: ...``) and exits non-zero; a traceback is shown
only with SYNTHVID_DEBUG=1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from synthvid import __version__
from synthvid.config import add_config_arguments, config_from_args
from synthvid.errors import InputError, SynthvidError


def _frame_range(text: str) -> tuple[int, int | None]:
    """``START:END`` (either side may be empty) -> (start, end)."""
    try:
        a, _, b = text.partition(":")
        start = int(a) if a.strip() else 0
        end = int(b) if b.strip() else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:END frame numbers, got {text!r}") from None
    if start < 0 or (end is not None and end <= start):
        raise argparse.ArgumentTypeError(f"empty or negative frame range {text!r}")
    return start, end


def _cmd_extract(args: argparse.Namespace) -> None:
    from synthvid.pipelines.extract import ExtractConfig, extract  # noqa: PLC0415 - keep `--help` fast

    report = extract(args.videos, args.output, config_from_args(ExtractConfig, args), reference=args.reference,
                     frames=args.frames, quiet=args.quiet)
    print(report.summary())


def _loop_config(args: argparse.Namespace, default_minutes: float) -> Any:
    from synthvid.train.loop import LoopConfig  # noqa: PLC0415

    minutes = args.minutes if args.minutes is not None else (0.0 if args.steps else default_minutes)
    return config_from_args(LoopConfig, args, minutes=minutes)


def _cmd_swap_train(args: argparse.Namespace) -> None:
    from synthvid.models.autoencoder import AutoencoderConfig  # noqa: PLC0415
    from synthvid.pipelines.face_swap import SwapTrainConfig, describe_model, train  # noqa: PLC0415

    model_cfg = config_from_args(AutoencoderConfig, args)
    if not args.quiet:
        print(describe_model(model_cfg), file=sys.stderr)
    summary = train(args.faceset_a, args.faceset_b, args.output, model_cfg, config_from_args(SwapTrainConfig, args),
                    _loop_config(args, 30.0), quiet=args.quiet)
    state = "stopped early (resume with the same command)" if summary.interrupted else "done"
    print(f"{state}: step {summary.step}, {summary.elapsed_s / 60:.1f} min trained in total, "
          f"{summary.images_per_s:.1f} images/s this run; model in {args.output}")


def _cmd_swap_convert(args: argparse.Namespace) -> None:
    from synthvid.pipelines.face_swap_convert import ConvertConfig, convert  # noqa: PLC0415

    report = convert(args.video, args.model, args.output, config_from_args(ConvertConfig, args), frames=args.frames,
                     preview=args.preview, quiet=args.quiet)
    print(report.summary())


def _cmd_demo(args: argparse.Namespace) -> None:
    from synthvid.pipelines.demo import run_demo, run_lipsync_demo, run_swap_demo  # noqa: PLC0415

    if args.job == "swap":
        print(run_swap_demo(args.output, minutes=args.minutes, quiet=args.quiet))
    elif args.job == "lipsync":
        print(run_lipsync_demo(args.output, quiet=args.quiet))
    else:
        print(run_demo(args.output, quiet=args.quiet))


def _cmd_reenact_photo(args: argparse.Namespace) -> None:
    from synthvid.pipelines.reenact import ReenactConfig, reenact_photo  # noqa: PLC0415

    print(reenact_photo(args.portrait, args.driving, args.output, config_from_args(ReenactConfig, args),
                        preview=args.preview, quiet=args.quiet).summary())


def _cmd_reenact_video(args: argparse.Namespace) -> None:
    from synthvid.pipelines.reenact import ReenactConfig, reenact_video  # noqa: PLC0415

    print(reenact_video(args.source, args.target, args.output, config_from_args(ReenactConfig, args),
                        preview=args.preview, quiet=args.quiet).summary())


def _cmd_reenact_stream(args: argparse.Namespace) -> None:
    from synthvid.pipelines.reenact import ReenactConfig, reenact_stream  # noqa: PLC0415

    print(reenact_stream(args.portrait, args.input, args.output, config_from_args(ReenactConfig, args),
                         max_frames=args.max_frames, quiet=args.quiet).summary())


def _cmd_reenact_train(args: argparse.Namespace) -> None:
    from synthvid.models.refiner import RefinerConfig  # noqa: PLC0415
    from synthvid.reenact.refine import RefineTrainConfig, train_refiner  # noqa: PLC0415

    summary = train_refiner(args.target, args.output, config_from_args(RefinerConfig, args),
                            config_from_args(RefineTrainConfig, args), _loop_config(args, 10.0), frames=args.frames,
                            quiet=args.quiet)
    state = "stopped early (resume with the same command)" if summary.interrupted else "done"
    print(f"{state}: step {summary.step}, {summary.elapsed_s / 60:.1f} min trained in total, "
          f"{summary.images_per_s:.1f} pairs/s this run; refiner in {args.output} (use it with --refine "
          f"{args.output})")


def _cmd_lipsync(args: argparse.Namespace) -> None:
    from synthvid.pipelines.lip_sync import LipSyncConfig, LipSyncTrainConfig, lipsync, train  # noqa: PLC0415

    if args.target[0] == "train":
        if len(args.target) < 2:
            raise InputError("lipsync train needs at least one target video")
        if args.audio or args.text or args.model:
            raise InputError("lipsync train takes videos only (no --audio, --text or --model)")
        from synthvid.train.loop import LoopConfig  # noqa: PLC0415

        loop = LoopConfig(steps=args.steps or 0, minutes=args.minutes or 0.0) if args.steps or args.minutes else None
        s = train(args.target[1:], args.output, loop, config_from_args(LipSyncTrainConfig, args), quiet=args.quiet)
        tuned = f", LSTM fine-tuned to step {s.step}" if s.step else ""
        for note in s.notes:
            print(f"note: {note}")
        print(f"done: speech filter adapted on {s.frames} frames{tuned}; person-specific lip-sync model in "
              f"{args.output}")
        return
    if len(args.target) != 1:
        raise InputError("give one target video (or `lipsync train VIDEO... -o DIR`)")
    report = lipsync(args.target[0], args.output, audio=args.audio, text=args.text, model=args.model,
                     config=config_from_args(LipSyncConfig, args), preview=args.preview, quiet=args.quiet)
    print(report.summary())


def _cmd_sync_check(args: argparse.Namespace) -> None:
    from synthvid.io.files import check_outputs  # noqa: PLC0415
    from synthvid.io.video import VIDEO_SUFFIXES  # noqa: PLC0415
    from synthvid.lipsync.sync import shift_audio, sync_check  # noqa: PLC0415

    if args.fix:  # before the analysis, not after it
        check_outputs((args.video,), (args.fix, VIDEO_SUFFIXES))
    result = sync_check(args.video, max_offset=args.max_offset, quiet=args.quiet)
    print(result.summary())
    if args.fix:
        out = shift_audio(args.video, args.fix, result.offset, quiet=args.quiet)
        print(f"wrote {out} with the audio moved {result.offset:+d} frames")


def _cmd_dance_train(args: argparse.Namespace) -> None:
    from synthvid.models.pix2pix import Pix2PixConfig  # noqa: PLC0415
    from synthvid.pipelines.motion_transfer import DanceTrainConfig, train  # noqa: PLC0415

    summary = train(args.target, args.output, config_from_args(Pix2PixConfig, args),
                    config_from_args(DanceTrainConfig, args), _loop_config(args, 30.0), frames=args.frames,
                    person=args.person, quiet=args.quiet)
    state = "stopped early (resume with the same command)" if summary.interrupted else "done"
    print(f"{state}: step {summary.step}, {summary.elapsed_s / 60:.1f} min trained in total, "
          f"{summary.images_per_s:.1f} images/s this run; model in {args.output}")


def _cmd_dance_transfer(args: argparse.Namespace) -> None:
    from synthvid.pipelines.motion_transfer_render import TransferConfig, transfer  # noqa: PLC0415

    print(transfer(args.source, args.model, args.output, config_from_args(TransferConfig, args), frames=args.frames,
                   preview=args.preview, matte=args.matte, quiet=args.quiet).summary())


def _cmd_pose(args: argparse.Namespace) -> None:
    from synthvid.pipelines.motion_transfer_render import pose_video  # noqa: PLC0415

    print(pose_video(args.video, args.output, on=args.on, person=args.person, quiet=args.quiet).summary())


def _cmd_verify(args: argparse.Namespace) -> int:
    from synthvid.provenance.verify import verify  # noqa: PLC0415

    v = verify(args.file, key=args.key, max_frames=args.max_frames)
    print(v.to_json() if args.json else v.summary())
    return v.exit_code


def _cmd_detect(args: argparse.Namespace) -> int:
    from synthvid.provenance.detect import detect_file  # noqa: PLC0415

    r = detect_file(args.file, model=args.model, max_frames=args.max_frames, threshold=args.threshold,
                    heatmap=args.heatmap, device=args.device, quiet=args.quiet or args.json)
    print(r.to_json() if args.json else r.summary())
    return r.exit_code


class _Parser(argparse.ArgumentParser):
    """argparse with synthvid's one-line errors: the usage block is what `--help` is for."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


# Positionals that take several files: files given after the options still belong to them
# (`synthvid lipsync train -o DIR a.mp4 b.mp4`), which plain argparse refuses as unrecognized.
_MANY = ("target", "videos")


def build_parser() -> argparse.ArgumentParser:
    from synthvid.pipelines.configs import (CONVERT, DANCE_MODEL, DANCE_TRAIN, DANCE_TRANSFER, EXTRACT,  # noqa: PLC0415
                                            LIPSYNC, LIPSYNC_TRAIN, LOOP, MODEL, REENACT, REFINE_MODEL,
                                            REFINE_TRAIN, TRAIN)

    parser = _Parser(prog="synthvid", description="Synthetic video toolkit (every output is marked as synthetic).")
    parser.add_argument("--version", action="version", version=f"synthvid {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(parent: Any, name: str, func: Callable[[argparse.Namespace], Any], help: str,
                writes: bool = True) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help, description=help)
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
        if writes:
            g = p.add_argument_group("provenance (every output is watermarked and signed)")
            g.add_argument("--watermark-key", metavar="KEY", help="your own watermark key (default: "
                           "$SYNTHVID_WATERMARK_KEY, else the public synthvid key anyone can check)")
            g.add_argument("--consent", metavar="FILE", help="consent statement (JSON or text) of the people whose "
                           "likeness is used; signed into every output's manifest (default: $SYNTHVID_CONSENT)")
        p.set_defaults(func=func)
        return p

    faces = sub.add_parser("faces", help="face sets: extract aligned faces from videos")
    faces_sub = faces.add_subparsers(dest="faces_command", required=True, metavar="ACTION")
    p = command(faces_sub, "extract", _cmd_extract, "extract aligned faces of one person from video(s) into a faceset")
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    p.add_argument("-o", "--output", required=True, metavar="FACESET", help="faceset folder (re-run to resume)")
    p.add_argument("--reference", metavar="PHOTO", help="photo of the person to extract (default: the most frequent)")
    p.add_argument("--frames", type=_frame_range, default=(0, None), metavar="START:END", help="frame range")
    add_config_arguments(p, EXTRACT)

    swap = sub.add_parser("swap", help="face swap: train a model on two facesets, convert videos")
    swap_sub = swap.add_subparsers(dest="swap_command", required=True, metavar="ACTION")
    p = command(swap_sub, "train", _cmd_swap_train, "train (or resume) a face-swap model between two facesets")
    p.add_argument("faceset_a", metavar="FACESET_A")
    p.add_argument("faceset_b", metavar="FACESET_B")
    p.add_argument("-o", "--output", required=True, metavar="MODEL", help="model folder (re-run to resume)")
    add_config_arguments(p, MODEL)
    add_config_arguments(p, TRAIN)
    add_config_arguments(p, LOOP)
    p = command(swap_sub, "convert", _cmd_swap_convert, "paint the model's other person into a video")
    p.add_argument("video", metavar="VIDEO")
    p.add_argument("--model", required=True, metavar="MODEL", help="model folder from `synthvid swap train`")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output video (.mp4, .mov, .mkv)")
    p.add_argument("--preview", metavar="PNG", help="also write a strip of input and converted frames")
    p.add_argument("--frames", type=_frame_range, default=(0, None), metavar="START:END", help="frame range")
    add_config_arguments(p, CONVERT)

    reenact = sub.add_parser("reenact", help="facial reenactment: a driving face's expressions on a video or photo")
    re_sub = reenact.add_subparsers(dest="reenact_command", required=True, metavar="MODE")
    p = command(re_sub, "video", _cmd_reenact_video, "re-render the face of a target video with the expressions of "
                "a driving video (target background, body and audio kept)")
    p.add_argument("source", metavar="SOURCE", help="driving video")
    p.add_argument("target", metavar="TARGET", help="target video")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output video (.mp4, .mov, .mkv)")
    p.add_argument("--preview", metavar="PNG", help="also write a strip: driving | target | output")
    add_config_arguments(p, REENACT)
    p = command(re_sub, "photo", _cmd_reenact_photo, "animate a portrait photo with a driving video")
    p.add_argument("portrait", metavar="PORTRAIT")
    p.add_argument("driving", metavar="DRIVING")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output video (.mp4, .mov, .mkv)")
    p.add_argument("--preview", metavar="PNG", help="also write a strip: driving | output")
    add_config_arguments(p, REENACT)
    p = command(re_sub, "stream", _cmd_reenact_stream, "live: animate a portrait frame by frame from a camera "
                "index or a video file as frames arrive")
    p.add_argument("portrait", metavar="PORTRAIT")
    p.add_argument("--input", default="0", metavar="CAMERA|FILE", help="camera index or video file (default: 0)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output video (.mp4, .mov, .mkv)")
    p.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0: until the input ends)")
    add_config_arguments(p, REENACT)
    p = command(re_sub, "train", _cmd_reenact_train, "train (or resume) the neural refinement of one person on a "
                "video of them; use it with --refine MODEL in the other modes")
    p.add_argument("target", metavar="TARGET_VIDEO", help="a video of the target person (a minute or less is enough)")
    p.add_argument("-o", "--output", required=True, metavar="MODEL", help="model folder (re-run to resume)")
    p.add_argument("--frames", type=_frame_range, default=(0, None), metavar="START:END", help="frame range")
    add_config_arguments(p, REFINE_MODEL)
    add_config_arguments(p, REFINE_TRAIN)
    add_config_arguments(p, LOOP)

    p = command(sub, "lipsync", _cmd_lipsync, "make a target talking-head video say new speech (--audio FILE or "
                "--text); `synthvid lipsync train VIDEO... -o DIR` fits a person-specific model")
    p.add_argument("target", nargs="+", metavar="TARGET_VIDEO", help="target video (or: train VIDEO...)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output video, or the model folder for train")
    p.add_argument("--audio", metavar="FILE", help="speech: any audio or video file with sound (resampled)")
    p.add_argument("--text", metavar="TEXT", help="speech: text spoken by espeak-ng")
    p.add_argument("--model", metavar="DIR", help="person-specific model from `lipsync train` (default: generic)")
    p.add_argument("--preview", metavar="PNG", help="also write a strip: target frame | lip-synced frame")
    p.add_argument("--steps", type=int, default=0, help="train: also fine-tune the LSTM correction for this many "
                   "steps in total (default: 0, the closed-form stage only)")
    p.add_argument("--minutes", type=float, default=None, help="train: LSTM fine-tuning minutes in total")
    add_config_arguments(p, LIPSYNC)
    add_config_arguments(p, LIPSYNC_TRAIN)

    p = command(sub, "sync-check", _cmd_sync_check, "estimate the audio/video offset of a talking-head video "
                "(and fix it with --fix OUT)")
    p.add_argument("video", metavar="VIDEO")
    p.add_argument("--max-offset", type=int, default=15, help="largest offset searched, in frames (default: 15)")
    p.add_argument("--fix", metavar="OUT", help="write a copy with the audio shifted into sync")

    dance = sub.add_parser("dance", help="full-body motion transfer: train on a target person, make them move like "
                           "a source video")
    dance_sub = dance.add_subparsers(dest="dance_command", required=True, metavar="ACTION")
    p = command(dance_sub, "train", _cmd_dance_train, "train (or resume) a pose-to-image model of the person in a "
                "target video (still camera, whole body in view)")
    p.add_argument("target", metavar="TARGET_VIDEO")
    p.add_argument("-o", "--output", required=True, metavar="MODEL", help="model folder (re-run to resume)")
    p.add_argument("--frames", type=_frame_range, default=(0, None), metavar="START:END", help="frame range")
    p.add_argument("--person", type=int, default=0, help="which person when several are seen (N: N-th from the "
                   "left; 0: the largest)")
    add_config_arguments(p, DANCE_MODEL)
    add_config_arguments(p, DANCE_TRAIN)
    add_config_arguments(p, LOOP)
    p = command(dance_sub, "transfer", _cmd_dance_transfer, "render the model's target person performing the "
                "motion of a source video")
    p.add_argument("source", metavar="SOURCE_VIDEO")
    p.add_argument("--model", required=True, metavar="MODEL", help="model folder from `synthvid dance train`")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output video (.mp4, .mov, .mkv)")
    p.add_argument("--preview", metavar="PNG", help="also write a strip: driving | pose | output")
    p.add_argument("--matte", metavar="OUT", help="also write the person's matte (white = person) as a video")
    p.add_argument("--frames", type=_frame_range, default=(0, None), metavar="START:END", help="source frame range")
    add_config_arguments(p, DANCE_TRANSFER)

    p = command(sub, "pose", _cmd_pose, "draw the detected body skeleton of a video (33 MediaPipe keypoints)")
    p.add_argument("video", metavar="VIDEO")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output video (.mp4, .mov, .mkv)")
    p.add_argument("--on", choices=("video", "black"), default="video", help="draw over the video or on black")
    p.add_argument("--person", type=int, default=0, help="which person when several are seen (N: N-th from the "
                   "left; 0: the largest)")

    p = command(sub, "demo", _cmd_demo, "run the main job on built-in media (no download): the public-domain "
                "astronaut portrait (and Grace Hopper's) animated by a built-in performance; --job swap runs the "
                "face-swap demo instead, --job lipsync the lip-sync one (the animated astronaut says a sentence)")
    p.add_argument("-o", "--output", default="demo_out", metavar="DIR", help="folder for the demo's files")
    p.add_argument("--job", choices=("reenact", "swap", "lipsync"), default="reenact",
                   help="which demo (default: reenact)")
    p.add_argument("--minutes", type=float, default=3.0, help="swap demo: training time (default: 3)")

    p = command(sub, "verify", _cmd_verify, "check a video or image for synthvid's watermark and a signed C2PA "
                "manifest; exit 0: synthvid provenance found, 1: not marked, 6: manifest tampered", writes=False)
    p.add_argument("file", metavar="FILE", help="video (mp4/mov/mkv/...) or image (png/jpg)")
    p.add_argument("--key", metavar="KEY", help="also try this watermark key (the public key is always tried)")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.add_argument("--max-frames", type=int, default=300, help="frames to look at (default: 300)")

    p = command(sub, "detect", _cmd_detect, "estimate how likely the faces in a video or image are manipulated "
                "(face swap, reenactment, lip sync), with a heat map; exit 0: likely real, 1: likely manipulated",
                writes=False)
    p.add_argument("file", metavar="FILE", help="video (mp4/mov/mkv/...) or image (png/jpg)")
    p.add_argument("--heatmap", metavar="PNG", help="write the most suspect frame with its heat map")
    p.add_argument("--json", action="store_true", help="print the full report (per-frame scores) as JSON")
    p.add_argument("--max-frames", type=int, default=32, help="frames looked at, spread over the video (default: 32)")
    p.add_argument("--threshold", type=float, default=None, help="probability from which the verdict is 'likely "
                   "manipulated' (default: the weights' calibrated threshold, else 0.5)")
    p.add_argument("--model", metavar="PATH", help="detector weights or training folder (default: the shipped one)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    return parser


EXIT_INTERNAL = 70  # a bug (EX_SOFTWARE): never 1, which `verify` and `detect` use for a verdict


def _quiet_libraries() -> None:
    """Keep stderr to synthvid's own one-line messages: numpy's floating-point RuntimeWarnings (a NaN in a
    determinant on a degenerate face, say: the job then fails or recovers with its own message) and OpenCV's log
    lines (a camera index that does not open prints several) are not shown. SYNTHVID_DEBUG=1 shows them."""
    import warnings  # noqa: PLC0415

    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"numpy(\.|$)")
    warnings.filterwarnings("ignore", message=r"invalid value encountered", category=RuntimeWarning)
    os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
    os.environ.setdefault("OPENCV_VIDEOIO_DEBUG", "0")
    try:
        import cv2  # noqa: PLC0415

        cv2.setLogLevel(0)  # 0 = silent
    except (ImportError, AttributeError):  # pragma: no cover - cv2 is a dependency; an old build lacks the call
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    many = next((n for n in _MANY if isinstance(getattr(args, n, None), list)), None)
    if extra and many is not None and not any(x.startswith("-") for x in extra):
        getattr(args, many).extend(extra)
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not os.environ.get("SYNTHVID_DEBUG"):
        _quiet_libraries()
    try:
        if hasattr(args, "watermark_key") or hasattr(args, "consent"):
            from synthvid.provenance import configure  # noqa: PLC0415

            configure(getattr(args, "watermark_key", None), getattr(args, "consent", None))
        code = args.func(args)
    except SynthvidError as e:
        print(f"synthvid: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("synthvid: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a bug: still one line, unless debugging
        if os.environ.get("SYNTHVID_DEBUG"):
            raise
        where = f"{type(e).__name__}: {e}".splitlines()[0][:300]
        print(f"synthvid: internal error: {where} (set SYNTHVID_DEBUG=1 for details; please report it)",
              file=sys.stderr)
        return EXIT_INTERNAL
    return code if isinstance(code, int) else 0


__all__ = ["main", "build_parser", "InputError"]
