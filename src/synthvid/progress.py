"""Progress bars with rate and ETA (tqdm on stderr), silenced with SYNTHVID_QUIET=1 or ``quiet=True``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm


def progress(iterable: Iterable[Any] | None = None, *, total: float | None = None, desc: str = "", unit: str = "it",
             quiet: bool = False, **kwargs: Any) -> Any:
    """A tqdm bar; ``quiet`` or SYNTHVID_QUIET=1 disables drawing (the object still counts)."""
    disable = quiet or os.environ.get("SYNTHVID_QUIET", "") not in ("", "0")
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, dynamic_ncols=True, leave=True,
                mininterval=0.5, **kwargs)
