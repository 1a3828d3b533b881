"""Shared by the benchmarks: where scratch files go, the machine they ran on, timing
statistics, child processes measured for peak memory, and the sections of RESULTS.md."""

from __future__ import annotations

import json
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
OUT = BENCH_DIR / "out"  # git-ignored scratch: generated files, stores, quick results
RESULTS = BENCH_DIR / "RESULTS.md"
GIB = 1024**3
MIB = 1024**2

# `bot` is installed in the virtualenv (editable); failing that, import it from the checkout.
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the machine --------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return found.group(1).strip() if found else platform.machine()


def _ram_bytes() -> int | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    found = re.search(r"^MemTotal:\s*(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) * 1024 if found else None


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    ram = _ram_bytes()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "CPU": _cpu_model(),
        "Cores": f"{os.cpu_count()} ({usable} usable by this process)",
        "RAM": f"{ram / GIB:.1f} GiB" if ram else "unknown",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "DuckDB": _version("duckdb"),
        "SQLite": sqlite3.sqlite_version,
        "sqlite-utils": _version("sqlite-utils"),
        "matplotlib": _version("matplotlib"),
        # Other work on a shared machine shows here: 2 cores busy = load 2.
        "Load average (1, 5, 15 min)": ", ".join(f"{load:.2f}" for load in os.getloadavg()),
    }


# --- timing -------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), `pct` in 0..100."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * pct / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def time_calls(call: Callable[[], object], samples: int, warmup: int = 1) -> list[float]:
    """Seconds per call, `samples` times, after `warmup` untimed calls."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def ms(seconds: float) -> str:
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def secs(seconds: float) -> str:
    return f"{seconds:.2f} s"


def mib(size: int) -> str:
    return f"{size / MIB:,.0f} MiB"


def format_ratio(ratio: float) -> str:
    """`1.85x`, or `1/310` for a small fraction (a figure far under its ceiling)."""
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"1/{1 / ratio:,.0f}"


# --- child processes ----------------------------------------------------------------------


@dataclass(frozen=True)
class ChildRun:
    result: dict  # the JSON object the child printed on its last stdout line
    peak_rss: int  # bytes: the child's own ru_maxrss, from wait4


def run_child(args: list[str]) -> ChildRun:
    """Run `python <args>` in a fresh process; its peak resident memory comes from wait4, so
    it is this child's alone (RUSAGE_CHILDREN would be the maximum over all children)."""
    process = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, cwd=REPO)
    assert process.stdout is not None
    output = process.stdout.read()
    process.stdout.close()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"benchmark child {args} failed with exit code {process.returncode}")
    lines = output.decode().strip().splitlines()
    return ChildRun(json.loads(lines[-1]), usage.ru_maxrss * 1024)  # ru_maxrss is KiB on Linux


def emit(result: dict) -> None:
    """A child's answer to its parent: one JSON line on stdout."""
    print(json.dumps(result), flush=True)


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One measured figure, its baseline from the same run, and its goal."""

    name: str
    value: str
    baseline: str = "-"
    baseline_value: str = "-"
    ratio: float | None = None  # figure / baseline, for times: how many times the floor
    goal: str = "-"
    passed: bool | None = None  # None: no goal

    def row(self) -> str:
        ratio = format_ratio(self.ratio) if self.ratio is not None else "-"
        verdict = {True: "**pass**", False: "**FAIL**", None: "-"}[self.passed]
        cells = (self.name, self.value, self.baseline, self.baseline_value, ratio, self.goal)
        return "| " + " | ".join((*cells, verdict)) + " |"


@dataclass
class Section:
    key: str  # ingest | query | cost: the marker in RESULTS.md
    title: str
    setup: list[str]  # what was measured, how, on what data
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self, when: str, where: str, quick: bool) -> str:
        run = f"Measured {when} on {where}" + (" (quick run, small sizes)" if quick else "")
        lines = [f"## {self.title}", "", run + ".", ""]
        lines += [f"- {line}" for line in self.setup]
        lines += [
            "",
            "| Figure | Value | Baseline | Baseline value | Ratio | Goal | Result |",
            "|---|---|---|---|---|---|---|",
            *(figure.row() for figure in self.figures),
        ]
        if self.notes:
            lines += ["", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines)

    def print(self) -> None:
        print(f"\n{self.title}")
        for figure in self.figures:
            ratio = f"  ({format_ratio(figure.ratio)} {figure.baseline})" if figure.ratio else ""
            verdict = {True: "pass", False: "FAIL", None: ""}[figure.passed]
            goal = f"  goal {figure.goal}: {verdict}" if figure.passed is not None else ""
            print(f"  {figure.name}: {figure.value}{ratio}{goal}")
        for note in self.notes:
            print(f"  {note}")


SECTION_ORDER = (
    "ingest",
    "query",
    "cost",
    "ingest_shapes",
    "concurrent",
    "cost_explorer",
    "athena",
    "inventory",
    "anomalies",
    "fanout",
)
HEADER = """# Costbot benchmarks

Written by `bench/run.py` (`make bench`); do not edit by hand. Every figure has a baseline
measured in the same run on the same machine, because the machines here are shared and noisy:
read the ratio first, the absolute value second. Each section below says when it was measured,
so a run of one benchmark (`--only`) updates its section and keeps the others.
"""


def write_results(path: Path, sections: list[Section], quick: bool) -> None:
    """Write `sections` into the results file at `path`, keeping any other section already
    there (a run of one benchmark replaces only its own)."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    kept: dict[str, str] = {}
    if path.exists():
        for key, body in re.findall(
            r"<!-- section:(\w+) -->\n(.*?)\n<!-- /section:\1 -->", path.read_text(), re.DOTALL
        ):
            kept[key] = body
    info = machine()
    where = f"{info['CPU']}, {os.cpu_count()} cores"
    for section in sections:
        kept[section.key] = section.markdown(when, where, quick)
    parts = [
        HEADER,
        f"## Machine (of the latest run, {when})",
        "",
        "| | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in info.items()),
        "",
    ]
    for key in sorted(kept, key=lambda k: SECTION_ORDER.index(k) if k in SECTION_ORDER else 99):
        parts += [f"<!-- section:{key} -->", kept[key], f"<!-- /section:{key} -->", ""]
    path.write_text("\n".join(parts))
