"""Provenance on every output: an invisible keyed watermark in every frame and a signed C2PA manifest.

The single output writer (:mod:`synthvid.io.output`) calls :class:`Marker` for each file it writes. Options come
from :func:`configure` (the CLI's ``--watermark-key`` and ``--consent``) or the environment
(``SYNTHVID_WATERMARK_KEY``, ``SYNTHVID_CONSENT``, ``SYNTHVID_SIGN_KEY``/``SYNTHVID_SIGN_CERT``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Options:
    watermark_key: str | None = None  # None: $SYNTHVID_WATERMARK_KEY, else the public default key
    consent: str | None = None  # a consent statement file (JSON or text) to put in every manifest


_configured: Options | None = None


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
        from synthvid.provenance.watermark import DEFAULT_KEY, Embedder, Payload

        opts = options()
        self.final = Path(final)
        self.payload = Payload.new()
        self.custom_key = bool(opts.watermark_key) and opts.watermark_key != DEFAULT_KEY
        self.embedder = Embedder(self.payload, opts.watermark_key)
        self.consent = manifest.consent_assertion(opts.consent) if opts.consent else None
        self.stamp = stamp
        manifest.credentials()  # create or load now: a broken key fails before the work

    def mark(self, frame: np.ndarray) -> np.ndarray:
        return self.embedder(frame)

    def watermark_info(self) -> dict[str, Any]:
        return {"content_id": self.payload.content_hex, "key": "custom" if self.custom_key else "default"}

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
