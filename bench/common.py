"""What every benchmark shares: the results file format (bench/results/<job>.json + .md) and small helpers."""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or 'CPU'}, no GPU"


def reference_ms() -> float:
    """Milliseconds this machine takes for a fixed single-threaded workload (a Python loop and numpy FFTs), best
    of three. Shared machines here have run the same code 2.5x slower on some days than on others; this figure,
    written beside every result, tells a slow day from a slow change."""
    import time  # noqa: PLC0415

    rng = np.random.default_rng(0)
    a = rng.random((256, 256)).astype(np.float32)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        s = 0
        for i in range(300_000):
            s += i * i
        for _ in range(20):
            np.fft.rfft2(a)
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def fmt(v: object) -> str:
    if isinstance(v, float):
        if np.isnan(v):
            return "n/a"
        return f"{v:.3f}" if abs(v) < 1000 else f"{v:.0f}"
    return "n/a" if v is None else str(v)


def goal_met(goal: dict) -> bool:
    v = goal["value"]
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return False
    return v >= goal["target"] if goal["op"] == ">=" else v <= goal["target"]


def goal(target: float, op: str, value: float | None) -> dict:
    return {"target": target, "op": op, "value": value}


def corr(a: list[float] | np.ndarray, b: list[float] | np.ndarray) -> float:
    """Pearson correlation, NaN when either series is (nearly) constant or too short."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or x.std() < 1e-9 or y.std() < 1e-9:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def table(header: list[str], rows: list[list[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in r) + " |" for r in rows]


def write_results(job: str, command: str, metrics: dict, goals: dict, sections: list[tuple[str, list[str]]],
                  intro: str = "", notes: str = "") -> Path:
    """Write bench/results/<job>.json and the markdown table beside it; returns the json path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"job": job, "date": datetime.date.today().isoformat(), "machine": machine(),
              "machine_reference_ms": round(reference_ms(), 1), "command": command, "metrics": metrics,
              "goals": goals}
    if notes:
        result["notes"] = notes
    path = RESULTS / f"{job}.json"
    path.write_text(json.dumps(result, indent=2, default=float) + "\n")
    goal_rows = table(["goal", "target", "measured", "met"],
                      [[k, f"{g['op']} {g['target']}", g["value"], "yes" if goal_met(g) else "no"]
                       for k, g in goals.items()])
    md = [f"# {job} benchmark ({result['date']})", "",
          f"Machine: {result['machine']}; reference workload {result['machine_reference_ms']:.0f} ms "
          f"(bench/common.py reference_ms: lower is faster). Command: `{command}`.", ""]
    if intro:
        md += [intro, ""]
    md += ["## Goals", ""] + goal_rows + [""]
    for title, lines in sections:
        md += [f"## {title}", ""] + lines + [""]
    path.with_suffix(".md").write_text("\n".join(md))
    return path
