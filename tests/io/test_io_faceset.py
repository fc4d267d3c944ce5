"""Faceset alignments files are treated as hostile input: any damage is one clear InputError."""

from __future__ import annotations

import io

import numpy as np
import pytest

from synthvid.errors import InputError
from synthvid.io.faceset import Alignments


def test_damaged_alignments_files_are_refused(tmp_path):
    buf = io.BytesIO()
    np.savez_compressed(buf, name=np.array(["a", "b"]), frame=np.arange(2))
    good = buf.getvalue()
    path = tmp_path / "alignments.npz"
    for i in range(10, len(good), 5):  # flip one byte at a time: headers, directory, compressed data
        damaged = bytearray(good)
        damaged[i] ^= 0xFF
        path.write_bytes(bytes(damaged))
        with pytest.raises(InputError, match="alignments"):
            Alignments.from_file(path)
