"""Lips closing on p, b and m for speech from text: phoneme times from espeak-ng, closure spans, shape pull."""

from __future__ import annotations

import numpy as np

from synthvid.lipsync.shape import opening
from synthvid.lipsync.tts import Phoneme, speak_timed
from synthvid.lipsync.visemes import STOP_AFTER, STOP_BEFORE, close_lips, closed_shape, span_weights, lip_closures


def test_espeak_reports_phonemes_in_order_and_stops_follow_silence():
    x, rate, phonemes = speak_timed("Peter bought my map.")
    names = [p.name for p in phonemes]
    assert names.count("p") >= 2 and "b" in names and "m" in names  # Peter, map; bought; my, map
    assert all("'" not in n and "," not in n for n in names)  # stress marks removed
    starts = [p.start for p in phonemes]
    assert starts == sorted(starts) and all(p.end >= p.start for p in phonemes)
    assert all(0 <= p.start <= p.end <= len(x) / rate + 1e-9 for p in phonemes)
    assert phonemes[0].start < 0.2 and sum(p.end - p.start for p in phonemes) > 0.8 * len(x) / rate
    # Around each stop's event the lips are closed: silence (p) or a quiet hum (b) on one side of it, the burst
    # and vowel on the other, both within the closure window used.
    def rms(t0, t1):
        s = x[max(int(t0 * rate), 0): int(t1 * rate)]
        return float(np.sqrt(np.mean(s ** 2)))
    loud = float(np.percentile(np.abs(x), 99))
    for p in phonemes:
        if p.name in ("p", "b"):
            quiet = min(rms(p.start - STOP_BEFORE, p.start), rms(p.start, p.start + STOP_AFTER))
            assert quiet < 0.15 * loud, p


def test_closure_spans_and_frame_weights():
    ph = [Phoneme("_", 0.0, 0.1), Phoneme("p", 0.30, 0.34), Phoneme("i:", 0.34, 0.5), Phoneme("m", 0.5, 0.6),
          Phoneme("@", 0.6, 0.7), Phoneme("t", 0.7, 0.75), Phoneme("b", 0.75, 0.8), Phoneme("pF", 0.8, 0.9),
          Phoneme("bl", 0.9, 1.0)]
    spans = lip_closures(ph)
    # a stop: closed from STOP_BEFORE before its event to STOP_AFTER after it (German "pF" too); a nasal: all
    # along; "t" and "bl" (not an espeak-ng mnemonic) are no bilabials
    assert np.allclose(spans, [(0.30 - STOP_BEFORE, 0.30 + STOP_AFTER), (0.5, 0.6),
                               (0.75 - STOP_BEFORE, 0.75 + STOP_AFTER), (0.8 - STOP_BEFORE, 0.8 + STOP_AFTER)])
    w = span_weights(spans, 25.0, 25)  # frames shown over [t/25, (t+1)/25)
    assert w[6] == 1.0 and w[7] == 1.0  # shown 0.24-0.28 and 0.28-0.32: inside the p closure (0.25-0.33)
    assert w[12] == 1.0 and w[13] == 1.0 and w[14] == 1.0  # the m: 0.48-0.60
    assert w[3] == 0.0 and w[10] == 0.0 and w[22] == 0.0
    assert 0 < w[5] < 1  # a frame next to a closure is blended
    # a closure shorter than a frame, falling between frame centres, still closes the nearest frame fully
    short = span_weights([(0.405, 0.415)], 25.0, 25)
    assert short.max() == 1.0 and int(np.argmax(short)) == 10


def test_close_lips_pulls_to_the_targets_closed_mouth():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 0.01, (59, 2)).astype(np.float32)
    # A mouth whose inner lips open by a varying amount (the _INNER_TOP/_INNER_BOTTOM points sit in the inner lips)
    from synthvid.lipsync import shape as S
    def mouth(gap):
        s = base.copy()
        s[S._CORNERS[0]] = (-0.2, 0.0)
        s[S._CORNERS[1]] = (0.2, 0.0)
        s[S._INNER_TOP, 1] = -gap / 2
        s[S._INNER_BOTTOM, 1] = gap / 2
        return s
    target = np.stack([mouth(g) for g in np.linspace(0.0, 0.2, 50)])
    closed = closed_shape(target)
    assert opening(closed) < 0.04  # the most closed tenth of the target: gaps 0-0.016
    shapes = np.stack([mouth(0.15)] * 25)
    out = close_lips(shapes, lip_closures([Phoneme("m", 0.5, 0.6)]), 25.0, closed)
    o = opening(out)
    assert o[13] < 0.04 and o[3] > 0.3 and np.allclose(out[:10], shapes[:10])
    assert np.array_equal(close_lips(shapes, [], 25.0, closed), shapes)


def _mouths(gaps: np.ndarray, jaw_drop: float = 0.5) -> np.ndarray:
    """Mouths (T, 59, 2) whose inner lips part by ``gaps`` (mouth width 0.4); the jaw drops with the lower lip."""
    from synthvid.lipsync import shape as S
    base = np.zeros((59, 2), np.float32)
    base[:, 0] = np.linspace(-0.2, 0.2, 59)
    base[S._CORNERS[0]] = (-0.2, 0.0)
    base[S._CORNERS[1]] = (0.2, 0.0)
    base[S._INNER_TOP, 0] = base[S._INNER_BOTTOM, 0] = (-0.05, 0.0, 0.05)
    jaw = np.arange(S.LIP_COUNT, 59)
    out = np.repeat(base[None], len(gaps), 0)
    out[:, S._INNER_BOTTOM, 1] = np.asarray(gaps)[:, None]
    out[:, jaw, 1] = 0.3 + jaw_drop * np.asarray(gaps)[:, None]
    return out


def test_match_opening_gives_predictions_the_targets_range_in_their_own_order():
    from synthvid.lipsync.shape import match_opening, signed_opening
    rng = np.random.default_rng(0)
    # the target: closed a fifth of the time, otherwise open 0.02-0.12 (opening = gap / 0.4)
    real_gaps = np.where(rng.random(300) < 0.2, 0.0, rng.uniform(0.02, 0.12, 300))
    reference = _mouths(real_gaps)
    # a speech filter's output: the right rhythm, squeezed around the middle, never closed
    rhythm = np.sin(np.linspace(0, 12, 100))
    pred = _mouths(0.05 + 0.01 * rhythm)
    out = match_opening(pred, reference, pred)  # (what the model predicts for the target's footage: the same)
    o_ref, o_pred, o_out = (signed_opening(x) for x in (reference, pred, out))
    assert o_pred.min() > 0.09 and o_out.min() < 0.005  # now it closes
    assert np.allclose(np.quantile(o_out, [0.1, 0.5, 0.9]), np.quantile(o_ref, [0.1, 0.5, 0.9]), atol=0.01)
    assert np.all(np.diff(o_out[np.argsort(o_pred)]) > -1e-6)  # order kept (the closed ones tie)
    # the jaw moved with the lips, as the target's does (its drop per unit of gap: 0.5)
    from synthvid.lipsync.shape import LIP_COUNT
    jaw_move = (out[:, LIP_COUNT:, 1] - pred[:, LIP_COUNT:, 1]).mean(1)
    gap_move = (o_out - o_pred) * 0.4
    assert np.allclose(jaw_move, 0.5 * gap_move, atol=1e-4)
    # equal predictions map to equal openings: a pause the filter predicts flat stays flat, not a sweep
    flat = _mouths(np.r_[np.full(40, 0.05), 0.05 + 0.01 * rhythm, np.full(40, 0.05)])
    o_flat = signed_opening(match_opening(flat, reference, flat))
    assert np.ptp(o_flat[:40]) < 1e-6 and np.ptp(o_flat[-40:]) < 1e-6
    # with what the model predicts for the target's own footage, one fixed curve: the same prediction maps to the
    # same opening whatever else the utterance holds
    own_pred = _mouths(0.05 + 0.01 * np.sin(np.linspace(0, 40, 300)))
    a = signed_opening(match_opening(pred, reference, own_pred))
    b = signed_opening(match_opening(pred[:30], reference, own_pred))
    assert np.allclose(a[:30], b, atol=1e-6) and a.min() < 0.01
    # the limits come from the 1st-99th percentile of the target and never cross the lips
    odd = reference.copy()
    from synthvid.lipsync import shape as S
    odd[0, S._INNER_BOTTOM, 1] = 0.9  # one mis-tracked frame, wide open
    assert signed_opening(match_opening(pred, odd, pred)).max() < 0.35
    # too little of the target, or a target whose mouth never moves: unchanged
    assert np.array_equal(match_opening(pred, reference[:5], pred), pred)
    assert np.array_equal(match_opening(pred, reference, pred[:5]), pred)
    assert np.array_equal(match_opening(pred, _mouths(np.full(50, 0.05)), pred), pred)
    assert np.array_equal(match_opening(pred, _mouths(rng.uniform(0.0, 0.01, 300)), pred), pred)  # it barely opens


def test_rounding_and_labiodental_spans_and_shapes():
    from synthvid.lipsync.shape import LIP_COUNT, width
    from synthvid.lipsync.visemes import (LABIODENTAL_PULL, ROUND_WIDTH, apply_visemes, labiodental_spans,
                                          round_lips, rounding_spans)
    ph = [Phoneme("f", 0.0, 0.1), Phoneme("u:", 0.1, 0.3), Phoneme("aU", 0.3, 0.5), Phoneme("v", 0.5, 0.6),
          Phoneme("i:", 0.6, 0.8), Phoneme("fr", 0.8, 0.9)]
    assert labiodental_spans(ph) == [(0.0, 0.1), (0.5, 0.6)]
    assert np.allclose(rounding_spans(ph), [(0.1, 0.3), (0.4, 0.5)])  # a diphthong rounds in its rounded half
    shapes = _mouths(np.full(25, 0.1))
    rounded = round_lips(shapes, [(0.1, 0.3)], 25.0)
    w0, w1 = width(shapes), width(rounded)
    assert np.allclose(w1[3:7], ROUND_WIDTH * w0[3:7]) and np.allclose(w1[12:], w0[12:])
    assert np.array_equal(rounded[:, LIP_COUNT:], shapes[:, LIP_COUNT:])  # the jaw is left alone
    closed = _mouths(np.zeros(1))[0]
    out = apply_visemes(shapes, [Phoneme("v", 0.5, 0.6), Phoneme("m", 0.0, 0.1)], 25.0, closed)
    o = opening(out)
    assert np.allclose(o[13], (1 - LABIODENTAL_PULL) * opening(shapes)[13], atol=1e-3)  # f, v: most of the way
    assert o[1] < 1e-3  # m: all the way


def test_stop_closures_end_at_the_burst_found_in_the_sound():
    from synthvid.lipsync.visemes import STOP_CLOSURE
    # synthetic: a vowel, 80 ms of silence (the closure), then the burst and the next vowel at 0.38 s; the
    # phoneme event, as espeak-ng puts it for a b between vowels, is at the start of the closure (0.30 s)
    rate = 16000
    t = np.arange(int(0.7 * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 150 * t) * ((t < 0.30) | (t >= 0.38))
    ph = [Phoneme("a", 0.1, 0.30), Phoneme("b", 0.30, 0.40), Phoneme("a", 0.40, 0.6)]
    (a, b), = lip_closures(ph, x, rate)
    assert abs(b - 0.38) <= 0.006 and abs((b - a) - STOP_CLOSURE) < 1e-9
    (a0, b0), = lip_closures(ph)  # without the sound: the window around the event
    assert (a0, b0) == (0.30 - STOP_BEFORE, 0.30 + STOP_AFTER)
    # real espeak-ng speech: every p and b closure ends where the sound jumps up
    x, rate, phonemes = speak_timed("Peter Piper bought a baby boat.")
    stops = [p for p in phonemes if p.name in ("p", "b")]
    spans = lip_closures(stops, x, rate)
    def rms(t0, t1):
        s = x[max(int(t0 * rate), 0): int(t1 * rate)]
        return float(np.sqrt(np.mean(s ** 2))) + 1e-6
    assert len(spans) == len(stops) >= 4
    assert all(rms(b, b + 0.02) > 1.5 * rms(b - 0.02, b) for _, b in spans)


def test_predict_mouths_takes_the_targets_range_only_from_a_speaking_target():
    from synthvid.lipsync import features as F
    from synthvid.lipsync.model import LipSyncModel
    from synthvid.lipsync.shape import signed_opening
    from synthvid.pipelines.lip_sync import LipSyncConfig, predict_mouths
    rng = np.random.default_rng(1)
    net = LipSyncModel.generic()
    feats = rng.normal(size=(120, F.DIM)).astype(np.float32)
    own = _mouths(np.where(rng.random(200) < 0.2, 0.0, rng.uniform(0.02, 0.12, 200)))
    plain = predict_mouths(net, feats, 25.0, own, LipSyncConfig(mouth_range="model"))
    # no speech of the target's own (a silent or short target): the filter's range is kept
    assert np.array_equal(predict_mouths(net, feats, 25.0, own), plain)
    # the target's own speech: its range is taken, through what the model predicts for that speech
    own_feats = rng.normal(size=(200, F.DIM)).astype(np.float32)
    ranged = predict_mouths(net, feats, 25.0, own, own_speech=(own_feats, np.ones(200, bool)))
    o_plain, o_ranged, o_own = (signed_opening(x) for x in (plain, ranged, own))
    assert np.quantile(o_plain, 0.1) > 0.03 and np.quantile(o_ranged, 0.1) < 0.005  # now it closes, as the target
    assert o_ranged.min() > -1e-6 and o_ranged.max() <= np.quantile(o_own, 0.99) + 1e-6
