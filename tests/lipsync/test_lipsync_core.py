"""Lip-sync building blocks: audio reading, speech features, mouth shapes and PCA, re-timing, the audio-to-mouth
network and its person-specific map, texture median, text to speech, and the sync estimator's lag convention."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from synthvid.errors import CheckpointError, InputError
from synthvid.io.audio import read_audio, write_wav
from synthvid.lipsync import features as F
from synthvid.lipsync.data import ClipData
from synthvid.lipsync.model import LipSyncModel, generic_network
from synthvid.lipsync.retime import retime
from synthvid.lipsync.shape import POINTS, ShapePCA, landmark_distance, mouth_shape, opening
from synthvid.lipsync.sync import ALIGN_MIN_FRAMES, _lagged_corr, align_clip, estimate_offset, shift_features
from synthvid.lipsync.texture import weighted_median
from synthvid.models.audio2mouth import (Audio2Mouth, Audio2MouthConfig, context_rows, from_model_rate, rate_factor,
                                         to_model_rate)


def syllables(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """A voiced tone switched on and off at about 4 Hz over a faint noise floor."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    env = (np.sin(2 * np.pi * 4 * t) > 0).astype(np.float32)
    return (0.3 * env * np.sin(2 * np.pi * 180 * t) + 0.002 * rng.normal(size=t.size)).astype(np.float32)


def test_read_audio_resamples_to_16k(tmp_path):
    x = syllables(1.0, rate=44100)
    wav = write_wav(tmp_path / "a.wav", x, 44100)
    y = read_audio(wav)
    assert y.dtype == np.float32 and abs(len(y) - 16000) < 200
    assert read_audio(wav, max_seconds=0.5).size == 8000


def test_read_audio_rejects_non_audio(tmp_path):
    bad = tmp_path / "x.wav"
    bad.write_bytes(b"not audio at all" * 10)
    with pytest.raises(InputError, match="x.wav"):
        read_audio(bad)
    with pytest.raises(InputError, match="not found|does not exist|no such"):
        read_audio(tmp_path / "missing.wav")


def test_features_shape_and_voicing():
    x = syllables(2.0)
    f = F.speech_features(x, 25.0)
    assert f.shape == (50, F.DIM) and np.isfinite(f).all()
    act = F.speech_activity(x, 25.0, 50)
    assert 0.3 < act.mean() < 0.7  # on half the time
    assert not F.voiced_mask(np.zeros(16000, np.float32)).any()
    noise = np.random.default_rng(1).normal(0, 0.05, 32000).astype(np.float32)
    assert F.voiced_mask(noise).mean() < 0.2


def test_shape_pca_round_trip_and_measures():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(len(POINTS), 2)).astype(np.float32)
    direction = rng.normal(size=(len(POINTS), 2)).astype(np.float32)
    shapes = base + rng.normal(size=(40, 1, 1)).astype(np.float32) * direction
    pca = ShapePCA.fit(shapes, 3)
    assert np.allclose(pca.decode(pca.encode(shapes)), shapes, atol=1e-4)
    c = pca.encode(shapes)
    assert abs(float(c[:, 0].std()) - 1.0) < 0.05  # unit variance along the only real direction
    assert landmark_distance(shapes, shapes) == 0.0
    from synthvid.face.canonical import canonical_face
    from synthvid.face.landmarks import mouth_opening
    c = canonical_face()
    assert opening(mouth_shape(c[None]))[0] == pytest.approx(mouth_opening(c), rel=1e-4)  # same measure


def test_retime_modes_and_silence_hold():
    assert retime(7, 4).tolist() == [0, 1, 2, 3, 2, 1, 0]
    assert retime(6, 4, mode="loop").tolist() == [0, 1, 2, 3, 0, 1]
    act = np.ones(30)
    act[5:25] = 0  # 2 s of silence at 10 fps
    idx = retime(30, 100, act, fps=10, hold_silence_s=1.0)
    assert len(set(idx[8:22].tolist())) == 1  # held still
    assert idx[-1] > idx[10]  # and moving again afterwards
    pick = retime(25, 10, None, 2.0, "pick", head_motion=np.r_[np.ones(5), np.zeros(4), np.ones(1)])
    assert pick[:10].tolist() == list(range(10)) and set(pick[10:].tolist()) <= {5, 6, 7, 8}
    with pytest.raises(InputError):
        retime(5, 5, mode="shuffle")


def test_network_delay_alignment_and_filter_solution():
    torch.manual_seed(0)
    net = Audio2Mouth(Audio2MouthConfig(hidden=8, components=4, taps=5, delay=6, ridge=1.0))
    x = np.random.default_rng(0).normal(size=(37, F.DIM)).astype(np.float32)
    y = net.predict(x, 25.0)
    assert y.shape == (37, 4) and net.delay(25.0) == net.delay(30.0) == 6
    x2 = x.copy()
    x2[20:] += 5.0
    # The filter alone (the LSTM's output starts at zero) reads frames t-2..t+2 ...
    y2 = net.predict(x2, 25.0)
    assert np.allclose(y[:18], y2[:18], atol=1e-6) and not np.allclose(y[18], y2[18])
    # ... and the LSTM correction for frame t has heard exactly `delay` frames past t.
    torch.nn.init.normal_(net.out.weight)
    y, y2 = net.predict(x, 25.0), net.predict(x2, 25.0)
    assert np.allclose(y[:14], y2[:14], atol=1e-6) and not np.allclose(y[14], y2[14])
    torch.nn.init.zeros_(net.out.weight)
    # The filter solved from statistics reproduces a linear map of the feature windows (the LSTM starts at zero).
    rng = np.random.default_rng(1)
    true_w = rng.normal(size=(5 * F.DIM + 1, 4))
    rows = context_rows(x, 5)
    assert rows.shape == (37, 5 * F.DIM + 1) and np.array_equal(rows[0, : 2 * F.DIM], np.zeros(2 * F.DIM))
    big = rng.normal(size=(3000, F.DIM)).astype(np.float32)
    xb = context_rows(big, 5).astype(np.float64)
    net.set_stats(xb.T @ xb, xb.T @ (xb @ true_w))
    net.solve_filter()
    assert np.allclose(net.predict(x, 25.0), rows @ true_w, atol=0.05 * np.abs(rows @ true_w).max())
    # Far other frame rates are brought to the model's (25-30 fps) and back.
    assert [rate_factor(f) for f in (25, 30, 50, 60, 15)] == [1, 1, 2, 2, -2]
    assert np.array_equal(to_model_rate(np.repeat(x, 2, 0), 60.0), x)
    up = from_model_rate(np.arange(5, dtype=np.float32)[:, None], 60.0, 10)[:, 0]
    assert np.allclose(up, [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 4.0])
    assert np.allclose(from_model_rate(to_model_rate(x, 15.0), 15.0, len(x)), x, atol=1e-6)
    y60 = net.predict(np.repeat(x, 2, 0), 60.0)  # the network sees exactly the 30 fps features
    assert y60.shape == (74, 4) and np.allclose(y60, from_model_rate(net.predict(x, 30.0), 60.0, 74), atol=1e-5)
    with pytest.raises(InputError, match="odd"):
        Audio2MouthConfig(taps=4)
    with pytest.raises(InputError, match="delay"):
        Audio2MouthConfig(taps=9, delay=2)


def test_shipped_generic_network_loads_safely():
    net = generic_network()
    assert net.pca.k == net.cfg.components
    out = net.offsets(np.zeros((10, F.DIM), np.float32), 25.0)
    assert out.shape == (10, len(POINTS), 2) and np.isfinite(out).all()


def test_person_filter_adapts_without_touching_the_generic_one(tmp_path):
    model = LipSyncModel.generic()
    net = model.network
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(400, F.DIM)).astype(np.float32)
    truth = net.offsets(feats, 25.0) * 1.7  # this person opens 1.7x wider than the generic model says
    mean = rng.normal(size=(len(POINTS), 2)).astype(np.float32)
    clip = ClipData("t", 25.0, feats, mean + truth, np.ones(400, bool), np.ones(400, np.float32), None)
    before = landmark_distance(mean + net.offsets(feats, 25.0), clip.shapes, lips_only=False)
    model.fit_person([clip], weight=50.0, align=False)  # the filter itself (alignment: its own test)
    assert np.allclose(model.mean_shape, clip.shapes.mean(0), atol=1e-5)
    assert landmark_distance(model.shapes(feats, 25.0), clip.shapes, lips_only=False) < 0.5 * before
    shared = generic_network().filter.weight
    assert not torch.allclose(model.network.filter.weight, shared)
    assert torch.equal(LipSyncModel.generic().network.filter.weight, shared)  # the shipped network is untouched
    plain = LipSyncModel.generic()
    plain.fit_person([clip], weight=0.0)  # mean shape only
    assert torch.equal(plain.network.filter.weight, shared)
    model.save_person(tmp_path)
    (tmp_path / "checkpoint.pt").write_bytes(b"")  # no network saved here: loading must refuse, not crash
    with pytest.raises(CheckpointError):
        LipSyncModel.load(tmp_path)
    with pytest.raises(InputError, match="no frame"):
        LipSyncModel.generic().fit_person([dataclasses.replace(clip, found=np.zeros(400, bool))])


def test_weighted_median():
    stack = np.array([[1, 10], [2, 20], [9, 30]], np.int16)
    assert weighted_median(stack, np.array([1.0, 1.0, 1.0])).tolist() == [2, 20]
    assert weighted_median(stack, np.array([0.1, 0.1, 5.0])).tolist() == [9, 30]
    # the same as sorting each element's values (stable) and walking the cumulative weight, ties included
    rng = np.random.default_rng(0)
    for trial in range(100):
        n = int(rng.integers(2, 7))
        values = rng.integers(0, 5, (n, 6, 7)).astype(np.int16)
        w = np.ones(n) if trial % 3 == 0 else rng.random(n) + 0.01
        order = np.argsort(values, axis=0, kind="stable")
        cw = np.cumsum(w[order], axis=0)
        pick = (cw >= 0.5 * w.sum()).argmax(axis=0)
        expected = np.take_along_axis(np.take_along_axis(values, order, axis=0), pick[None], axis=0)[0]
        assert np.array_equal(weighted_median(values, w), expected)


def test_sync_lag_convention():
    net = generic_network()
    rng = np.random.default_rng(3)
    feats = rng.normal(size=(300, F.DIM)).astype(np.float32)
    from synthvid.lipsync.sync import _MEAN_LIPS
    pred = opening(net.pca.decode(net.predict(feats, 25.0)) + _MEAN_LIPS)
    for late in (-4, 0, 3):
        # the picture's mouth opening is the sound's, `late` frames earlier: the sound comes after the picture
        real = np.roll(pred, -late)
        got = estimate_offset(real, feats, 25.0, max_offset=8, model=LipSyncModel(net))
        assert got.offset == late
    assert _lagged_corr(pred, pred, 3)[3] == pytest.approx(1.0)


def test_shift_features_moves_and_pads():
    f = np.arange(6, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    assert shift_features(f, 2)[:, 0].tolist() == [0, 0, 0, 1, 2, 3]  # the sound comes 2 frames later
    assert shift_features(f, -2)[:, 0].tolist() == [2, 3, 4, 5, 5, 5]
    assert shift_features(f, 0) is f
    assert shift_features(f, 9).shape == f.shape


def test_out_of_sync_training_clip_is_moved_into_sync():
    net = generic_network()
    rng = np.random.default_rng(5)
    feats = rng.normal(size=(400, F.DIM)).astype(np.float32)
    from synthvid.lipsync.sync import _MEAN_LIPS
    shapes = _MEAN_LIPS + net.offsets(feats, 25.0) * 1.5  # a plausible mouth: opening is a ratio of its points
    clip = ClipData("late.mp4", 25.0, shift_features(feats, 4), shapes, np.ones(400, bool), np.ones(400, np.float32),
                    None)  # its sound comes 4 frames after the picture
    a = align_clip(clip, LipSyncModel(net))
    assert a.applied and a.result.offset == 4
    assert np.array_equal(a.clip.features, feats[:-4]) and np.array_equal(a.clip.shapes, shapes[:-4])
    assert len(a.clip.found) == len(a.clip.activity) == 396
    early = dataclasses.replace(clip, features=shift_features(feats, -3))  # sound 3 frames early
    e = align_clip(early, LipSyncModel(net))
    assert e.applied and e.result.offset == -3
    assert np.array_equal(e.clip.features, feats[3:]) and np.array_equal(e.clip.shapes, shapes[3:])
    assert "4 frames (160 ms) late" in a.note()
    near = dataclasses.replace(clip, features=shift_features(feats, ALIGN_MIN_FRAMES - 1))
    b = align_clip(near, LipSyncModel(net))  # within the estimator's own tolerance: left alone
    assert not b.applied and b.clip is near and b.note() == ""
    short = dataclasses.replace(clip, features=clip.features[:20], shapes=shapes[:20], found=clip.found[:20],
                                activity=clip.activity[:20])
    assert align_clip(short).result is None
    # fitting the person on the late clip: aligned, the filter learns the mouth; not aligned, it learns the lag too
    fitted, raw = LipSyncModel.generic(), LipSyncModel.generic()
    notes = fitted.fit_person([clip], weight=5.0)
    assert notes[0].applied and raw.fit_person([clip], weight=5.0, align=False)[0].result is None
    err = [landmark_distance(m.shapes(feats, 25.0), shapes, lips_only=False) for m in (fitted, raw)]
    assert err[0] < 0.8 * err[1]


def test_text_to_speech():
    from synthvid.lipsync.tts import speak
    x, rate = speak("Hello there, how are you?")
    assert rate > 8000 and 0.5 < len(x) / rate < 5 and np.abs(x).max() > 0.05
    with pytest.raises(InputError, match="empty"):
        speak("   ")
    with pytest.raises(InputError, match="U\\+0007"):
        speak("bell \x07 here")
    with pytest.raises(InputError, match="voice"):
        speak("hi", voice="no-such-voice")
