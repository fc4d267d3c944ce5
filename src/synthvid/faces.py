"""Face sets, from Python: ``synthvid.faces.extract(videos, faceset_dir)`` and ``synthvid.faces.open(...)``."""

from synthvid.io.faceset import Faceset
from synthvid.io.faceset import open_faceset as open  # noqa: A001 - mirrors the CLI's vocabulary
from synthvid.pipelines.extract import ExtractConfig, ExtractReport, extract

__all__ = ["ExtractConfig", "ExtractReport", "Faceset", "extract", "open"]
