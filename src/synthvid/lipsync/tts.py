"""Text to speech with espeak-ng (its library and voices ship inside the espeakng-loader wheel; offline).

The voice is robotic but every phoneme is articulated clearly, which is what drives the mouth. Text is checked
before synthesis: control characters are refused, and text espeak-ng speaks as nothing (only punctuation or
symbols it has no words for) is an error rather than a silent video. :func:`speak_timed` also returns when each
phoneme is spoken (espeak-ng's phoneme events), which lip sync uses to close the lips on p, b and m.
"""

from __future__ import annotations

import ctypes
import dataclasses
import threading
import unicodedata

import numpy as np

from synthvid.errors import InputError

MAX_CHARS = 20000
_LOCK = threading.Lock()  # espeak-ng keeps global state: one synthesis at a time
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE = 1  # espeakRATE parameter
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_DONT_EXIT = 0x8000  # without it espeak-ng ends the whole process when its data cannot be loaded
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7
_STRESS_MARKS = "',;%=!"  # espeak-ng's stress and emphasis marks around a phoneme mnemonic


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):  # espeak_EVENT of speak_lib.h
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclasses.dataclass(frozen=True)
class Phoneme:
    """One spoken phoneme: espeak-ng's mnemonic (stress marks removed; "_" is a pause) and its time span."""

    name: str
    start: float  # seconds from the start of the speech
    end: float


_state: dict[str, object] = {}


def _library() -> tuple[ctypes.CDLL, int]:
    if "lib" not in _state:
        try:
            import espeakng_loader  # noqa: PLC0415
        except ImportError:
            raise InputError("text input needs espeakng-loader (pip install espeakng-loader)") from None
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        data = espeakng_loader.get_data_path()
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(),
                                     _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise InputError("espeak-ng could not start (its voice data is missing)")
        _state["lib"], _state["rate"] = lib, rate
    return _state["lib"], int(_state["rate"])  # type: ignore[return-value]


def check_text(text: str) -> str:
    t = unicodedata.normalize("NFC", text or "").strip()
    if not t:
        raise InputError("--text is empty")
    if len(t) > MAX_CHARS:
        raise InputError(f"--text is {len(t)} characters long; at most {MAX_CHARS} are spoken")
    bad = sorted({c for c in t if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") and c not in "\n\t"})
    if bad:
        raise InputError("--text contains characters that cannot be spoken: "
                         + ", ".join(f"U+{ord(c):04X}" for c in bad[:5]))
    return t


def speak(text: str, voice: str = "en-us", words_per_minute: int = 160) -> tuple[np.ndarray, int]:
    """Synthesise ``text``: (mono float32 samples in [-1, 1], sample rate)."""
    samples, rate, _ = speak_timed(text, voice, words_per_minute)
    return samples, rate


def speak_timed(text: str, voice: str = "en-us",
                words_per_minute: int = 160) -> tuple[np.ndarray, int, list[Phoneme]]:
    """Synthesise ``text``: (mono float32 samples in [-1, 1], sample rate, the phonemes spoken, in order)."""
    t = check_text(text)
    if not 80 <= words_per_minute <= 450:
        raise InputError(f"speech rate must be 80-450 words per minute, got {words_per_minute}")
    chunks: list[np.ndarray] = []
    starts: list[tuple[str, int]] = []  # (mnemonic, start in ms)

    def collect(wav: ctypes.POINTER(ctypes.c_short), n: int, events: ctypes.POINTER(_Event)) -> int:
        if n > 0 and wav:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        if events:
            for i in range(10000):  # the list ends with a terminator; the bound only guards a broken library
                e = events[i]
                if e.type == _EVENT_LIST_TERMINATED:
                    break
                if e.type == _EVENT_PHONEME:
                    starts.append((e.id.string.decode("ascii", "replace"), int(e.audio_position)))
        return 0

    callback = _CALLBACK(collect)
    with _LOCK:
        lib, rate = _library()
        lib.espeak_SetSynthCallback(callback)
        try:
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise InputError(f"espeak-ng has no voice {voice!r} (try en-us, en, de, fr, es, ...)")
            lib.espeak_SetParameter(_RATE, int(words_per_minute), 0)
            raw = t.encode("utf-8") + b"\0"
            buf = ctypes.create_string_buffer(raw, len(raw))
            err = lib.espeak_Synth(buf, len(raw), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            lib.espeak_Synchronize()
        finally:
            lib.espeak_SetSynthCallback(_CALLBACK(0))  # the callback object dies with this call
    if err != 0:
        raise InputError(f"espeak-ng could not speak the text (error {err})")
    x = np.concatenate(chunks).astype(np.float32) / 32768.0 if chunks else np.zeros(0, np.float32)
    if x.size < rate // 10 or float(np.abs(x).max(initial=0.0)) < 1e-3:
        raise InputError("espeak-ng spoke nothing for this text (no words it can pronounce)")
    return x, rate, _phonemes(starts, x.size / rate)


def _phonemes(starts: list[tuple[str, int]], duration: float) -> list[Phoneme]:
    """Phoneme spans from their start times: each lasts until the next one starts (the last until the end)."""
    out: list[Phoneme] = []
    for k, (name, ms) in enumerate(starts):
        start = min(max(ms / 1000.0, 0.0), duration)
        end = min(max(starts[k + 1][1] / 1000.0, start), duration) if k + 1 < len(starts) else duration
        clean = name.strip(_STRESS_MARKS)
        if clean and end > start:
            out.append(Phoneme(clean, start, end))
    return out
