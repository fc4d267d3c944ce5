"""Shared fixtures: tiny seeded clips made from the two public-domain portraits bundled with our dependencies
(scikit-image's astronaut, matplotlib's Grace Hopper), facesets and a tiny trained swap model.

Everything is built once per session under a temporary folder; nothing is downloaded, and nothing here needs
../shared/media (tests that do use it are marked ``media`` and skip when it is absent).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("SYNTHVID_QUIET", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")
# signing credentials are created on first use: keep the tests' ones out of the user's ~/.config
os.environ["SYNTHVID_HOME"] = tempfile.mkdtemp(prefix="synthvid-test-home-")
for _var in ("SYNTHVID_WATERMARK_KEY", "SYNTHVID_CONSENT", "SYNTHVID_SIGN_KEY", "SYNTHVID_SIGN_CERT"):
    os.environ.pop(_var, None)

SHARED_MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


@pytest.fixture(scope="session")
def portraits() -> dict[str, np.ndarray]:
    from synthvid.pipelines.demo import demo_portraits

    return demo_portraits()


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory, portraits: dict[str, np.ndarray]) -> dict[str, Path]:
    """Two 1.6 s clips at 25 fps, 256 x 256, with a voice-like audio track: astronaut (A) and Hopper (B)."""
    from synthvid.io.audio import write_wav
    from synthvid.pipelines.demo import animate_portrait, voice_like_audio

    root = tmp_path_factory.mktemp("clips")
    out = {}
    for seed, (name, image) in enumerate(portraits.items()):
        wav = write_wav(root / f"{name}.wav", voice_like_audio(1.6, seed=seed), 16000)
        out[name] = animate_portrait(image, root / f"{name}.mp4", 1.6, wav, seed=seed)
    return out


@pytest.fixture(scope="session")
def facesets(tmp_path_factory: pytest.TempPathFactory, clips: dict[str, Path]) -> dict[str, Path]:
    from synthvid.pipelines.extract import ExtractConfig, extract

    root = tmp_path_factory.mktemp("facesets")
    cfg = ExtractConfig(size=128)
    return {name: extract([clip], root / name, cfg, quiet=True).faceset for name, clip in clips.items()}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, facesets: dict[str, Path]) -> Path:
    """A swap model (tiny preset, 64 px) trained for a few steps: shapes and plumbing, not quality."""
    from synthvid.models.autoencoder import AutoencoderConfig
    from synthvid.pipelines.face_swap import SwapTrainConfig, train
    from synthvid.train.loop import LoopConfig

    out = tmp_path_factory.mktemp("models") / "tiny"
    train(facesets["astronaut"], facesets["hopper"], out, AutoencoderConfig(resolution=64, preset="tiny"),
          SwapTrainConfig(batch_size=4), LoopConfig(steps=3, seed=0), quiet=True)
    return out


@pytest.fixture(scope="session")
def shared_media() -> Path:
    if not SHARED_MEDIA.is_dir():
        pytest.skip("../shared/media is not present")
    return SHARED_MEDIA
