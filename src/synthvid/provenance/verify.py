"""`synthvid verify FILE`: is there a synthvid watermark, and is there a valid signed manifest?"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from synthvid.errors import InputError
from synthvid.io.files import check_input_file
from synthvid.io.image import IMAGE_SUFFIXES, read_image
from synthvid.provenance import manifest as mf
from synthvid.provenance import watermark as wm

# exit codes of `synthvid verify` (errors keep the usual 2-5)
EXIT_MARKED = 0  # synthvid provenance found and intact
EXIT_NOT_MARKED = 1  # no watermark and no manifest: "not marked"
EXIT_TAMPERED = 6  # a manifest is present but does not validate (file changed after signing, or forged)


@dataclasses.dataclass
class Verdict:
    path: str
    verdict: str  # "synthetic" | "not marked" | "tampered"
    watermark: dict[str, Any]
    manifest: dict[str, Any]
    exit_code: int

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=True, default=str)

    def summary(self) -> str:
        w, m = self.watermark, self.manifest
        lines = [f"{self.path}"]
        if w.get("error"):
            lines.append(f"  watermark: not checked ({w['error']})")
        elif w.get("marked"):
            pl = w.get("payload") or {}
            flip = ", mirrored" if w.get("mirrored") else ""
            lines.append(f"  watermark: FOUND (p={w['p_value']:.1e}, z={w['z']}, scale {w['scale']:.2f}{flip}, "
                         f"{w['frames']} frames, key {w['key']}) - synthvid {pl.get('version')}, content id "
                         f"{pl.get('content_id')}")
        elif w.get("p_value", 1.0) < wm.FALSE_POSITIVE_RATE:
            flip = ", mirrored" if w.get("mirrored") else ""
            lines.append(f"  watermark: a mark with key {w['key']} is present (p={w['p_value']:.1e}{flip}) but its "
                         "payload could not be read")
        else:
            lines.append(f"  watermark: not found (p={w.get('p_value', 1.0):.2f}, {w.get('frames', 0)} frames)")
        state = m.get("state")
        if state == "absent":
            lines.append(f"  manifest:  absent ({m.get('detail')})")
        elif state == "invalid":
            lines.append(f"  manifest:  INVALID - {m.get('detail')} ({', '.join(m.get('failures') or [])})")
        else:
            who = "this install" if m.get("signed_by_this_install") else "not this install"
            trust = "on a trust list" if m.get("trusted") else "not on a public trust list"
            lines.append(f"  manifest:  valid, signed by \"{m.get('signer')}\" ({who}; {trust})")
            job = (m.get("assertions") or {}).get("org.synthvid.job") or {}
            actions = ((m.get("assertions") or {}).get("c2pa.actions.v2") or {}).get("actions") or [{}]
            source = str(actions[0].get("digitalSourceType", "")).rsplit("/", 1)[-1]
            if job:
                names = ", ".join(i.get("name", "?") for i in job.get("inputs", [])) or "none"
                lines.append(f"             job {job.get('job')}, source type {source}, inputs: {names}")
            consent = (m.get("assertions") or {}).get("org.synthvid.consent")
            if consent:
                lines.append(f"             consent: {consent.get('file')} (sha256 {str(consent.get('sha256'))[:16]}...)")
        lines.append(f"  verdict:   {self.verdict}")
        return "\n".join(lines)


def _accumulate(path: Path, max_frames: int) -> tuple[wm.Accumulator, str | None]:
    """Whitened average of up to ``max_frames`` frames (or the one image), streamed; the second value says why there
    are no frames. Frames of another size than the first (a resized stream) are skipped."""
    acc = wm.Accumulator()
    if path.suffix.lower() in IMAGE_SUFFIXES:
        acc.add(read_image(path))
        return acc, None
    from synthvid.io.media import open_media
    from synthvid.io.video import VideoReader

    container = open_media(path, "media", need_video=False)  # InputError when it is not media at all
    has_video = bool(container.streams.video)
    container.close()
    if not has_video:
        return acc, "the file has no video stream"
    try:
        with VideoReader(path) as reader:
            for f in reader:
                if acc.sum is None or f.shape[:2] == acc.sum.shape:
                    acc.add(f)
                if acc.n >= max_frames:
                    break
    except InputError as e:
        if acc.n == 0:
            return acc, str(e)
    return acc, None


def check_watermark(path: str | os.PathLike, keys: list[str] | None = None, max_frames: int = 300) -> dict[str, Any]:
    acc, why = _accumulate(check_input_file(path, "input"), max_frames)
    if acc.n == 0:
        return {"marked": False, "error": why, "frames": 0, "p_value": 1.0}
    residual, coarse = acc.mean(), acc.coarse()
    best: dict[str, Any] | None = None
    for key in keys or [wm.DEFAULT_KEY]:
        d = wm.detect_residual(residual, key, frames=acc.n, coarse=coarse).as_dict()
        d["key"] = "default" if key == wm.DEFAULT_KEY else "given"
        if best is None or (d["marked"], -d["p_value"]) > (best["marked"], -best["p_value"]):
            best = d
    assert best is not None
    return best


PROBE_MAX_PIXELS = 4096 * 4096  # larger pictures are not probed (memory): their mark keeps its own payload


def existing_payload(path: str | os.PathLike, key: str | None = None, max_frames: int = 4) -> wm.Payload | None:
    """The payload of a readable mark with ``key`` at about its embedded size (scale 0.97-1.03) in the first
    ``max_frames`` frames of a video or image, else None.

    A quick look (~0.1 s at 720p; the writer uses it on the input whose picture an output carries, see
    :class:`~synthvid.provenance.Marker`): a synthvid output shows its mark in a few frames, and only a mark at the
    size of the new one can clash with it. Anything that is not readable media is None too; the job that reads
    the file reports its faults."""
    try:
        p = Path(path)
        if not p.is_file():  # FIFOs, devices and folders are never opened here
            return None
        if p.suffix.lower() in IMAGE_SUFFIXES:
            from PIL import Image

            with Image.open(p) as im:  # reads the header only
                if im.width * im.height > PROBE_MAX_PIXELS:
                    return None
        acc, _ = _accumulate(p, max_frames)
        if acc.n == 0 or acc.sum is None or acc.sum.size > PROBE_MAX_PIXELS:
            return None
        # upright only: a mirrored mark cannot clash with the new one, and the probe stays quick
        e = wm.embed_scale(*acc.sum.shape)  # the scale a new mark on these frames would have
        d = wm.detect_residual(acc.mean(), key, frames=acc.n, scales=(0.97 * e, 1.03 * e), mirrored=False,
                               coarse=acc.coarse())
    except Exception:  # noqa: BLE001 - a best-effort probe of a possibly hostile file; the job reads it properly
        return None
    # only synthvid's own payloads are carried on: a crafted input must not choose what our outputs say
    return d.payload if d.marked and d.payload is not None and d.payload.made_by_synthvid else None


def verify(path: str | os.PathLike, key: str | None = None, max_frames: int = 300) -> Verdict:
    """Check a file's watermark (with ``key`` and the public default key) and its C2PA manifest."""
    p = check_input_file(path, "input")
    if max_frames < 1:
        raise InputError(f"max_frames must be at least 1, got {max_frames}")
    keys = [k for k in (key or os.environ.get("SYNTHVID_WATERMARK_KEY"), wm.DEFAULT_KEY) if k]
    w = check_watermark(p, list(dict.fromkeys(keys)), max_frames)  # the public key once, even if given twice
    m = mf.check(p).as_dict()
    if m["state"] == "invalid":
        verdict, code = "tampered (the signed manifest does not match the file)", EXIT_TAMPERED
    elif w.get("marked") or (m["state"] == "valid" and "org.synthvid.job" in (m.get("assertions") or {})):
        verdict, code = "synthetic - made by synthvid", EXIT_MARKED
    elif w.get("p_value", 1.0) < wm.FALSE_POSITIVE_RATE:  # the pilot alone passes the same false-positive bound
        verdict, code = "synthetic - made by synthvid (watermark present, payload unreadable)", EXIT_MARKED
    elif m["state"] == "valid":
        verdict, code = "no synthvid watermark; a valid C2PA manifest from another tool (see its assertions)", \
            EXIT_NOT_MARKED
    else:
        verdict, code = "not marked (no synthvid watermark, no manifest)", EXIT_NOT_MARKED
    return Verdict(str(p), verdict, w, m, code)


__all__ = ["Verdict", "verify", "check_watermark", "existing_payload", "EXIT_MARKED", "EXIT_NOT_MARKED",
           "EXIT_TAMPERED"]
