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


@pytest.mark.parametrize("name", ["../../../../etc/passwd", "/etc/passwd", "..", "a/b.png", "a\\b.png", ""])
def test_alignments_may_not_name_files_outside_the_faceset(tmp_path, name):
    from synthvid.io.faceset import FIELDS

    cols = {k: np.zeros((2, *shape), dt) for k, (shape, dt) in FIELDS.items()}
    cols["name"] = np.array(["000001.png", name])
    path = tmp_path / "alignments.npz"
    np.savez(path, **cols)
    with pytest.raises(InputError, match="outside the faceset"):
        Alignments.from_file(path)
