"""Daily business metrics (API requests, active users, orders, revenue) for unit costs.

CSV files with the header `date,metric,value[,scope]`:
- columns in any order; header names are trimmed and case-insensitive; a UTF-8 byte order mark
  (Excel's "CSV UTF-8") is fine. Any other column is refused: a `team` or `unit` column the
  user expects to count would otherwise be silently ignored.
- `date` YYYY-MM-DD; `metric` one word (letters, digits, `_ . -`), stored lower-cased;
  `value` an exact decimal >= 0 (`1234`, `0.1`, `1.5e6`; no thousands separators, never NaN or
  infinite), kept exactly as written (Decimal), never as a float.
- `scope` empty (or absent) for the whole organisation, else a team: case, spaces and the
  config's aliases are canonicalised as for team tags. A scope that names no team of the
  config or of the cost data is still loaded (a product or business unit can be paired with
  a cost in `unit_metrics:`), and the summary warns about it, with the nearest team names.
- the same (date, metric, scope) twice in one load is a bad row: which of two figures for a
  day is right cannot be guessed, and the answer must not depend on the order of the files.
  Loading it again in a later load replaces the stored value.
- a bad row stops the load with one line naming the file, the row as a spreadsheet numbers it
  (the header is row 1) and the column. Nothing is written, for any file of the load: every
  file is read and checked before the store is opened.
"""

from __future__ import annotations

import csv
import difflib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from pathlib import Path

from bot.config import METRIC_NAME_PATTERN, Config
from bot.errors import InputError
from bot.sources.focus_ingest import file_checksum
from bot.store import open_store
from bot.store.queries import known_values
from bot.store.writers import MetricLoad, write_metric_loads

REQUIRED_COLUMNS = ("date", "metric", "value")
OPTIONAL_COLUMNS = ("scope",)
HEADER_HELP = "date,metric,value[,scope]"
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
# Values past these are typing mistakes, not business volumes. Together they keep every sum of
# ten years of daily values exact within Decimal's default 28 significant digits (18 + 4 + 6).
MAX_INTEGER_DIGITS = 18
MAX_FRACTION_DIGITS = 6
FRACTION_STEP = Decimal(1).scaleb(-MAX_FRACTION_DIGITS)


@dataclass(frozen=True)
class MetricValue:
    day: date
    metric: str
    scope: str | None  # a team (canonical) or another scope; None: the whole organisation
    value: Decimal
    row_number: int = 0  # the row of its CSV file (the header is row 1); 0: not from a file

    def row(self) -> tuple[str, str, str | None, Decimal]:
        return (self.day.isoformat(), self.metric, self.scope, self.value)


@dataclass
class MetricsLoadReport:
    files: int
    values: int
    metrics: tuple[str, ...]
    first_day: date | None
    last_day: date | None
    replaced: int
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if not self.values:
            return f"Loaded no business metric values ({self.files} file(s) with a header only)"
        names = ", ".join(self.metrics)
        span = (
            self.first_day.isoformat()
            if self.first_day == self.last_day
            else f"{self.first_day} to {self.last_day}"
        )
        replaced = f"; {self.replaced:,} replaced values stored before" if self.replaced else ""
        return (
            f"Loaded {self.values:,} business metric values of {len(self.metrics)} metric(s)"
            f" ({names}) from {self.files} file(s), {span}{replaced}"
        )

    def lines(self) -> list[str]:
        return [self.summary(), *self.warnings]


# ---- one value: the checks shared by the CSV, `costbot metrics add` and Prometheus


def parse_day(text: str) -> date:
    text = text.strip()
    if not DATE_PATTERN.fullmatch(text):
        raise ValueError(f"{text!r} is not a date YYYY-MM-DD" if text else "empty")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date of the calendar") from None


def parse_metric_name(text: str) -> str:
    name = text.strip()
    if not name:
        raise ValueError("empty")
    if not re.fullmatch(METRIC_NAME_PATTERN, name):
        raise ValueError(
            f"{name[:70]!r} is not a metric name (one word of letters, digits, _ . -,"
            " up to 64 characters)"
        )
    return name.lower()


def parse_value(text: str) -> Decimal:
    """An exact, finite decimal >= 0, as written."""
    raw = text.strip()
    if not raw:
        raise ValueError("empty")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        hint = " (write it without thousands separators)" if "," in raw else ""
        raise ValueError(f"{raw[:40]!r} is not a number{hint}") from None
    if not value.is_finite():
        raise ValueError(f"{raw[:40]!r} is not a finite number")
    if value < 0:
        raise ValueError(f"{raw[:40]} is negative: a business volume is 0 or more")
    if value.adjusted() >= MAX_INTEGER_DIGITS:
        raise ValueError(f"{raw[:40]} is too large (more than {MAX_INTEGER_DIGITS} digits)")
    if value != value.quantize(FRACTION_STEP, rounding=ROUND_DOWN):
        raise ValueError(f"{raw[:40]} has more than {MAX_FRACTION_DIGITS} decimal places")
    return value + 0  # -0 is 0


def parse_scope(text: str | None, config: Config) -> str | None:
    """None for the organisation (empty); else the canonical team name, or the scope as
    written (lower-cased, spaces collapsed) when it names no team of the config."""
    return config.canonical_team(text or "")


# ---- CSV files


def read_metrics_csv(path: Path, config: Config) -> list[MetricValue]:
    """Every value of one file, checked; InputError with one line on the first bad row."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return _read_rows(path, csv.reader(handle), config)
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text (save the CSV as UTF-8)") from None
    except csv.Error as error:
        raise InputError(f"{path}: not a readable CSV file ({error})") from None


def _read_rows(path: Path, reader: Iterable[list[str]], config: Config) -> list[MetricValue]:
    rows = iter(reader)
    header = next(rows, None)
    if header is None or not any(cell.strip() for cell in header):
        raise InputError(f"{path}: empty; the first row must be the header {HEADER_HELP}")
    names = [cell.strip().lower() for cell in header]
    for index, name in enumerate(names):
        if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
            shown = header[index].strip()[:40] or "(empty)"
            raise InputError(
                f"{path}: row 1, column {_letter(index)}: unknown column {shown!r};"
                f" the columns are {HEADER_HELP}"
            )
        if names.index(name) != index:
            raise InputError(f"{path}: row 1, column {_letter(index)}: {name} appears twice")
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise InputError(
            f"{path}: row 1: missing column {missing[0]}; the columns are {HEADER_HELP}"
        )
    position = {name: index for index, name in enumerate(names)}
    values: list[MetricValue] = []
    for number, cells in enumerate(rows, start=2):
        if not any(cell.strip() for cell in cells):
            continue  # a blank line (spreadsheets often end with some)
        if len(cells) > len(names):
            raise InputError(
                f"{path}: row {number}: {len(cells)} values for the header's {len(names)} columns"
            )
        row = {name: cells[i] if i < len(cells) else None for name, i in position.items()}
        values.append(_row_value(path, number, row, config))
    return values


def _row_value(path: Path, number: int, row: dict[str, str | None], config: Config) -> MetricValue:
    for column in REQUIRED_COLUMNS:
        if row[column] is None:
            raise InputError(f"{path}: row {number}, column {column}: missing")
    try:
        column = "date"
        day = parse_day(row["date"] or "")
        column = "metric"
        metric = parse_metric_name(row["metric"] or "")
        column = "value"
        value = parse_value(row["value"] or "")
    except ValueError as problem:
        raise InputError(f"{path}: row {number}, column {column}: {problem}") from None
    return MetricValue(day, metric, parse_scope(row.get("scope"), config), value, number)


def _letter(index: int) -> str:
    """The spreadsheet's name of a column: A, B, ... Z, AA ..."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(ord("A") + rest) + name
    return name


def check_no_duplicates(sources: Sequence[tuple[str, Sequence[MetricValue]]]) -> None:
    """(where, values) of every source of a load: one line on the first (date, metric, scope)
    given twice."""
    seen: dict[tuple[date, str, str | None], str] = {}
    for where, values in sources:
        for value in values:
            key = (value.day, value.metric, value.scope)
            here = f"{where}: row {value.row_number}" if value.row_number else where
            if key in seen:
                scope = value.scope or "the organisation"
                raise InputError(
                    f"{here}: {value.metric} for {value.day} ({scope}) is already given at"
                    f" {seen[key]}; one value per date, metric and scope in a load"
                )
            seen[key] = here


def ingest_metrics(
    paths: Sequence[str | os.PathLike] | str | os.PathLike,
    db_path: str | os.PathLike,
    config: Config | None = None,
) -> MetricsLoadReport:
    """Load CSV files of business metrics, all or nothing: every file is read and checked
    first (InputError with one line on the first bad row, nothing written), then every value
    is written in one transaction."""
    config = config or Config()
    files = [Path(paths)] if isinstance(paths, str | os.PathLike) else [Path(p) for p in paths]
    if not files:
        raise InputError("no file given")
    read = [(path, read_metrics_csv(path, config)) for path in files]
    check_no_duplicates([(str(path), values) for path, values in read])
    loads = [
        MetricLoad("metrics", str(path), file_checksum(path), [v.row() for v in values])
        for path, values in read
    ]
    everything = [v for _, values in read for v in values]
    return store_metric_values(db_path, loads, everything, config, files=len(files))


def store_metric_values(
    db_path: str | os.PathLike,
    loads: Sequence[MetricLoad],
    values: Sequence[MetricValue],
    config: Config,
    files: int = 1,
) -> MetricsLoadReport:
    """Write checked values (one transaction) and report what was loaded."""
    db = open_store(db_path)
    try:
        replaced = write_metric_loads(db, loads)
        cost_teams = set(known_values(db, "team"))
    finally:
        db.close()
    days = sorted({v.day for v in values})
    return MetricsLoadReport(
        files=files,
        values=len(values),
        metrics=tuple(sorted({v.metric for v in values})),
        first_day=days[0] if days else None,
        last_day=days[-1] if days else None,
        replaced=replaced,
        warnings=unknown_scope_warnings(values, config, cost_teams),
    )


def add_metric_value(
    db_path: str | os.PathLike,
    config: Config,
    *,
    metric: str,
    value: str,
    day: str | None,
    scope: str | None,
    today: date,
) -> tuple[MetricValue, MetricsLoadReport]:
    """`costbot metrics add`: one value, checked as a CSV row is (InputError with one line
    naming the argument), stored replacing any value of the same date, metric and scope."""
    try:
        argument = "METRIC"
        name = parse_metric_name(metric)
        argument = "VALUE"
        number = parse_value(value)
        argument = "--date"
        when = parse_day(day) if day is not None else today
    except ValueError as problem:
        raise InputError(f"metrics add: {argument}: {problem}") from None
    entry = MetricValue(when, name, parse_scope(scope, config), number)
    load = MetricLoad("metrics-add", "costbot metrics add", None, [entry.row()])
    return entry, store_metric_values(db_path, [load], [entry], config)


def unknown_scope_warnings(
    values: Iterable[MetricValue], config: Config, cost_teams: set[str]
) -> list[str]:
    teams = {t.name for t in config.teams} | cost_teams
    counts: dict[str, int] = {}
    for value in values:
        if value.scope is not None and value.scope not in teams:
            counts[value.scope] = counts.get(value.scope, 0) + 1
    warnings = []
    for scope, count in sorted(counts.items()):
        near = difflib.get_close_matches(scope, sorted(teams), n=2, cutoff=0.6)
        hint = f" (did you mean {' or '.join(near)}?)" if near else ""
        warnings.append(
            f"warning: scope {scope!r} ({count:,} value(s)) names no team of the config or the"
            f" cost data{hint}; stored as given, it counts only where a unit metric names it"
        )
    return warnings
