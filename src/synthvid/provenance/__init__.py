"""Provenance on every output: an invisible keyed watermark in every frame and a signed C2PA manifest.

The single output writer (:mod:`synthvid.io.output`) calls :class:`Marker` for each file it writes. Options come
from :func:`configure` (the CLI's ``--watermark-key`` and ``--consent``) or the environment
(``SYNTHVID_WATERMARK_KEY``, ``SYNTHVID_CONSENT``, ``SYNTHVID_SIGN_KEY``/``SYNTHVID_SIGN_CERT``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Options:
    watermark_key: str | None = None  # None: $SYNTHVID_WATERMARK_KEY, else the public default key
    consent: str | None = None  # a consent statement file (JSON or text) to put in every manifest


_configured: Options | None = None
PROBE_TIMEOUT_S = 20.0  # longest the first frame waits for the look at the input's existing mark


def configure(watermark_key: str | None = None, consent: str | None = None) -> None:
    """Set the provenance options of this process (overrides the environment)."""
    global _configured
    _configured = Options(watermark_key or None, consent or None)


def options() -> Options:
    if _configured is not None:
        return Options(_configured.watermark_key or os.environ.get("SYNTHVID_WATERMARK_KEY"),
                       _configured.consent or os.environ.get("SYNTHVID_CONSENT"))
    return Options(os.environ.get("SYNTHVID_WATERMARK_KEY"), os.environ.get("SYNTHVID_CONSENT"))


class Marker:
    """Provenance for one output file: marks its frames, then signs the finished file.

    ``stamp`` is the output's :class:`~synthvid.io.output.Stamp`. Construct it before writing frames (it checks the
    consent file and the signing credentials up front, so a bad option fails before any work is done).
    """

    def __init__(self, stamp: Any, final: Path) -> None:
        from synthvid.provenance import manifest
        from synthvid.provenance.watermark import DEFAULT_KEY

        opts = options()
        self.final = Path(final)
        self.key = opts.watermark_key or DEFAULT_KEY
        self.custom_key = self.key != DEFAULT_KEY
        self.consent = manifest.consent_assertion(opts.consent) if opts.consent else None
        self.stamp = stamp
        manifest.credentials()  # create or load now: a broken key fails before the work
        # Marking a picture that already carries a mark with this key: a second, different payload on the same
        # carriers fights the first (when the geometry is unchanged, e.g. lip sync of a face-swap output), the
        # same payload adds to it. So an output keeps the payload of the input whose picture it carries, and adds
        # only what the mark lacks (see Embedder's ``existing``). The look at that input (~0.2 s at 720p) runs
        # beside the job's set-up; the first frame waits for it, at most PROBE_TIMEOUT_S.
        self.inherited_from: str | None = None
        self._payload: Any = None
        self._embedder: Any = None
        self._lock = threading.Lock()
        self._probe: threading.Thread | None = None
        self._found: list[Any] = []
        source = getattr(stamp, "pixels_from", None)
        if source:
            from synthvid.provenance.verify import existing_payload

            def probe() -> None:
                self._found.append(existing_payload(source, self.key))

            # a daemon thread: a job that fails or is interrupted before its first frame does not wait for it
            self._probe = threading.Thread(target=probe, name="synthvid-mark-probe", daemon=True)
            self._probe.start()

    @property
    def payload(self) -> Any:
        """The :class:`~synthvid.provenance.watermark.Payload` this output carries (waits for the input probe)."""
        with self._lock:
            if self._payload is None:
                from synthvid.provenance.watermark import Payload

                found = None
                if self._probe is not None:
                    self._probe.join(PROBE_TIMEOUT_S)
                    found = self._found[0] if self._found else None  # still running: give up on it
                if found is not None:
                    self.inherited_from = os.path.basename(str(self.stamp.pixels_from))
                self._payload = found or Payload.new()
            return self._payload

    def mark(self, frame: np.ndarray) -> np.ndarray:
        if self._embedder is None:
            from synthvid.provenance.watermark import Embedder

            payload = self.payload
            self._embedder = Embedder(payload, self.key, existing=self.inherited_from is not None)
        return self._embedder(frame)

    def watermark_info(self) -> dict[str, Any]:
        payload = self.payload
        info = {"content_id": payload.content_hex, "key": "custom" if self.custom_key else "default"}
        if self.inherited_from:
            info["content_id_from"] = self.inherited_from  # the mark (and its content id) of this input, kept
        return info

    def sign(self, tmp: Path) -> None:
        """Sign the finished temporary file ``tmp`` in place (via a second temporary file); for containers that
        cannot carry a manifest, write ``<final>.c2pa`` beside the final path instead."""
        from synthvid.io.files import partial_path, write_bytes_atomic
        from synthvid.provenance import manifest

        m = manifest.build_manifest(self.stamp.job, self.stamp.settings, self.stamp.inputs, self.stamp.synthetic,
                                    self.watermark_info(), self.consent, self.final.name)
        signed = partial_path(self.final)
        try:
            sidecar = manifest.sign(tmp, signed, self.final.name, m)
            if sidecar is None:
                os.replace(signed, tmp)
            else:
                write_bytes_atomic(self.final.with_name(self.final.name + manifest.SIDECAR_SUFFIX), sidecar)
        finally:
            with contextlib.suppress(OSError):
                signed.unlink()


__all__ = ["Marker", "Options", "configure", "options"]
