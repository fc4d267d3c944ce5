"""synthvid: synthetic video toolkit with provenance on every output.

Public entry points are imported lazily so that ``import synthvid`` stays cheap (no torch, no mediapipe):

    import synthvid.swap   # synthvid.swap.train(...), synthvid.swap.convert(...)
    import synthvid.faces  # synthvid.faces.extract(...)
"""

__version__ = "0.1.0"

TOOL_NAME = "synthvid"
