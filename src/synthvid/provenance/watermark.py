"""Invisible, keyed video/image watermark that survives re-encoding, rescaling, cropping and excerpts.

Design (all numbers are in *tile pixels*: the pattern is defined on a 128 x 128 tile that repeats over the frame):

* Carriers: the mark is a sum of plane waves, one per "carrier", whose frequencies lie in a band of 12..16 cycles per
  tile (wavelengths 8-11 px at full size, 4-5.5 px at half size). Each frequency gives two real carriers (cosine and
  sine), all mutually orthogonal on the tile. A key (SHA-256 of the user's key string) decides which carriers are
  the *pilot* (known signs, used to find the mark and measure confidence) and which carry data, and scrambles the
  data signs. These mid frequencies survive H.264 at CRF 28. Lower ones are where image content is strong
  (measured on a 256² talking head: at twice the wavelength the carriers' signal-to-noise ratio falls from 4.6 to
  1.1 before any attack) and did no better after halving the size and CRF 28, which is why the detector averages
  and small frames get informed embedding.
* Tile size: 128 px on frames under 400 x 400 pixels, 256 px on larger ones (:func:`embed_scale`), so that a copy
  halved on the way to social media still has its carriers at 8-11 px wavelengths (at 4-5.5 px H.264 at CRF 28
  wipes them out). The whitening keeps waves of up to ~9 px, so a mark seen at more than 1.41x the 128-px tile is
  read on the frames whitened at half size (:func:`_view`, :meth:`Accumulator.coarse`): the view the same mark
  has after halving, and the one informed embedding cancels the picture in.
* Payload: 64 bits (a tag byte, the version, a 48-bit content id) + CRC-16, protected by a rate-1/2 convolutional
  code (K=7, soft Viterbi decoding), spread over the data carriers.
* Redundancy: the same tile repeats over every position of every frame. The detector whitens each frame's luma
  (minus an edge-preserving smoothing of itself, :func:`whiten`),
  averages frames (the mark is static, the picture is not), searches the scale (a log grid, then a finer one), folds
  the average into one tile (all tile positions add up), and finds the tile origin by correlating with the pilot
  (so crops and excerpts from anywhere are fine). The frequency-domain read-out of the folded tile gives the soft
  data bits.
* Decision: the pilot correlation peak is turned into a z-score against the correlation at all other shifts of
  the same fold, and into a p-value with a Bonferroni correction over every scale and shift searched. The payload
  is decoded at the best position near each of the three best scales, best first, until one passes its CRC-16;
  when none does but the pilot is strong (p < 1e-3), also at the 26 positions around the best one
  (neighbouring pixel shifts, a fine scale step either side: after an attack the pilot's peak can land a pixel
  off), where only a read with synthvid's tag byte counts. On an unmarked picture the data carriers are noise,
  independent of the pilot's, so a decode passes the CRC by chance with probability 2^-16, and also shows
  synthvid's tag byte with probability 2^-24: the p-value of a passing decode is the pilot's times that, times
  2 x 3 (Bonferroni over the two ways to pass and the three positions; a neighbouring read passing with the tag
  gives the pilot's p-value times 26 x 2^-24). The mirror image is searched too (flipped videos), so every
  p-value is then doubled (Bonferroni over the two orientations). A synthvid mark whose payload reads cleanly is
  therefore "marked" (p <= 7.2e-7) even when its pilot alone is weak; a file is "marked" when that p-value is
  below 1e-6 (the stated false-positive rate) and the CRC checks; a strong pilot (p < 1e-6) with no read passing
  is reported as "a mark is present, payload unreadable".
* Embedding adds the pattern (scaled per pixel by a texture mask: more where the picture is busy, less on flat
  skin) to the luma only, by adding the same value to R, G and B; about 2 grey levels rms, PSNR >= 40 dB.
* Informed embedding on small frames (up to :data:`INFORMED_MAX_PIXELS`): with few tile positions to fold, the
  picture itself is the main noise on the carriers, and a static talking head does not average out over time.
  The embedder reads what the frame already puts on every carrier (as the detector would: whitened, folded) and
  subtracts it along with adding the mark ("improved spread spectrum", Malvar & Florencio 2003), within an energy
  cap that keeps the PSNR >= 40 dB. Large frames fold enough positions that this is not needed (and would cost
  more than the 5 ms per 720p frame budget).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import secrets
from collections.abc import Iterable
from functools import lru_cache

import cv2
import numpy as np

from synthvid import __version__

TILE = 128  # tile size in pixels at the embedding scale
BAND = (12.0, 16.0)  # carrier frequency band, cycles per tile (radius): 8-11 px wavelengths
N_PILOT = 96  # carriers with known signs; the other 264 carry the coded payload (172 bits, some twice)
PAYLOAD_BITS = 64
CRC_BITS = 16
STRENGTH = 2.2  # target rms of the luma change, grey levels (PSNR ~ 41 dB)
DEFAULT_KEY = "synthvid-public-watermark-v1"  # anyone with synthvid can check media made with the default key
FALSE_POSITIVE_RATE = 1e-6  # p-value threshold of the "marked" decision
TAG = 0x53  # 'S': first payload byte of synthvid marks
SCALES = (0.4, 3.2)  # range of scales (received size / embedded size) the detector searches
LARGE_TILE_FROM = 400 * 400  # frames of at least this many pixels get a 256-px tile (see :func:`embed_scale`)
INFORMED_MAX_PIXELS = 600 * 600  # frames up to this size get informed embedding (it costs ~3 ms at 256²)
INFORMED_ENERGY = 1.1  # informed embedding may raise the mark's rms by at most this factor (PSNR stays >= 40 dB)
INFORMED_EVERY_LARGE = 4  # frames above INFORMED_EVERY_FROM px re-read the picture for informed embedding every
# 4th frame (~10 ms a time at 512²; a talking head changes little in 4 frames); smaller ones every frame (~3 ms at 256²)
INFORMED_EVERY_FROM = 400 * 400
DECODE_CANDIDATES = 3  # pilot positions (best of each of the three best coarse scales) at which the payload is read
# When the pilot is strong but no candidate's payload passes its CRC, the payload is also read at the
# best candidate's 8 neighbouring pixel shifts and one fine scale step either side (26 more reads): the informed
# embedding cancels the picture's interference at the mark's own position only, so after an attack the pilot's peak
# can land a pixel off. A read there counts only with synthvid's tag byte as well as the CRC.
NEIGHBOUR_SCALE_STEP = 0.0015
NEIGHBOUR_READS = 26
NEIGHBOUR_GATE = 1e-3  # ... tried only when the pilot's own p-value is below this (unmarked pictures: 0.1% of them)
_CONSTRAINT = 7
_GENERATORS = (0o133, 0o171)


# --------------------------------------------------------------------------------------------------- the key


@dataclasses.dataclass(frozen=True)
class _Layout:
    """Carriers chosen by a key: frequency (u, v), part (0 cos, 1 sin) and sign of each."""

    u: np.ndarray
    v: np.ndarray
    part: np.ndarray
    sign: np.ndarray
    n_pilot: int

    @property
    def n_data(self) -> int:
        return len(self.u) - self.n_pilot


def _band_frequencies() -> list[tuple[int, int]]:
    lo, hi = BAND
    out = []
    m = int(hi)
    for v in range(-m, m + 1):
        for u in range(0, m + 1):
            if u == 0 and v <= 0:  # half plane: (u, v) and (-u, -v) are the same real wave
                continue
            if lo <= math.hypot(u, v) <= hi:
                out.append((u, v))
    return out


def key_seed(key: str) -> int:
    digest = hashlib.sha256(b"synthvid-watermark-v1\0" + key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


@lru_cache(maxsize=8)
def _layout(key: str) -> _Layout:
    freqs = _band_frequencies()
    carriers = np.array([(u, v, p) for (u, v) in freqs for p in (0, 1)], dtype=np.int64)
    rng = np.random.default_rng(key_seed(key))
    carriers = carriers[rng.permutation(len(carriers))]
    sign = rng.choice(np.array([-1.0, 1.0]), size=len(carriers))
    return _Layout(carriers[:, 0], carriers[:, 1], carriers[:, 2], sign, N_PILOT)


def _carrier_spectrum(layout: _Layout, values: np.ndarray, n: int = TILE) -> np.ndarray:
    """The 2-D FFT of an n x n tile for the given per-carrier amplitudes (real pattern, unit amplitude per carrier;
    the frequencies are in cycles per tile, so a larger ``n`` draws the same pattern enlarged)."""
    spec = np.zeros((n, n), np.complex128)
    coef = np.where(layout.part == 0, 1.0 + 0j, -1j) * values * (n * n / 2)
    np.add.at(spec, (layout.v % n, layout.u % n), coef)  # cos and sin of one frequency share a bin
    np.add.at(spec, ((-layout.v) % n, (-layout.u) % n), np.conj(coef))
    return spec


def _read_carriers(layout: _Layout, spec: np.ndarray) -> np.ndarray:
    """Per-carrier amplitudes from an n x n tile's FFT (the inverse of :func:`_carrier_spectrum` for a pure pattern)."""
    n = spec.shape[0]
    c = spec[layout.v % n, layout.u % n] / (n * n / 2)
    return np.where(layout.part == 0, c.real, -c.imag)


@lru_cache(maxsize=8)
def _pilot_spectrum(key: str) -> np.ndarray:
    layout = _layout(key)
    vals = np.zeros(len(layout.u))
    vals[: layout.n_pilot] = layout.sign[: layout.n_pilot]
    return _carrier_spectrum(layout, vals)


# --------------------------------------------------------------------------------------------------- payload coding


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE."""
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def _bits(data: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(data, np.uint8)).astype(np.int64)


def _conv_encode(bits: np.ndarray) -> np.ndarray:
    """Rate-1/2 convolutional code, constraint length 7, terminated with 6 zero tail bits."""
    state = 0
    out = []
    for b in list(bits) + [0] * (_CONSTRAINT - 1):
        state = ((state << 1) | int(b)) & ((1 << _CONSTRAINT) - 1)
        for g in _GENERATORS:
            out.append(bin(state & g).count("1") & 1)
    return np.array(out, np.int64)


@lru_cache(maxsize=1)
def _trellis() -> np.ndarray:
    """For each (previous state, input bit): the two coded bits as +-1 (the next state is ((s << 1) | b) & 63)."""
    n_states = 1 << (_CONSTRAINT - 1)
    outs = np.zeros((n_states, 2, 2))
    for s in range(n_states):
        for b in (0, 1):
            reg = ((s << 1) | b) & ((1 << _CONSTRAINT) - 1)
            for k, g in enumerate(_GENERATORS):
                outs[s, b, k] = 1.0 if bin(reg & g).count("1") & 1 else -1.0
    return outs


def _viterbi(soft: np.ndarray, n_bits: int) -> np.ndarray:
    """Soft-decision Viterbi decoding; ``soft`` holds one value per coded bit, positive meaning 1."""
    outs = _trellis()
    n_states = outs.shape[0]
    ns = np.arange(n_states)
    b = ns & 1  # the input bit that leads into each state
    prev = np.stack([ns >> 1, (ns >> 1) | (n_states >> 1)])  # its two possible previous states
    metric = np.full(n_states, -np.inf)
    metric[0] = 0.0
    steps = len(soft) // 2
    choice = np.zeros((steps, n_states), np.int64)
    for t in range(steps):
        gain = outs @ soft[2 * t: 2 * t + 2]  # (previous state, input bit)
        cand = metric[prev] + gain[prev, b]  # (2, states)
        choice[t] = np.argmax(cand, axis=0)
        metric = cand.max(axis=0)
    state = 0  # the code is terminated: it ends in state 0
    bits = np.zeros(steps, np.int64)
    for t in range(steps - 1, -1, -1):
        bits[t] = state & 1
        state = prev[choice[t, state], state]
    return bits[:n_bits]


def _carrier_bits(n_carriers: int, n_coded: int) -> np.ndarray:
    """Which coded bit each data carrier carries: every coded bit once, the spare carriers repeating bits spread
    evenly along the code. (Repeating the first bits instead leaves the end of the trellis, where the CRC and the
    tail are, on single carriers: a clip whose payload bits all read right could still fail its CRC.)"""
    return np.arange(n_carriers) * n_coded // n_carriers


def _coded_bits(payload: bytes) -> np.ndarray:
    return _conv_encode(_bits(payload + crc16(payload).to_bytes(2, "big")))


# --------------------------------------------------------------------------------------------------- payload


@dataclasses.dataclass(frozen=True)
class Payload:
    """What a synthvid mark says: made by synthvid (tag), which version, and a 48-bit content id."""

    content_id: int
    version: str = ""  # "major.minor" (what fits in the mark); empty: this synthvid's
    tag: int = TAG

    def __post_init__(self) -> None:
        object.__setattr__(self, "version", _unpack_version(_pack_version(self.version or __version__)))

    def to_bytes(self) -> bytes:
        return bytes([self.tag & 0xFF, _pack_version(self.version)]) + (self.content_id & (2**48 - 1)).to_bytes(6, "big")

    @classmethod
    def from_bytes(cls, data: bytes) -> Payload:
        return cls(content_id=int.from_bytes(data[2:8], "big"), version=_unpack_version(data[1]), tag=data[0])

    @classmethod
    def new(cls) -> Payload:
        return cls(content_id=secrets.randbits(48))

    @property
    def content_hex(self) -> str:
        return f"{self.content_id:012x}"

    @property
    def made_by_synthvid(self) -> bool:
        return self.tag == TAG


def _pack_version(version: str) -> int:
    parts = [int(p) if p.isdigit() else 0 for p in version.split(".")[:2]] + [0, 0]
    return ((min(parts[0], 7) << 5) | min(parts[1], 31)) & 0xFF


def _unpack_version(b: int) -> str:
    return f"{b >> 5}.{b & 31}"


# --------------------------------------------------------------------------------------------------- embedding


@lru_cache(maxsize=16)
def _tile(key: str, payload: bytes, n: int = TILE) -> np.ndarray:
    """The unit-rms float32 n x n tile for one key and payload."""
    layout = _layout(key)
    coded = _coded_bits(payload)
    if len(coded) > layout.n_data:
        raise ValueError("payload does not fit the carriers")
    vals = layout.sign.copy()
    data = (coded * 2.0 - 1.0)[_carrier_bits(layout.n_data, len(coded))]
    vals[layout.n_pilot:] *= data
    tile = np.fft.ifft2(_carrier_spectrum(layout, vals, n)).real
    return (tile / tile.std()).astype(np.float32)


def embed_scale(h: int, w: int) -> int:
    """The size of the mark's tile on an h x w frame, in units of :data:`TILE` px: 2 on frames of at least
    :data:`LARGE_TILE_FROM` pixels (and 256 px on the shorter side), else 1. A 128-px tile halved with the video puts
    the carriers at 4-5.5 px wavelengths, which H.264 at CRF 28 wipes out: measured on 2-s excerpts of talking heads
    at 1080p, 720p, 640 x 360, 512² and 400², the payload was lost after halving with the 128-px tile and kept with
    the 256-px one (most clips; all at 640 x 360 and up). On smaller frames a 256-px tile has too few positions to
    fold, and the picture's own content at those wavelengths drowns the mark: at 320² and 256² it was lost at CRF 28
    with no resizing at all."""
    return 2 if h * w >= LARGE_TILE_FROM and min(h, w) >= 2 * TILE else 1


class Embedder:
    """Adds one key's mark with one payload to frames of any size. Cheap per frame (the tiled pattern is cached;
    small frames get informed embedding, see the module's notes)."""

    def __init__(self, payload: Payload, key: str | None = None, strength: float = STRENGTH,
                 informed: bool = True, existing: bool = False, scale: int | None = None) -> None:
        self.payload = payload
        self.key = key or DEFAULT_KEY
        self.strength = float(strength)
        self.informed = informed
        self.scale = scale  # tile size in units of TILE px; None: by frame size (:func:`embed_scale`)
        # ``existing``: the frames may already carry this very mark (an edit of a synthvid output). The share of
        # the mark already present is measured on the first frame and only the shortfall is added, so that
        # re-marking does not double the mark (-6 dB PSNR per generation); with informed embedding (small frames)
        # a frame that has most of the mark is left as it is (informed embedding would read the old mark as the
        # picture's interference and, the whitening being compressive, over-cancel it: measured on a 256² frame,
        # a second informed pass took the PSNR against the unmarked frame from 41 to 48 dB, i.e. removed most of
        # the mark). A mark at another position or scale measures as ~0.
        self.existing = existing
        self._shortfall: float | None = None
        self._values = _read_carriers(_layout(self.key), np.fft.fft2(_tile(self.key, payload.to_bytes())))
        self._size: tuple[int, int] | None = None
        self._pattern: np.ndarray | None = None
        self._response: float | None = None  # whitened carrier amplitude per unit of embedded carrier amplitude
        self._informed: tuple[tuple[int, int], int, np.ndarray] | None = None  # (size, age, pattern) last computed

    def _scale_for(self, h: int, w: int) -> int:
        return self.scale or embed_scale(h, w)

    def _pattern_for(self, h: int, w: int) -> np.ndarray:
        if self._size != (h, w):
            n = round(TILE * self._scale_for(h, w))
            reps = (-(-h // n), -(-w // n))
            tile = _tile(self.key, self.payload.to_bytes(), n)
            self._pattern = np.ascontiguousarray(np.tile(tile, reps)[:h, :w] * self.strength)
            self._size = (h, w)
        assert self._pattern is not None
        return self._pattern

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Return a marked copy of a uint8 H x W x 3 RGB frame (luma change only: the same value on R, G and B)."""
        h, w = frame.shape[:2]
        small = texture_gain(frame)
        small *= 1.0 / max(float(np.sqrt(np.mean(small * small))), 1e-6)  # the rms change stays at ``strength``
        n = round(TILE * self._scale_for(h, w))
        informed = self.informed and h * w <= INFORMED_MAX_PIXELS and min(h, w) >= n // 2
        if self.existing and self._shortfall is None:
            full_gain = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
            self._shortfall = self._measure_shortfall(frame, self._pattern_for(h, w), full_gain)
        if self._shortfall is not None:
            if self._shortfall <= (0.5 if informed else 0.0):
                return frame.copy()  # the mark is (nearly) all there already
            if not informed:
                small *= self._shortfall  # on the 1/4-size gain: no extra full-size pass
        gain = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        pattern = self._informed_pattern(frame, gain) if informed else self._pattern_for(h, w)
        return _add_luma(frame, cv2.multiply(pattern, gain))

    def _measure_shortfall(self, frame: np.ndarray, pattern: np.ndarray, gain: np.ndarray) -> float:
        """1 - the share of this mark (at this size and tile origin) that ``frame`` already carries, in [0, 1].
        Read on at most 4 x 4 whole tiles near the centre (tile-aligned, so the fold keeps the origin): ~20 ms,
        once per output."""
        h, w = frame.shape[:2]
        s = self._scale_for(h, w)
        n = round(TILE * s)
        if min(h, w) < n // 2:
            return 1.0
        th, tw = min(4, h // n) * n or h, min(4, w // n) * n or w
        y0, x0 = ((h - th) // 2 // n) * n, ((w - tw) // 2 // n) * n
        box = (slice(y0, y0 + th), slice(x0, x0 + tw))
        frame, pattern, gain = (np.ascontiguousarray(a[box]) for a in (frame, pattern, gain))
        host = self._read(frame, s)
        full = self._read(_add_luma(frame, cv2.multiply(pattern, gain)), s)
        added = full - host  # what one full mark puts on the carriers
        share = float(host @ added) / max(float(added @ added), 1e-12)
        return float(np.clip(1.0 - share, 0.0, 1.0))

    def _read(self, frame: np.ndarray, s: int) -> np.ndarray:
        """What the detector reads on each carrier of this frame for a mark at tile scale ``s``."""
        residual, scale = _view(frame, s)
        return _read_carriers(_layout(self.key), np.fft.fft2(_fold(residual, scale)))

    def _informed_pattern(self, frame: np.ndarray, gain: np.ndarray) -> np.ndarray:
        """This frame's pattern: the mark plus minus what the picture already puts on each carrier (re-read on
        frames above 400 x 400 px every :data:`INFORMED_EVERY_LARGE` frames only)."""
        h, w = frame.shape[:2]
        every = INFORMED_EVERY_LARGE if h * w > INFORMED_EVERY_FROM else 1
        if self._informed is not None and self._informed[0] == (h, w) and self._informed[1] + 1 < every:
            self._informed = ((h, w), self._informed[1] + 1, self._informed[2])
            return self._informed[2]
        pattern = self._new_informed_pattern(frame, gain)
        self._informed = ((h, w), 0, pattern)
        return pattern

    def _new_informed_pattern(self, frame: np.ndarray, gain: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        s = self._scale_for(h, w)
        layout = _layout(self.key)
        host = self._read(frame, s)
        if self._response is None:  # measured once, on the first frame: how strongly a carrier comes through
            plain = _add_luma(frame, cv2.multiply(self._pattern_for(h, w), gain))
            seen = self._read(plain, s) - host
            self._response = max(float(seen @ self._values / (self._values @ self._values)), 1e-6) / self.strength
        fix = -host / (self._response * self.strength)  # in units of the unit tile's carrier amplitudes
        v = self._values
        # carriers' mean square is half their squared amplitude; the unit tile's is 1: cap the total at
        # INFORMED_ENERGY**2 by shrinking the correction (largest f in [0, 1] with |v + f fix|^2 <= 2 cap^2)
        a, b, c = fix @ fix, 2 * (v @ fix), v @ v - 2 * INFORMED_ENERGY ** 2
        f = 1.0 if a <= 0 or a + b + c <= 0 else float(np.clip((-b + math.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a),
                                                              0.0, 1.0))
        n = round(TILE * s)
        tile = np.fft.ifft2(_carrier_spectrum(layout, v + f * fix, n)).real.astype(np.float32)
        reps = (-(-h // n), -(-w // n))
        return np.ascontiguousarray(np.tile(tile, reps)[:h, :w] * self.strength)


def _add_luma(frame: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """``frame`` plus the float H x W ``delta`` on R, G and B alike, rounded and saturated."""
    pos = cv2.convertScaleAbs(cv2.max(delta, 0.0))  # rounded, saturated to uint8
    neg = cv2.convertScaleAbs(cv2.min(delta, 0.0))
    out = cv2.add(frame, cv2.cvtColor(pos, cv2.COLOR_GRAY2RGB))
    return cv2.subtract(out, cv2.cvtColor(neg, cv2.COLOR_GRAY2RGB))


def texture_gain(frame: np.ndarray, lo: float = 0.3, hi: float = 2.0) -> np.ndarray:
    """Gain of the mark at 1/4 size (it only needs to be smooth, so it costs little): higher where the picture is
    busy (masks it), lower on flat areas."""
    h, w = frame.shape[:2]
    small = cv2.resize(frame, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    y = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    mu = cv2.blur(y, (3, 3))
    var = cv2.blur(y * y, (3, 3)) - mu * mu
    sd = np.sqrt(np.maximum(var, 0.0))
    gain = np.clip((sd + 2.0) / 6.0, lo, hi)
    return cv2.GaussianBlur(gain, (0, 0), 1.0)


# --------------------------------------------------------------------------------------------------- detection


WHITEN_RANGE = 6.0  # grey levels: the edge-preserving smoothing keeps (as picture) what differs by more than this
WHITEN_SPACE = 3.0  # px: ... and smooths over this radius (of a 2-grey-level wave, the residual keeps about half at
# 9 px and all of it at 4.5 px: the mark at full and at half size)


def whiten(frame: np.ndarray) -> np.ndarray:
    """Luma residual normalised by local contrast: the luma minus an edge-preserving (bilateral) smoothing of it.
    The mark is a low-amplitude wave, which the smoothing removes, so it stays in the residual; the picture's edges
    and strong texture differ by more than :data:`WHITEN_RANGE` grey levels and stay in the smoothed picture, out of
    the residual. Measured on 256² and 512² talking heads: the picture's share of the carriers' read-out falls 2-3x
    against a plain high-pass (luma minus a Gaussian blur), the carriers' signal-to-noise ratio rises by as much."""
    if frame.ndim == 3:
        y = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
    else:
        y = frame.astype(np.float32)
    r = y - cv2.bilateralFilter(y, 0, WHITEN_RANGE, WHITEN_SPACE)
    sd = np.sqrt(cv2.GaussianBlur(r * r, (0, 0), 6.0))
    return np.clip(r / (sd + 1.0), -3.0, 3.0)


@dataclasses.dataclass
class Detection:
    """The detector's answer for one key."""

    marked: bool
    p_value: float
    z: float
    scale: float
    offset: tuple[int, int]
    payload: Payload | None
    crc_ok: bool
    frames: int
    bit_margin: float  # mean |soft bit| / its spread: how clean the read-out was
    mirrored: bool = False  # found in the left-right mirror image (the video was flipped after marking)
    bits: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.uint8), repr=False)  # decoded payload

    @property
    def confidence(self) -> float:
        return 1.0 - self.p_value

    def as_dict(self) -> dict:
        return {
            "marked": self.marked, "p_value": self.p_value, "confidence": self.confidence, "z": round(self.z, 2),
            "scale": round(self.scale, 4), "offset": list(self.offset), "crc_ok": self.crc_ok, "frames": self.frames,
            "bit_margin": round(self.bit_margin, 3), "mirrored": self.mirrored,
            "payload": None if self.payload is None else {
                "tag": self.payload.tag, "made_by_synthvid": self.payload.made_by_synthvid,
                "version": self.payload.version, "content_id": self.payload.content_hex},
        }


_Views = tuple[np.ndarray, "np.ndarray | None"]  # a residual and (optionally) its half-size counterpart
COARSE_FROM = math.sqrt(2.0)  # marks at scales above this are read on the half-size residual (see :func:`_view`)


def _half(frame: np.ndarray) -> np.ndarray:
    return cv2.resize(frame, (max(1, frame.shape[1] // 2), max(1, frame.shape[0] // 2)), interpolation=cv2.INTER_AREA)


def _view(frame: np.ndarray, scale: float) -> tuple[np.ndarray, float]:
    """The whitened residual a mark at ``scale`` is read on, and the scale to fold it at. :func:`whiten` keeps waves of
    up to ~9 px wavelength (12-16 cycles per 128-px tile); a larger mark (a 256-px tile on a small frame, or a video
    enlarged after marking) would be smoothed away with the picture, so it is read on the half-size frame, as the
    detector sees the same mark after the video was halved."""
    if scale <= COARSE_FROM:
        return whiten(frame), scale
    small = _half(frame)
    return whiten(small), scale * small.shape[0] / frame.shape[0]


class Accumulator:
    """Averages whitened frames, at full and at half size; the mark is static so it adds up while the picture
    changes."""

    def __init__(self) -> None:
        self.sum: np.ndarray | None = None
        self.coarse_sum: np.ndarray | None = None
        self.n = 0

    def add(self, frame: np.ndarray) -> None:
        r = whiten(frame)
        c = whiten(_half(frame))
        if self.sum is None or self.coarse_sum is None:
            self.sum = np.zeros_like(r, dtype=np.float64)
            self.coarse_sum = np.zeros_like(c, dtype=np.float64)
        if r.shape != self.sum.shape:
            raise ValueError("all frames must have the same size")
        self.sum += r
        self.coarse_sum += c
        self.n += 1

    def mean(self) -> np.ndarray:
        if self.sum is None:
            raise ValueError("no frames")
        return (self.sum / self.n).astype(np.float32)

    def coarse(self) -> np.ndarray:
        """The average of the half-size frames' residuals (where marks at scales above :data:`COARSE_FROM` are read)."""
        if self.coarse_sum is None:
            raise ValueError("no frames")
        return (self.coarse_sum / self.n).astype(np.float32)


def _fold(residual: np.ndarray, scale: float) -> np.ndarray:
    """Resample so a tile is TILE px again, and fold every tile position onto one tile (mean per pixel)."""
    h, w = residual.shape
    nh, nw = max(8, round(h / scale)), max(8, round(w / scale))
    img = cv2.resize(residual, (nw, nh), interpolation=cv2.INTER_LINEAR)
    ph, pw = -(-nh // TILE) * TILE, -(-nw // TILE) * TILE
    pad = np.zeros((ph, pw), np.float32)
    cnt = np.zeros((ph, pw), np.float32)
    pad[:nh, :nw] = img
    cnt[:nh, :nw] = 1.0
    s = pad.reshape(ph // TILE, TILE, pw // TILE, TILE).sum(axis=(0, 2))
    c = cnt.reshape(ph // TILE, TILE, pw // TILE, TILE).sum(axis=(0, 2))
    return np.where(c > 0, s / np.maximum(c, 1.0), 0.0)


@lru_cache(maxsize=1)
def _rings() -> np.ndarray:
    k = np.fft.fftfreq(TILE) * TILE
    return np.rint(np.hypot(k[None, :], k[:, None])).astype(np.int64)


def _flatten(spec: np.ndarray) -> np.ndarray:
    """Divide a tile spectrum by its rms in each ring of radius: the picture's 1/f spectrum becomes flat, so every
    carrier counts by its own signal-to-noise ratio (the matched filter for coloured noise)."""
    rings = _rings()
    power = np.bincount(rings.ravel(), (np.abs(spec) ** 2).ravel()) / np.maximum(np.bincount(rings.ravel()), 1)
    return spec / np.sqrt(np.maximum(power, 1e-20))[rings]


def _pilot_scores(tile_spec: np.ndarray, key: str) -> np.ndarray:
    """Cross-correlation of a folded tile with the pilot pattern at every cyclic shift."""
    return np.fft.ifft2(tile_spec * np.conj(_pilot_spectrum(key))).real


def _zscore(corr: np.ndarray) -> tuple[float, tuple[int, int]]:
    i = int(np.argmax(corr))
    dy, dx = divmod(i, TILE)
    peak = corr[dy, dx]
    mask = np.ones_like(corr, bool)
    ys = (np.arange(-6, 7) + dy) % TILE
    xs = (np.arange(-6, 7) + dx) % TILE
    mask[np.ix_(ys, xs)] = False
    rest = corr[mask]
    sd = rest.std()
    return (float((peak - rest.mean()) / sd) if sd > 0 else 0.0), (dy, dx)


def _at(views: _Views, scale: float) -> tuple[np.ndarray, float]:
    """The residual a mark at ``scale`` is read on (full or half size, see :func:`_view`) and its fold scale."""
    residual, coarse = views
    if coarse is None or scale <= COARSE_FROM:
        return residual, scale
    return coarse, scale * coarse.shape[0] / residual.shape[0]


def _search(views: _Views, key: str, scales: Iterable[float], crop: int | None) -> list[tuple[float, float, tuple[int, int]]]:
    out = []
    for s in scales:
        res, fs = _at(views, s)
        if crop is not None:
            h, w = res.shape
            ch, cw = min(h, crop), min(w, crop)
            y0, x0 = (h - ch) // 2, (w - cw) // 2
            res = res[y0:y0 + ch, x0:x0 + cw]
        tile = _fold(res, fs)
        z, shift = _zscore(_pilot_scores(_flatten(np.fft.fft2(tile)), key))
        out.append((z, float(s), shift))
    return out


def _p_value(z: float, n_tests: int) -> float:
    tail = 0.5 * math.erfc(z / math.sqrt(2.0))
    return float(min(1.0, -math.expm1(n_tests * math.log1p(-min(tail, 1 - 1e-16)))))


def detect_residual(residual: np.ndarray, key: str | None = None, frames: int = 1,
                    scales: tuple[float, float] = SCALES, mirrored: bool = True,
                    coarse: np.ndarray | None = None) -> Detection:
    """Search scale (within ``scales``) and position of the mark in an averaged whitened residual, then read the
    payload. ``coarse``: the average residual of the same frames at half size (:meth:`Accumulator.coarse`), where
    scales above :data:`COARSE_FROM` are read; without it every scale is read on ``residual``. With ``mirrored`` the
    left-right mirror image is searched too (a flipped video, a common edit on the way to social media and a cheap
    way to dodge a mark), and the p-value counts both searches."""
    key = key or DEFAULT_KEY
    views = (residual, coarse)
    if not mirrored:
        return _detect_oriented(views, key, frames, scales, 1)
    found = _detect_oriented(views, key, frames, scales, 2)
    if found.marked:  # (the mirror would have been searched too: the p-value already counts it)
        return found
    flip = tuple(None if v is None else np.ascontiguousarray(v[:, ::-1]) for v in views)
    flipped = _detect_oriented((flip[0], flip[1]), key, frames, scales, 2)
    if (flipped.marked, -flipped.p_value) <= (found.marked, -found.p_value):
        return found
    # a mirror image's reading is reported, and called mirrored, only when something was found there
    flipped.mirrored = flipped.marked or flipped.p_value < FALSE_POSITIVE_RATE
    return flipped


def _detect_oriented(views: _Views, key: str, frames: int, scales: tuple[float, float],
                     orientations: int) -> Detection:
    """:func:`detect_residual` in one orientation; the p-value is multiplied by ``orientations`` (Bonferroni over
    the searches made)."""
    lo, hi = scales
    h, w = views[0].shape
    # a scale at which the frame would be smaller than half a tile cannot be read
    hi = min(hi, 2.0 * min(h, w) / TILE)
    if hi < lo:  # too small to hold even half a tile at the smallest scale searched
        return Detection(marked=False, p_value=1.0, z=0.0, scale=1.0, offset=(0, 0), payload=None, crc_ok=False,
                         frames=frames, bit_margin=0.0)
    coarse = np.exp(np.arange(math.log(lo), math.log(hi) + 1e-9, 0.01))
    tested = len(coarse)
    found = _search(views, key, coarse, crop=256)
    found.sort(key=lambda t: -t[0])
    candidates = []  # the best refined position near each of the three best coarse scales
    for _, s0, _ in found[:DECODE_CANDIDATES]:  # (the coarse search saw a centre crop: its shifts differ)
        fine = s0 * np.exp(np.arange(-0.006, 0.0061, 0.0015))
        tested += len(fine)
        candidates.append(max(_search(views, key, fine, crop=None), key=lambda t: t[0]))  # full frame
    candidates.sort(key=lambda t: -t[0])
    result = None
    for z, scale, shift in candidates:
        bits, crc_ok, margin = _decode_at(views, key, scale, shift)
        p = _p_value(z, tested * TILE * TILE)
        if crc_ok:
            # On an unmarked picture the data carriers are noise, independent of the pilot's, and a decode passes
            # the CRC-16 by chance with probability 2^-16; one that also shows synthvid's tag byte, with 2^-24.
            # Either way of passing (tag or not), at any of the positions decoded: Bonferroni over both.
            p = min(1.0, 2 * len(candidates) * p * 2.0 ** -(CRC_BITS + (8 if _has_tag(bits) else 0)))
        if result is None or crc_ok:  # the best position's read, unless a later one passes its CRC
            result = (z, scale, shift, p, crc_ok, bits, margin)
        if crc_ok:
            break
    assert result is not None
    if not result[4] and result[3] < NEIGHBOUR_GATE:  # a mark is likely there, its payload did not read: look nearby
        z, scale, shift = candidates[0]
        near = _decode_near(views, key, scale, shift)
        if near is not None:
            scale, shift, bits, margin = near
            # a tagged CRC pass among the neighbouring reads of an unmarked picture has probability at most
            # NEIGHBOUR_READS x 2^-24, on top of a pilot this strong
            p = min(1.0, NEIGHBOUR_READS * _p_value(z, tested * TILE * TILE) * 2.0 ** -(CRC_BITS + 8))
            result = (z, scale, shift, p, True, bits, margin)
    z, scale, (dy, dx), p, crc_ok, bits, margin = result
    p = min(1.0, orientations * p)  # Bonferroni over the orientations searched (each search's p bounds its own)
    raw = np.packbits(bits.astype(np.uint8)).tobytes()
    marked = p < FALSE_POSITIVE_RATE and crc_ok
    return Detection(marked=marked, p_value=p, z=z, scale=scale, offset=(dy, dx),
                     payload=Payload.from_bytes(raw[:8]) if crc_ok else None, crc_ok=crc_ok, frames=frames,
                     bit_margin=margin, bits=bits[:PAYLOAD_BITS].astype(np.uint8))


def _has_tag(bits: np.ndarray) -> bool:
    return int(np.packbits(bits[:8].astype(np.uint8))[0]) == TAG


def _decode_near(views: _Views, key: str, scale: float, shift: tuple[int, int]
                 ) -> tuple[float, tuple[int, int], np.ndarray, float] | None:
    """Read the payload at the :data:`NEIGHBOUR_READS` positions around (``scale``, ``shift``): the 8 neighbouring
    pixel shifts at this scale and all 9 at one fine scale step either side. The first read that passes its CRC and
    shows synthvid's tag byte: (scale, shift, bits, margin); None if none does."""
    for s in (scale, scale * math.exp(-NEIGHBOUR_SCALE_STEP), scale * math.exp(NEIGHBOUR_SCALE_STEP)):
        for dy in (0, -1, 1):
            for dx in (0, -1, 1):
                if s == scale and dy == 0 and dx == 0:
                    continue  # already read
                at = ((shift[0] + dy) % TILE, (shift[1] + dx) % TILE)
                bits, crc_ok, margin = _decode_at(views, key, s, at)
                if crc_ok and _has_tag(bits):
                    return s, at, bits, margin
    return None


def _decode_at(views: _Views, key: str, scale: float, shift: tuple[int, int]) -> tuple[np.ndarray, bool, float]:
    """Soft-read and Viterbi-decode the payload at one scale and tile origin: (80 bits, CRC ok, bit margin)."""
    dy, dx = shift
    spec = _flatten(np.fft.fft2(_fold(*_at(views, scale))))
    # undo the cyclic shift of the tile origin (found to the pixel)
    k = np.fft.fftfreq(TILE) * TILE
    phase = np.exp(2j * np.pi * (k[None, :] * dx + k[:, None] * dy) / TILE)
    layout = _layout(key)
    amps = _read_carriers(layout, spec * phase)
    data = amps[layout.n_pilot:] * layout.sign[layout.n_pilot:]
    n_coded = 2 * (PAYLOAD_BITS + CRC_BITS + _CONSTRAINT - 1)
    soft = np.zeros(n_coded)
    np.add.at(soft, _carrier_bits(layout.n_data, n_coded), data)
    bits = _viterbi(soft, PAYLOAD_BITS + CRC_BITS)
    raw = np.packbits(bits.astype(np.uint8)).tobytes()
    crc_ok = crc16(raw[:8]) == int.from_bytes(raw[8:10], "big")
    return bits, crc_ok, float(np.abs(soft).mean() / (soft.std() + 1e-12))


def detect_frames(frames: Iterable[np.ndarray], key: str | None = None, max_frames: int | None = None) -> Detection:
    """Detect the mark in a sequence of RGB frames (a video or one image)."""
    acc = Accumulator()
    for i, f in enumerate(frames):
        if max_frames is not None and i >= max_frames:
            break
        acc.add(f)
    if acc.n == 0:
        raise ValueError("no frames to look at")
    return detect_residual(acc.mean(), key, frames=acc.n, coarse=acc.coarse())


def psnr_of_mark(frame: np.ndarray, marked: np.ndarray) -> float:
    mse = float(np.mean((frame.astype(np.float64) - marked.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)
