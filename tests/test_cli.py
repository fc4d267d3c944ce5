"""The command line: one end-to-end face-swap run on tiny media, and one-line errors with exit codes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from synthvid.cli import main
from synthvid.io.video import probe_video, read_metadata


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SYNTHVID_QUIET": "1"}
    return subprocess.run([sys.executable, "-m", "synthvid", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.mark.slow
def test_face_swap_end_to_end(clips, tmp_path):
    for name in ("astronaut", "hopper"):
        r = run_cli("faces", "extract", clips[name], "-o", tmp_path / name, "--size", "96")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("kept ") and "faces from 40 frames" in r.stdout
    r = run_cli("swap", "train", tmp_path / "astronaut", tmp_path / "hopper", "-o", tmp_path / "model",
                "--steps", "2", "--resolution", "64", "--preset", "tiny", "--batch-size", "2")
    assert r.returncode == 0, r.stderr
    assert "step 2" in r.stdout and (tmp_path / "model" / "checkpoint.pt").is_file()
    r = run_cli("swap", "convert", clips["astronaut"], "--model", tmp_path / "model", "-o", tmp_path / "out.mp4",
                "--blend", "feather", "--color", "hist", "--preview", tmp_path / "strip.png")
    assert r.returncode == 0, r.stderr
    assert "40 frames, 40 swapped" in r.stdout
    assert probe_video(tmp_path / "out.mp4").has_audio and (tmp_path / "strip.png").is_file()
    assert read_metadata(tmp_path / "out.mp4")["synthvid_settings"].count('"blend": "feather"') == 1
    assert "Traceback" not in r.stderr


def test_missing_input_is_one_line(tmp_path, capsys):
    code = main(["faces", "extract", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "fs")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == f"synthvid: error: video file not found: {tmp_path / 'nope.mp4'}"


def test_not_a_video(tmp_path, capsys):
    bad = tmp_path / "photo.mp4"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    assert main(["faces", "extract", str(bad), "-o", str(tmp_path / "fs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ("not a readable video" in err[0] or "no decodable frames" in err[0])


def test_missing_output_folder(tiny_model, clips, tmp_path, capsys):
    out = tmp_path / "missing" / "out.mp4"
    assert main(["swap", "convert", str(clips["astronaut"]), "--model", str(tiny_model), "-o", str(out)]) == 5
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]
    assert not out.exists()


def test_corrupt_checkpoint_exit_code(tmp_path, clips, capsys):
    model = tmp_path / "model"
    model.mkdir()
    (model / "checkpoint.pt").write_bytes(os.urandom(256))
    assert main(["swap", "convert", str(clips["astronaut"]), "--model", str(model), "-o", str(tmp_path / "o.mp4")]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a readable synthvid checkpoint" in err[0]


def test_no_face_exit_code(tmp_path, capsys):
    import numpy as np

    from synthvid.io.output import Stamp, VideoOutput

    clip = tmp_path / "grey.mp4"
    with VideoOutput(clip, Stamp("test", synthetic=False), fps=10, width=64, height=64) as w:
        for _ in range(3):
            w.write(np.full((64, 64, 3), 100, np.uint8))
    assert main(["faces", "extract", str(clip), "-o", str(tmp_path / "fs")]) == 3
    assert "no usable face found" in capsys.readouterr().err


def test_bad_option_values(capsys):
    with pytest.raises(SystemExit) as e:
        main(["swap", "convert", "a.mp4", "--model", "m", "-o", "o.mp4", "--direction", "sideways"])
    assert e.value.code == 2
    with pytest.raises(SystemExit):
        main(["faces", "extract", "a.mp4", "-o", "fs", "--frames", "9:3"])
    assert "empty or negative frame range" in capsys.readouterr().err


def test_budget_required(facesets, tmp_path, capsys):
    code = main(["swap", "train", str(facesets["astronaut"]), str(facesets["hopper"]), "-o", str(tmp_path / "m"),
                 "--minutes", "0"])
    assert code == 2 and "training budget" in capsys.readouterr().err


def test_argument_errors_are_one_line_and_files_may_follow_options(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["swap", "convert"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1 and "required" in err and "--help" in err
    with pytest.raises(SystemExit):
        main(["verify", "a.mp4", "--bogus"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    # `lipsync train -o DIR VIDEO...`: the videos after the options still count (here: missing files, one line)
    assert main(["lipsync", "train", "-o", str(tmp_path / "m"), str(tmp_path / "a.mp4"), "-q"]) == 2
    assert "a.mp4" in capsys.readouterr().err


def test_every_help_page_formats():
    """argparse formats each help text with %: a stray '%' in an option's help breaks `--help` of its command."""
    import argparse

    from synthvid.cli import build_parser

    pages, todo = 0, [build_parser()]
    while todo:
        p = todo.pop()
        assert p.format_help()
        pages += 1
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo.extend(action.choices.values())
    assert pages > 15
