"""Every write to the store: one module, so each table's columns and each transaction's shape
exist once. Sources read and check their input, then hand rows here."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import chain, islice
from typing import Any, Protocol

import sqlite_utils

from bot.store.schema import (
    COST_SOURCES,
    DAILY_COLUMNS,
    ENFORCEMENT_STEPS,
    GRAINS,
    INVENTORY_COLUMNS,
    ORGANISATION_METRIC_SCOPE,
    RESOURCE_COLUMNS,
    exact_decimal_text,
)


class LoadedCostFile(Protocol):
    """What a source hands over for one checked file of cost data (the FOCUS reader's
    `FileResult`): rows in DAILY_COLUMNS / RESOURCE_COLUMNS order, and what to replace."""

    @property
    def display_name(self) -> str: ...

    focus_version: str
    checksum: str
    charge_rows: int
    billing_periods: list[str]
    # (provider, billing account, billing period): each is replaced whole by this load.
    replace_keys: set[tuple[str, str, str]]
    daily_rows: Iterable[Sequence[object]]
    resource_rows: Iterable[Sequence[object]]
    accounts: set[tuple[str, str, str, str]]


def write_focus_results(db: sqlite_utils.Database, results: Sequence[LoadedCostFile]) -> None:
    """One transaction: replace every billing period the files cover, record the ingests."""
    loaded_at = datetime.now(UTC).isoformat(timespec="seconds")
    with db.atomic():
        for key in {k for result in results for k in result.replace_keys}:
            # Only FOCUS rows: other sources' rows for the same account and month stay
            # (superseded while FOCUS covers them), as a re-load of theirs leaves these.
            db.execute(
                "DELETE FROM daily_cost WHERE provider = ? AND billing_account_id IS ?"
                " AND billing_period = ? AND source = 'focus'",
                key,
            )
            db.execute(
                "DELETE FROM resource_cost WHERE provider = ? AND billing_account_id IS ?"
                " AND billing_period = ?",
                key,
            )
        for result in results:
            ingest_id = (
                db["ingests"]
                .insert(
                    {
                        "source": "focus",
                        "file": result.display_name,
                        "focus_version": result.focus_version,
                        "billing_periods": json.dumps(result.billing_periods),
                        "rows": result.charge_rows,
                        "checksum": result.checksum,
                        "loaded_at": loaded_at,
                    }
                )
                .last_pk
            )
            _insert_rows(db.conn, "daily_cost", DAILY_COLUMNS, int(ingest_id), result.daily_rows)
            _insert_rows(
                db.conn, "resource_cost", RESOURCE_COLUMNS, int(ingest_id), result.resource_rows
            )
            db.conn.executemany(
                "INSERT OR REPLACE INTO accounts (provider, account_id, name, kind)"
                " VALUES (?, ?, ?, ?)",
                sorted(result.accounts),
            )
        refresh_precedence(db)


@dataclass
class SourceLoad:
    """Daily cost rows from a source other than FOCUS files (Cost Explorer, Athena): every
    row of `source` (and `billing_account_id`, if given) dated `start`..`end` is replaced."""

    source: str  # one of COST_SOURCES, not "focus"
    description: str  # recorded as the load's "file": what was read, e.g. the request range
    start: date
    end: date
    # Rows in DAILY_COLUMNS order followed by the row's grain (None: every dimension exact).
    rows: Sequence[Sequence[object]]
    billing_account_id: str | None = None
    accounts: set[tuple[str, str, str, str]] = field(default_factory=set)
    checksum: str = ""
    # The days replaced, as (first, last) spans within start..end, when the load re-read
    # only some of them (Cost Explorer: the recent days, and the days of the previous month
    # that changed); by default the whole of start..end.
    spans: Sequence[tuple[date, date]] = ()

    def replaced_spans(self) -> list[tuple[str, str]]:
        spans = self.spans or [(self.start, self.end)]
        return [(first.isoformat(), last.isoformat()) for first, last in spans]


def write_source_rows(db: sqlite_utils.Database, load: SourceLoad) -> int:
    """One transaction: replace the source's rows in the load's days, record the load and
    which billing accounts and months the source now holds, then settle precedence. The id
    of the recorded load."""
    if load.source not in COST_SOURCES or load.source == "focus":
        raise ValueError(f"write_source_rows: unknown source {load.source!r}")
    for row in load.rows:
        if len(row) != len(DAILY_COLUMNS) + 1 or (row[-1] is not None and row[-1] not in GRAINS):
            raise ValueError(f"{load.source}: a row needs {len(DAILY_COLUMNS)} values and a grain")
    spans = load.replaced_spans()
    for row in load.rows:
        # A row outside the replaced days would be added to rows that stay: counted twice.
        if not any(first <= str(row[0]) <= last for first, last in spans):
            raise ValueError(f"{load.source}: a row of {row[0]} is outside the days replaced")
    owner = "" if load.billing_account_id is None else " AND billing_account_id = ?"
    owner_params = [] if load.billing_account_id is None else [load.billing_account_id]
    with db.atomic():
        for span in spans:
            db.execute(
                f"DELETE FROM daily_cost WHERE source = ? AND date BETWEEN ? AND ?{owner}",
                [load.source, *span, *owner_params],
            )
        ingest_id = int(
            db["ingests"]
            .insert(
                {
                    "source": load.source,
                    "file": load.description,
                    "billing_periods": json.dumps(_months(load.start, load.end)),
                    "rows": len(load.rows),
                    "checksum": load.checksum,
                    "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            )
            .last_pk
        )
        columns = (*DAILY_COLUMNS, "grain")
        _insert_rows(db.conn, "daily_cost", columns, ingest_id, load.rows, source=load.source)
        db.conn.executemany(
            "INSERT OR REPLACE INTO accounts (provider, account_id, name, kind)"
            " VALUES (?, ?, ?, ?)",
            sorted(load.accounts),
        )
        # What the source holds in the months it touched, from what is now stored.
        first, last = _months(load.start, load.end)[0], _months(load.start, load.end)[-1]
        db.execute(
            f"DELETE FROM source_coverage WHERE source = ? AND month BETWEEN ? AND ?{owner}",
            [load.source, first, last, *owner_params],
        )
        db.execute(
            "INSERT OR IGNORE INTO source_coverage (source, billing_account_id, month)"
            " SELECT DISTINCT source, coalesce(billing_account_id, ''), substr(date, 1, 7)"
            f" FROM daily_cost WHERE source = ? AND date BETWEEN ? AND ?{owner}",
            [load.source, f"{first}-01", f"{last}-31", *owner_params],
        )
        refresh_precedence(db)
    return ingest_id


def refresh_precedence(db: sqlite_utils.Database) -> None:
    """Mark each non-FOCUS row `superseded` when a source earlier in COST_SOURCES holds the
    same billing account and month, so that answers never count a day twice. Cheap: it walks
    the (source, billing account, month) pairs of non-FOCUS sources, and does nothing in a
    store that has only FOCUS data."""
    held = {tuple(row) for row in db.execute("SELECT * FROM source_coverage")}
    if not held:
        return
    providers = [r[0] for r in db.execute("SELECT DISTINCT provider FROM daily_cost")]
    marks = ", ".join("?" * len(providers)) or "NULL"
    for source, billing_account, month in sorted(held):
        earlier = COST_SOURCES[: COST_SOURCES.index(source)]
        superseded = any((s, billing_account, month) in held for s in earlier if s != "focus")
        if not superseded and "focus" in earlier:
            superseded = bool(
                db.execute(
                    "SELECT EXISTS (SELECT 1 FROM daily_cost WHERE provider IN"
                    f" ({marks}) AND billing_account_id = ? AND billing_period = ?"
                    " AND source = 'focus')",
                    [*providers, billing_account, month],
                ).fetchone()[0]
            )
        db.execute(
            "UPDATE daily_cost SET superseded = ? WHERE source = ?"
            " AND coalesce(billing_account_id, '') = ? AND date BETWEEN ? AND ?"
            " AND superseded != ?",
            [
                int(superseded),
                source,
                billing_account,
                f"{month}-01",
                f"{month}-31",
                int(superseded),
            ],
        )


def _months(start: date, end: date) -> list[str]:
    months, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def record_sync_run(db: sqlite_utils.Database, **fields: object) -> int:
    """Record one sync (see the `sync_runs` table for the fields); its id."""
    if isinstance(fields.get("detail"), (dict, list)):
        fields["detail"] = json.dumps(fields["detail"], sort_keys=True)
    with db.atomic():
        return int(db["sync_runs"].insert(fields).last_pk)


def write_commitments(db: sqlite_utils.Database, rows: Sequence[dict]) -> None:
    """Savings Plans coverage / utilization, spot and forecast figures per (provider, billing
    account, month, source), each row replacing the one before it."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    with db.atomic():
        for row in rows:
            db["commitments"].upsert(
                {**row, "updated_at": stamp},
                pk=("provider", "billing_account_id", "month", "source"),
            )


# Rows per INSERT statement when loading cost rows: one statement per row spends about a third
# of the write in SQLite's per-statement work (reset, step); 50 rows x 16 columns of
# parameters stays far below SQLite's limit of bound parameters.
ROWS_PER_INSERT = 50
# Rows taken from the source at a time (then flattened into one list of parameters).
INSERT_BATCH_ROWS = 50_000


def _insert_rows(
    conn: sqlite3.Connection,
    table: str,
    columns: Sequence[str],
    ingest_id: int,
    rows: Iterable[Sequence[object]],
    source: str | None = None,
) -> None:
    """Append `rows` (in `columns` order) to `table` with `ingest_id`, ROWS_PER_INSERT rows
    per statement: the parameters of a batch are one flat list, cut into statement-sized
    slices (C-level work, no Python loop per row)."""
    width = len(columns)
    # The source name is one of COST_SOURCES (checked by the caller), never user data.
    extra_columns = ", ingest_id" + (", source" if source else "")
    extra_values = f", {ingest_id}" + (f", '{source}'" if source else "")
    one = f"({', '.join('?' * width)}{extra_values})"
    head = f"INSERT INTO {table} ({', '.join(columns)}{extra_columns}) VALUES "
    many_sql = head + ", ".join([one] * ROWS_PER_INSERT)
    step = ROWS_PER_INSERT * width
    iterator = iter(rows)
    while batch := list(islice(iterator, INSERT_BATCH_ROWS)):
        flat = list(chain.from_iterable(batch))
        if len(flat) != len(batch) * width:
            raise ValueError(f"{table}: rows must have {width} values each")
        full = len(batch) // ROWS_PER_INSERT * step
        conn.executemany(many_sql, (flat[i : i + step] for i in range(0, full, step)))
        conn.executemany(head + one, (flat[i : i + width] for i in range(full, len(flat), width)))


@dataclass(frozen=True)
class MetricLoad:
    """One source of business metric values in a load: a CSV file, `costbot metrics add`, a
    Prometheus query. `rows` are (date YYYY-MM-DD, metric, scope, value); scope None (or "")
    is the whole organisation; value a Decimal, int or decimal text (a float is taken as the
    shortest text that gives it back)."""

    source: str  # metrics | metrics-add | prometheus
    file: str  # the file, or what the values came from
    checksum: str | None
    rows: Sequence[tuple[str, str, str | None, object]]


def write_metric_loads(db: sqlite_utils.Database, loads: Sequence[MetricLoad]) -> int:
    """Every load in one transaction (all or nothing), each recorded in `ingests`; a value
    loaded again for the same (date, metric, scope) replaces the old one. The number of
    values that replaced one already stored."""
    replaced = 0
    with db.atomic():
        for load in loads:
            ingest_id = (
                db["ingests"]
                .insert(
                    {
                        "source": load.source,
                        "file": load.file,
                        "billing_periods": json.dumps(sorted({r[0][:7] for r in load.rows})),
                        "rows": len(load.rows),
                        "checksum": load.checksum,
                        "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    }
                )
                .last_pk
            )
            stored = [
                (day, metric, scope or ORGANISATION_METRIC_SCOPE, exact_decimal_text(value))
                for day, metric, scope, value in load.rows
            ]
            replaced += sum(
                db.execute(
                    "SELECT count(*) FROM business_metrics WHERE date = ? AND metric = ?"
                    " AND scope = ?",
                    row[:3],
                ).fetchone()[0]
                for row in stored
            )
            db.conn.executemany(
                "INSERT OR REPLACE INTO business_metrics (date, metric, scope, value, ingest_id)"
                " VALUES (?, ?, ?, ?, ?)",
                [(*row, ingest_id) for row in stored],
            )
    return replaced


def write_metric_values(
    db: sqlite_utils.Database,
    file: str,
    checksum: str | None,
    rows: Sequence[tuple[str, str, str | None, object]],
) -> None:
    """Business metric values (date, metric, scope, value) from one file; one transaction,
    and a value loaded again for the same (date, metric, scope) replaces the old one. Scope
    None (or "") is the whole organisation."""
    write_metric_loads(db, [MetricLoad("metrics", file, checksum, rows)])


# ---- deliveries: what Costbot posted to Slack (bot.slack.delivery writes through these)

# A delivery pending this long was left by a process that stopped mid-way: it may be retried.
STALE_PENDING = timedelta(minutes=10)


@dataclass(frozen=True)
class DeliveryClaim:
    """A delivery claimed for sending; `before` is the row as it was (None: first attempt).
    A claim over a row left `pending` or `uncertain` may follow a message Slack already took."""

    key: str
    before: dict[str, Any] | None

    @property
    def may_be_in_slack(self) -> bool:
        return self.before is not None and (
            self.before["status"] == "pending" or bool(self.before.get("uncertain"))
        )


def process_owner() -> str:
    """This process, as recorded on the deliveries it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_is_dead(owner: str | None) -> bool:
    """True when `owner` is a process on this host that no longer runs: its pending claims are
    abandoned. Other hosts' claims are judged by age alone (STALE_PENDING)."""
    host, _, pid = (owner or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def claim_delivery_once(
    db: sqlite_utils.Database, key: str, **fields: object
) -> DeliveryClaim | None:
    """Record a delivery about to happen as `pending`, owned by this process. None if `key` is
    already sent, or being sent (pending for under STALE_PENDING by a process that still
    runs): the caller must not deliver it again. A failed delivery, or one left pending by a
    process that died, may be claimed again; the claim then carries the row as it was."""
    now = datetime.now(UTC)
    stale_before = (now - STALE_PENDING).isoformat(timespec="seconds")
    stamp = now.isoformat(timespec="seconds")
    row = {**fields, "key": key, "status": "pending", "owner": process_owner(), "updated_at": stamp}
    first = {**row, "created_at": stamp}
    columns = ", ".join(first)
    placeholders = ", ".join("?" for _ in first)
    with db.atomic():
        # The insert comes first so that the transaction holds the write lock before it reads:
        # a read first would have to upgrade its lock, which SQLite refuses at once ("database
        # is locked") when another connection is writing, instead of waiting its turn.
        inserted = db.execute(
            f"INSERT INTO deliveries ({columns}) VALUES ({placeholders})"
            " ON CONFLICT(key) DO NOTHING",
            list(first.values()),
        )
        if inserted.rowcount == 1:
            return DeliveryClaim(key, None)
        before = next(iter(db.query("SELECT * FROM deliveries WHERE key = ?", [key])))
        abandoned = before["status"] == "pending" and (
            (before["updated_at"] or "") < stale_before or _owner_is_dead(before.get("owner"))
        )
        if before["status"] != "failed" and not abandoned:
            return None
        # The first claim's created_at stays: a history search starts from it.
        kept = {name: value for name, value in row.items() if name != "key"}
        assignments = ", ".join(f"{name} = ?" for name in kept)
        db.execute(f"UPDATE deliveries SET {assignments} WHERE key = ?", [*kept.values(), key])
    return DeliveryClaim(key, before)


def claim_delivery(db: sqlite_utils.Database, key: str, **fields: object) -> bool:
    """claim_delivery_once, as a yes or no."""
    return claim_delivery_once(db, key, **fields) is not None


def remember_channel_id(db: sqlite_utils.Database, name: str, channel_id: str) -> None:
    """The id Slack answered for a channel name (#team-payments -> C0123)."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    # One statement that writes first: sqlite-utils' upsert reads the table's schema inside the
    # transaction before writing, and a read transaction that must become a write one fails at
    # once ("database is locked") when another connection (a fan-out's other posting threads)
    # committed meanwhile.
    with db.atomic():
        db.execute(
            "INSERT INTO slack_channels (name, id, seen_at) VALUES (?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET id = excluded.id, seen_at = excluded.seen_at",
            [name.lstrip("#").lower(), channel_id, stamp],
        )


def update_delivery(db: sqlite_utils.Database, key: str, **fields: object) -> None:
    """Set `fields` (status, ts, file_id, chart, payload, error) of a recorded delivery."""
    fields["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    assignments = ", ".join(f"{name} = ?" for name in fields)
    with db.atomic():
        db.execute(f"UPDATE deliveries SET {assignments} WHERE key = ?", [*fields.values(), key])


# ---- resource inventory (bot.sources.aws.inventory)

# Columns a snapshot's resources carry; the writer adds first_seen, last_seen,
# snapshot_region and keeps read_by as given.
INVENTORY_RESOURCE_FIELDS = tuple(
    name for name in INVENTORY_COLUMNS if name not in ("first_seen", "last_seen", "snapshot_region")
)


@dataclass
class InventorySnapshot:
    """What one sync read of one account in one region (or, for S3 buckets, account-wide:
    `snapshot_region` ACCOUNT_WIDE). `reads` are the reads that succeeded (ec2, rds,
    elasticache, s3, tagging): only their stored rows are replaced; the rows of a read that
    failed stay as they were. A resource whose `tags` is None was found but its tags could
    not be read (the tagging API failed): its stored tags and team are kept; likewise its
    stored `idle` and `cpu_daily` when `idle` is None (CloudWatch could not be read)."""

    account_id: str
    snapshot_region: str
    seen_at: str  # ISO 8601 UTC
    reads: set[str]
    resources: list[dict] = field(default_factory=list)


def write_inventory_snapshot(db: sqlite_utils.Database, snapshot: InventorySnapshot) -> int:
    """One transaction: the snapshot's resources replace what the same reads found before in
    that account and region (resources gone since drop out); first_seen is kept for those
    still there. The number of resources written."""
    for resource in snapshot.resources:
        if resource.get("read_by") not in snapshot.reads:
            raise ValueError(
                f"inventory: {resource.get('arn')} comes from read {resource.get('read_by')!r},"
                " which is not among the snapshot's successful reads"
            )
        unknown = set(resource) - set(INVENTORY_RESOURCE_FIELDS)
        if unknown:
            raise ValueError(f"inventory: not resource columns: {', '.join(sorted(unknown))}")
    columns = ", ".join(INVENTORY_COLUMNS)
    placeholders = ", ".join("?" * len(INVENTORY_COLUMNS))
    with db.atomic():
        # Every stored row of the account: a resource keeps its first_seen (and its tags,
        # when this read could not see them) even if it moved between snapshots.
        before = {
            row[0]: row[1:]
            for row in db.execute(
                "SELECT arn, first_seen, tags, team, idle, cpu_daily FROM resources"
                " WHERE account_id = ?",
                [snapshot.account_id],
            )
        }
        reads = sorted(snapshot.reads)
        if reads:
            db.execute(
                "DELETE FROM resources WHERE account_id = ? AND snapshot_region = ?"
                f" AND read_by IN ({', '.join('?' * len(reads))})",
                [snapshot.account_id, snapshot.snapshot_region, *reads],
            )
        rows = []
        for resource in snapshot.resources:
            first_seen, old_tags, old_team, old_idle, old_cpu = before.get(
                resource["arn"], (None,) * 5
            )
            values = {name: resource.get(name) for name in INVENTORY_RESOURCE_FIELDS}
            if values["tags"] is None:
                values["tags"], values["team"] = old_tags, old_team
            elif not isinstance(values["tags"], str):
                values["tags"] = json.dumps(values["tags"], sort_keys=True, ensure_ascii=False)
            if values["idle"] is None:  # not assessed this time (CloudWatch failed)
                values["idle"], values["cpu_daily"] = old_idle or 0, old_cpu
            elif isinstance(values["cpu_daily"], dict):
                values["cpu_daily"] = json.dumps(values["cpu_daily"], sort_keys=True)
            values["idle"] = int(bool(values["idle"]))
            values |= {
                "first_seen": first_seen or snapshot.seen_at,
                "last_seen": snapshot.seen_at,
                "snapshot_region": snapshot.snapshot_region,
            }
            rows.append(tuple(values[name] for name in INVENTORY_COLUMNS))
        # OR REPLACE: an ARN met again under another snapshot (a global resource the tagging
        # API lists in several regions) is stored once, where it was seen last.
        db.conn.executemany(
            f"INSERT OR REPLACE INTO resources ({columns}) VALUES ({placeholders})", rows
        )
    return len(rows)


# ---- anomaly episodes, mutes and who pressed what (jobs/anomalies.py, handlers/actions)

ANOMALY_ACTIONS = ("acknowledge", "expected", "mute", "assign")


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def open_episode(db: sqlite_utils.Database, **fields: object) -> int:
    """Record a new anomaly episode (`fields` are anomaly_episodes columns); its id."""
    row = {"status": "open", "alerts": 1, **fields, "updated_at": _stamp()}
    with db.atomic():
        db["anomaly_episodes"].insert(row)
        return int(db.execute("SELECT last_insert_rowid()").fetchone()[0])


def update_episode(db: sqlite_utils.Database, episode_id: int, **fields: object) -> None:
    fields["updated_at"] = _stamp()
    assignments = ", ".join(f"{name} = ?" for name in fields)
    with db.atomic():
        db.execute(
            f"UPDATE anomaly_episodes SET {assignments} WHERE id = ?",
            [*fields.values(), episode_id],
        )


def record_anomaly_action(
    db: sqlite_utils.Database,
    episode_id: int,
    action: str,
    user_id: str,
    *,
    today: date,
    assignee: str | None = None,
    mute_days: int = 7,
) -> dict | None:
    """What a button press on an alert does, in one transaction: the episode says who
    acknowledged / assigned / expected it, a mute silences its series through
    `today + mute_days - 1`, and every press is in anomaly_actions. The episode as it now is,
    or None when there is no such episode (nothing is written)."""
    if action not in ANOMALY_ACTIONS:
        raise ValueError(f"unknown anomaly action {action!r}")
    stamp = _stamp()
    with db.atomic():
        rows = list(db.query("SELECT * FROM anomaly_episodes WHERE id = ?", [episode_id]))
        if not rows:
            return None
        episode = rows[0]
        detail = None
        if action == "acknowledge":
            changes = {"acknowledged_by": user_id, "acknowledged_at": stamp}
        elif action == "assign":
            changes = {"assigned_to": assignee, "assigned_by": user_id}
            detail = assignee
        elif action == "expected":
            changes = {"status": "expected", "expected_by": user_id, "expected_at": stamp}
        else:
            until = (today + timedelta(days=mute_days - 1)).isoformat()
            db["anomaly_mutes"].upsert(
                {
                    "series": episode["series"],
                    "until": until,
                    "muted_by": user_id,
                    "muted_at": stamp,
                    "episode_id": episode_id,
                },
                pk="series",
            )
            changes, detail = {}, until
        if changes:
            assignments = ", ".join(f"{name} = ?" for name in [*changes, "updated_at"])
            db.execute(
                f"UPDATE anomaly_episodes SET {assignments} WHERE id = ?",
                [*changes.values(), stamp, episode_id],
            )
        db["anomaly_actions"].insert(
            {
                "episode_id": episode_id,
                "action": action,
                "user_id": user_id,
                "detail": detail,
                "at": stamp,
            }
        )
        return next(iter(db.query("SELECT * FROM anomaly_episodes WHERE id = ?", [episode_id])))


# ---- tagging compliance, one set of rows a day (bot.analytics.tag_compliance)


def write_compliance(db: sqlite_utils.Database, day: date, report) -> int:
    """One transaction: the day's rows (`report.scopes()`, a ComplianceReport) replace
    whatever that day held, so computing a day again leaves one set. The rows written."""
    rows = [
        {
            "day": day.isoformat(),
            "kind": scope.kind,
            "value": scope.value,
            "month": report.month,
            "resources": scope.resources,
            "compliant_resources": scope.compliant_resources,
            "exempt_resources": scope.exempt_resources,
            "cost_micros": scope.cost_micros,
            "compliant_cost_micros": scope.compliant_cost_micros,
            "exempt_cost_micros": scope.exempt_cost_micros,
            "unlisted_cost_micros": scope.unlisted_cost_micros,
            "missing": json.dumps(
                {
                    gap.key: {"resources": gap.resources, "cost_micros": gap.cost_micros}
                    for gap in scope.missing
                },
                ensure_ascii=False,
            ),
            "required_tags": json.dumps(list(report.required_tags), ensure_ascii=False),
            "computed_at": _stamp(),
        }
        for scope in report.scopes()
    ]
    with db.atomic():
        db.execute("DELETE FROM tag_compliance WHERE day = ?", [day.isoformat()])
        if rows:
            db["tag_compliance"].insert_all(rows)
    return len(rows)


# ---- the tag enforcement ladder's state and audit (bot/analytics/tag_ladder.py)

# What became of a step (enforcement_audit.outcome): only `done` moves the ladder on; a failed
# step (the API refused) or a skipped one (the resource changed since the run read it) is only
# audited, and the next run decides again.
ENFORCEMENT_OUTCOMES = ("done", "failed", "skipped")


class LadderResource(Protocol):
    """The resource a step is about (tag_ladder.ResourceFacts)."""

    @property
    def arn(self) -> str: ...
    @property
    def resource_id(self) -> str: ...
    @property
    def resource_type(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def region(self) -> str: ...


class LadderStep(Protocol):
    """A step of the ladder (tag_ladder.Step)."""

    @property
    def action(self) -> str: ...
    @property
    def dry(self) -> bool: ...
    @property
    def reason(self) -> str: ...
    @property
    def closes_ladder(self) -> bool: ...
    @property
    def label(self) -> str: ...
    @property
    def blocked_by(self) -> str | None: ...


def record_step(
    db: sqlite_utils.Database,
    resource: LadderResource,
    step: LadderStep,
    *,
    at: datetime,
    outcome: str = "done",
    actor: str = "costbot",
    run_date: date | None = None,
    snapshot_id: str | None = None,
) -> bool:
    """Record one step of the ladder in one transaction: the audit row, and (when `done`) the
    resource's state moved on. A step already recorded as done on the same run date (a re-run
    of the day) writes nothing: False. True when written."""
    if outcome not in ENFORCEMENT_OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    stamp = _iso_utc(at)
    run_day = (run_date or at.astimezone(UTC).date()).isoformat()
    with db.atomic():
        rows = list(db.query("SELECT * FROM tag_enforcement WHERE arn = ?", [resource.arn]))
        current = rows[0] if rows else None
        if outcome == "done" and _already_recorded(db, resource.arn, step, run_day, current):
            return False
        if outcome == "done":
            _move_ladder(db, resource, step, stamp, current, snapshot_id)
        db["enforcement_audit"].insert(
            {
                "at": stamp,
                "arn": resource.arn,
                "account": resource.account,
                "region": resource.region,
                "resource_type": resource.resource_type,
                "step": "closed" if step.closes_ladder else step.action,
                "dry": int(step.dry),
                "outcome": outcome,
                "reason": step.reason,
                "approved_by": current["approved_by"] if current else None,
                "actor": actor,
                "run_date": run_day,
            }
        )
    return True


def _already_recorded(
    db: sqlite_utils.Database, arn: str, step: LadderStep, run_day: str, current: dict | None
) -> bool:
    if current is None or current["last_step"] != step.label:
        return False
    audit_step = "closed" if step.closes_ladder else step.action
    done = db.execute(
        "SELECT 1 FROM enforcement_audit WHERE arn = ? AND run_date = ? AND step = ?"
        " AND dry = ? AND outcome = 'done'",
        [arn, run_day, audit_step, int(step.dry)],
    ).fetchone()
    return done is not None


def _move_ladder(
    db: sqlite_utils.Database,
    resource: LadderResource,
    step: LadderStep,
    stamp: str,
    current: dict | None,
    snapshot_id: str | None,
) -> None:
    changes: dict[str, object] = {"last_step": step.label, "last_step_at": stamp}
    if step.closes_ladder:
        changes |= dict.fromkeys(
            (
                "first_reported_at",
                "notified_at",
                "stopped_at",
                "approved_by",
                "approved_at",
                "snapshot_id",
            )
        )
    elif step.action == "notify":
        changes["notified_at"] = stamp
        # The ladder's clock starts with a report that says when the stop falls due. A
        # resource reported while exempt or protected was told it would never be stopped:
        # if that protection is lifted, it gets a fresh report and a clock of its own.
        if step.blocked_by is None and (current is None or not current["first_reported_at"]):
            changes["first_reported_at"] = stamp
    elif step.action == "stop" and not step.dry:
        changes["stopped_at"] = stamp
    elif step.action == "terminate" and not step.dry:
        changes["terminated_at"] = stamp
        changes["snapshot_id"] = snapshot_id
    db["tag_enforcement"].upsert(
        {
            "arn": resource.arn,
            "resource_id": resource.resource_id,
            "resource_type": resource.resource_type,
            "account": resource.account,
            "region": resource.region,
            **changes,
            "updated_at": stamp,
        },
        pk="arn",
    )


def record_approval(db: sqlite_utils.Database, arn: str, user_id: str, at: datetime) -> bool:
    """An approver's click on a termination, in one transaction with its audit row. Only a
    resource waiting for it (its last step `await-approval`, not terminated, not yet
    approved) takes an approval, so that no click, forged or early, approves a resource the
    ladder never asked about (an exempt or protected one); the first approver's counts.
    Check the user with `tag_ladder.is_approver` first. True when
    recorded."""
    stamp = _iso_utc(at)
    with db.atomic():
        rows = list(
            db.query(
                "SELECT * FROM tag_enforcement WHERE arn = ? AND first_reported_at IS NOT NULL"
                " AND terminated_at IS NULL AND approved_by IS NULL"
                " AND last_step = 'await-approval'",
                [arn],
            )
        )
        if not rows:
            return False
        row = rows[0]
        db.execute(
            "UPDATE tag_enforcement SET approved_by = ?, approved_at = ?, updated_at = ?"
            " WHERE arn = ?",
            [user_id, stamp, stamp, arn],
        )
        db["enforcement_audit"].insert(
            {
                "at": stamp,
                "arn": arn,
                "account": row["account"],
                "region": row["region"],
                "resource_type": row["resource_type"],
                "step": "approve",
                "dry": 0,
                "outcome": "done",
                "reason": f"Termination approved by {user_id}.",
                "approved_by": user_id,
                "actor": user_id,
                "run_date": at.astimezone(UTC).date().isoformat(),
            }
        )
    return True


def _iso_utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone: the store keeps UTC")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


SAVING_ACTIONS = ("idle-stop", "enforcement-stop", "enforcement-terminate")


def record_saving(
    db: sqlite_utils.Database,
    *,
    at: datetime,
    arn: str,
    action: str,
    monthly_micros: int,
    currency: str,
    basis: str,
    actor: str,
    resource_id: str | None = None,
    resource_type: str | None = None,
    account: str | None = None,
    region: str | None = None,
    team: str | None = None,
    approved_by: str | None = None,
) -> bool:
    """A resource stopped or terminated through Costbot, with the run-rate it saves (see
    analytics/savings.py). The same resource, action and day again writes nothing: False."""
    if action not in SAVING_ACTIONS:
        raise ValueError(f"unknown saving action {action!r}: {', '.join(SAVING_ACTIONS)}")
    stamp = _iso_utc(at)
    with db.atomic():
        cursor = db.execute(
            "INSERT OR IGNORE INTO verified_savings (at, day, arn, resource_id, resource_type,"
            " account, region, team, action, monthly_micros, currency, basis, actor,"
            " approved_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                stamp,
                stamp[:10],
                arn,
                resource_id,
                resource_type,
                account,
                region,
                team,
                action,
                int(monthly_micros),
                currency,
                basis,
                actor,
                approved_by,
            ],
        )
    return cursor.rowcount == 1


def record_audit(
    db: sqlite_utils.Database,
    *,
    at: datetime,
    arn: str,
    step: str,
    outcome: str,
    reason: str,
    actor: str,
    dry: bool = False,
    account: str | None = None,
    region: str | None = None,
    resource_type: str | None = None,
    approved_by: str | None = None,
    run_date: date | None = None,
) -> int:
    """One row of `enforcement_audit` for a change that is not a ladder step (a claim's tags,
    an idle stop); ladder steps go through `record_step`, which also moves the ladder."""
    if step not in ENFORCEMENT_STEPS:
        raise ValueError(f"unknown step {step!r}")
    if outcome not in ENFORCEMENT_OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    with db.atomic():
        table = db["enforcement_audit"]
        table.insert(
            {
                "at": _iso_utc(at),
                "arn": arn,
                "account": account,
                "region": region,
                "resource_type": resource_type,
                "step": step,
                "dry": int(dry),
                "outcome": outcome,
                "reason": reason,
                "approved_by": approved_by,
                "actor": actor,
                "run_date": (run_date or at.astimezone(UTC).date()).isoformat(),
            }
        )
        return int(table.last_pk)


# ---- idle EC2 instances: their notices (jobs/idle.py, handlers/actions/idle.py)


def record_idle_notified(
    db: sqlite_utils.Database,
    notices: Sequence[dict],
    *,
    at: datetime,
    channel: str,
    delivery_key: str,
    message_ts: str | None,
) -> None:
    """The instances one posted message reported. Each dict: arn, resource_id, account, region,
    team, idle_since, reminder (True: a reminder of a notice still open). A new notice (or one
    reopened after Keep, a close or a stop) starts from `at`; a reminder keeps its start."""
    stamp = _iso_utc(at)
    with db.atomic():
        for notice in notices:
            before = db.execute(
                "SELECT status, first_notified_at, idle_since, reminders FROM idle_notices"
                " WHERE arn = ?",
                [notice["arn"]],
            ).fetchone()
            reminder = bool(notice.get("reminder")) and before is not None and before[0] == "open"
            db.execute(
                "INSERT OR REPLACE INTO idle_notices (arn, resource_id, account, region, team,"
                " status, idle_since, first_notified_at, last_notified_at, reminders,"
                " notified_channel, delivery_key, message_ts, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    notice["arn"],
                    notice.get("resource_id"),
                    notice.get("account"),
                    notice.get("region"),
                    notice.get("team"),
                    before[2] if reminder else notice.get("idle_since"),
                    before[1] if reminder else stamp,
                    stamp,
                    (before[3] or 0) + 1 if reminder else 0,
                    channel,
                    delivery_key,
                    message_ts,
                    _stamp(),
                ],
            )


def close_idle_notice(db: sqlite_utils.Database, arn: str, status: str, at: datetime) -> bool:
    """An open notice whose instance is no longer idle (`closed`) or no longer there (`gone`);
    False if it was not open."""
    if status not in ("closed", "gone"):
        raise ValueError(f"an idle notice is closed as closed or gone, not {status!r}")
    with db.atomic():
        cursor = db.execute(
            "UPDATE idle_notices SET status = ?, closed_at = ?, updated_at = ?"
            " WHERE arn = ? AND status = 'open'",
            [status, _iso_utc(at), _stamp(), arn],
        )
    return cursor.rowcount == 1


def keep_idle_notice(
    db: sqlite_utils.Database, arn: str, user_id: str, at: datetime, until: datetime
) -> bool:
    """Someone pressed Keep running on an open notice: not reported again before `until`.
    False (nothing written) when the notice is not open (already stopped, kept or closed)."""
    with db.atomic():
        cursor = db.execute(
            "UPDATE idle_notices SET status = 'kept', kept_at = ?, kept_by = ?, kept_until = ?,"
            " updated_at = ? WHERE arn = ? AND status = 'open'",
            [_iso_utc(at), user_id, _iso_utc(until), _stamp(), arn],
        )
    return cursor.rowcount == 1


def mark_idle_stopped(db: sqlite_utils.Database, arn: str, user_id: str, at: datetime) -> bool:
    """An approver stopped the instance of an open notice; False if it was not open."""
    with db.atomic():
        cursor = db.execute(
            "UPDATE idle_notices SET status = 'stopped', stopped_at = ?, stopped_by = ?,"
            " updated_at = ? WHERE arn = ? AND status = 'open'",
            [_iso_utc(at), user_id, _stamp(), arn],
        )
    return cursor.rowcount == 1


# ---- the enforcement ladder's notices (jobs/tag_policy.py)


def record_notices(
    db: sqlite_utils.Database,
    audit_ids: Sequence[int],
    *,
    arns: Sequence[str],
    channel: str,
    delivery_key: str,
    at: datetime,
) -> None:
    """The ladder steps (enforcement_audit ids) a message is about to tell, written before the
    message is posted: if the post fails, `queries.untold_ladder_steps` finds them again."""
    stamp = _iso_utc(at)
    with db.atomic():
        db["tag_policy_notices"].upsert_all(
            [
                {
                    "audit_id": audit_id,
                    "arn": arn,
                    "channel": channel,
                    "delivery_key": delivery_key,
                    "at": stamp,
                }
                for audit_id, arn in zip(audit_ids, arns, strict=True)
            ],
            pk="audit_id",
        )


def update_resource_tags(
    db: sqlite_utils.Database, arn: str, tags: dict[str, str], team: str | None
) -> bool:
    """The inventory row of `arn` as the cloud now tags it (a claim): its whole tag set and
    the team those tags give. False when the inventory does not hold it."""
    with db.atomic():
        cursor = db.execute(
            "UPDATE resources SET tags = ?, team = ? WHERE arn = ?",
            [json.dumps(tags, ensure_ascii=False, sort_keys=True), team, arn],
        )
    return cursor.rowcount == 1


# ---- wins: kudos (issue 12)


@dataclass(frozen=True)
class KudosEntry:
    """One person's win from one `/kudos`: what the answer parsed, ready to store."""

    month: str  # YYYY-MM of the asker's day
    person: str  # the recipient's Slack user id
    team: str | None
    what: str
    monthly_savings_micros: int | None
    currency: str
    dedupe_key: str
    channel: str | None


@dataclass(frozen=True)
class KudosRecorded:
    """What became of one KudosEntry. `outcome`: new | merged (another reporter: mentions
    + 1) | repeated (the same reporter again: nothing changed) | amount_added (the kudos had
    no amount and this report gives one; a merge too when the reporter is new). `win` is the
    row as it now is; `amount_kept` is True when this report named an amount that differs
    from the one recorded (which stays)."""

    outcome: str
    win: dict[str, Any]
    amount_kept: bool = False


def record_kudos(
    db: sqlite_utils.Database, entries: Sequence[KudosEntry], reporter: str, at: datetime
) -> list[KudosRecorded]:
    """Record one `/kudos` (one entry per recipient) in one transaction: all or nothing.
    A kudos already recorded (same `dedupe_key`) is merged: another reporter adds a mention
    (and a reporter row), the same reporter changes nothing. An amount given for a kudos
    recorded without one is taken while the kudos is still `reported` (a lead has not yet
    judged it); an amount already recorded is never changed by a later report."""
    stamp = _iso_utc(at)
    results = []
    with db.atomic():
        for entry in entries:
            # The insert comes first, so the transaction holds the write lock before it reads.
            inserted = db.execute(
                "INSERT INTO wins (month, source, status, team, person, what,"
                " monthly_savings_micros, currency, dedupe_key, reported_by, reported_at,"
                " mentions, channel, created_at, updated_at)"
                " VALUES (?, 'kudos', 'reported', ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)"
                " ON CONFLICT(dedupe_key) DO NOTHING",
                [
                    entry.month,
                    entry.team,
                    entry.person,
                    entry.what,
                    entry.monthly_savings_micros,
                    entry.currency,
                    entry.dedupe_key,
                    reporter,
                    stamp,
                    entry.channel,
                    stamp,
                    stamp,
                ],
            )
            win = _win_by_key(db, entry.dedupe_key)
            if inserted.rowcount == 1:
                _add_reporter(db, win["id"], reporter, stamp)
                results.append(KudosRecorded("new", win))
                continue
            new_reporter = _add_reporter(db, win["id"], reporter, stamp)
            changes: dict[str, Any] = {}
            if new_reporter:
                changes["mentions"] = (win["mentions"] or 1) + 1
            amount = entry.monthly_savings_micros
            adds_amount = (
                amount is not None
                and win["monthly_savings_micros"] is None
                and win["status"] == "reported"
            )
            if adds_amount:
                changes["monthly_savings_micros"] = amount
                changes["currency"] = entry.currency
            kept = (
                amount is not None
                and not adds_amount
                and win["monthly_savings_micros"] not in (None, amount)
            )
            if changes:
                changes["updated_at"] = stamp
                assignments = ", ".join(f"{name} = ?" for name in changes)
                db.execute(
                    f"UPDATE wins SET {assignments} WHERE id = ?", [*changes.values(), win["id"]]
                )
                win = _win_by_key(db, entry.dedupe_key)
            outcome = "amount_added" if adds_amount else "merged" if new_reporter else "repeated"
            results.append(KudosRecorded(outcome, win, amount_kept=kept))
    return results


def _win_by_key(db: sqlite_utils.Database, dedupe_key: str) -> dict[str, Any]:
    return next(iter(db.query("SELECT * FROM wins WHERE dedupe_key = ?", [dedupe_key])))


def _add_reporter(db: sqlite_utils.Database, win_id: int, user_id: str, stamp: str) -> bool:
    """True when `user_id` had not reported this win before."""
    cursor = db.execute(
        "INSERT INTO win_reporters (win_id, user_id, at) VALUES (?, ?, ?)"
        " ON CONFLICT(win_id, user_id) DO NOTHING",
        [win_id, user_id, stamp],
    )
    return cursor.rowcount == 1


def set_kudos_message(
    db: sqlite_utils.Database, win_ids: Sequence[int], channel: str | None, message_ts: str | None
) -> None:
    """Where the kudos message with the Confirm button is (the channel id Slack answered)."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    with db.atomic():
        for win_id in win_ids:
            db.execute(
                "UPDATE wins SET channel = coalesce(?, channel), message_ts = ?, updated_at = ?"
                " WHERE id = ? AND source = 'kudos'",
                [channel, message_ts, stamp, win_id],
            )


def decide_kudos(
    db: sqlite_utils.Database, win_ids: Sequence[int], status: str, user_id: str, at: datetime
) -> list[int]:
    """Confirm or decline kudos wins still `reported`; the ids that changed. A win already
    confirmed or declined stays as it is, so a second press (or two leads at once) changes
    nothing."""
    if status not in ("confirmed", "declined"):
        raise ValueError(f"a kudos is confirmed or declined, not {status!r}")
    stamp = _iso_utc(at)
    changed = []
    with db.atomic():
        for win_id in win_ids:
            cursor = db.execute(
                "UPDATE wins SET status = ?, confirmed_by = ?, confirmed_at = ?, updated_at = ?"
                " WHERE id = ? AND source = 'kudos' AND status = 'reported'",
                [status, user_id, stamp, stamp, win_id],
            )
            if cursor.rowcount == 1:
                changed.append(win_id)
    return changed


# ---- cost champions: measured wins (bot/analytics/champions.py)

MEASURED_WIN_SOURCES = ("unit_cost", "stop", "idle_stop", "anomaly")


@dataclass(frozen=True)
class MeasuredWin:
    """A win computed from the store, as `record_measured_wins` keeps it."""

    month: str  # YYYY-MM
    source: str  # MEASURED_WIN_SOURCES
    team: str | None
    person: str | None
    what: str
    monthly_savings_micros: int | None
    currency: str
    dedupe_key: str
    detail: dict[str, Any] = field(default_factory=dict)


def record_measured_wins(
    db: sqlite_utils.Database, month: str, wins: Sequence[MeasuredWin], now: datetime
) -> tuple[int, int]:
    """Keep a month's measured wins, as computed now: each upserted by its `dedupe_key`
    (recomputing a month changes nothing twice), and the month's measured wins no longer
    found (data restated since) removed. Reported and confirmed kudos are not touched.
    Returns (written, removed)."""
    stamp = _iso_utc(now)
    for win in wins:
        if win.month != month or win.source not in MEASURED_WIN_SOURCES:
            raise ValueError(f"not a measured win of {month}: {win.dedupe_key}")
    keys = [win.dedupe_key for win in wins]
    with db.atomic():
        placeholders = ", ".join("?" for _ in keys)
        kept = f" AND dedupe_key NOT IN ({placeholders})" if keys else ""
        removed = db.execute(
            f"DELETE FROM wins WHERE month = ? AND status = 'measured'{kept}", [month, *keys]
        ).rowcount
        for win in wins:
            db.execute(
                "INSERT INTO wins (month, source, status, team, person, what,"
                " monthly_savings_micros, currency, dedupe_key, mentions, detail, created_at,"
                " updated_at) VALUES (?, ?, 'measured', ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)"
                " ON CONFLICT (dedupe_key) DO UPDATE SET month = excluded.month,"
                " source = excluded.source, team = excluded.team, person = excluded.person,"
                " what = excluded.what, monthly_savings_micros = excluded.monthly_savings_micros,"
                " currency = excluded.currency, detail = excluded.detail,"
                " updated_at = excluded.updated_at WHERE wins.status = 'measured'",
                [
                    win.month,
                    win.source,
                    win.team,
                    win.person,
                    win.what,
                    win.monthly_savings_micros,
                    win.currency,
                    win.dedupe_key,
                    json.dumps(win.detail, sort_keys=True, ensure_ascii=False),
                    stamp,
                    stamp,
                ],
            )
    return len(wins), removed


# ---- scheduler (jobs/scheduler.py): one row per scheduled run in `job_runs` ----

# A run still `running` after this long, by a process on another host, is taken to be dead
# (on this host a dead owner is seen at once): longer than any job's fan-out to hundreds of
# channels at Slack's pace of one message a second per channel.
STALE_RUNNING = timedelta(hours=2)


def claim_job_run(
    db: sqlite_utils.Database,
    job: str,
    slot: str,
    scope: str,
    *,
    now: datetime,
    max_attempts: int,
) -> int | None:
    """Record the run of `job` for `slot` (ISO UTC) and `scope` as `running`, owned by this
    process; its attempt number, or None when the run is not this process's to make: done,
    skipped, running elsewhere, out of attempts, or failed and not yet due again. A run left
    `running` by a process that died, or for longer than STALE_RUNNING, is taken over."""
    stamp = _iso_utc(now)
    owner = process_owner()
    with db.atomic():
        # The insert first, so the transaction holds the write lock before it reads (see
        # claim_delivery_once): two schedulers racing for a slot are served one after the other.
        inserted = db.execute(
            "INSERT INTO job_runs (job, slot, scope, status, attempts, owner, started_at)"
            " VALUES (?, ?, ?, 'running', 1, ?, ?) ON CONFLICT DO NOTHING",
            [job, slot, scope, owner, stamp],
        )
        if inserted.rowcount == 1:
            return 1
        [before] = db.query(
            "SELECT * FROM job_runs WHERE job = ? AND slot = ? AND scope = ?", [job, slot, scope]
        )
        attempts = before["attempts"] or 0
        if before["status"] == "failed":
            takeable = attempts < max_attempts and (before["next_attempt_at"] or "") <= stamp
        elif before["status"] == "running":
            takeable = (before["started_at"] or "") < _iso_utc(
                now - STALE_RUNNING
            ) or _owner_is_dead(before["owner"])
        else:  # done, skipped
            takeable = False
        if not takeable:
            return None
        db.execute(
            "UPDATE job_runs SET status = 'running', attempts = ?, owner = ?, started_at = ?,"
            " finished_at = NULL, next_attempt_at = NULL WHERE job = ? AND slot = ? AND scope = ?",
            [attempts + 1, owner, stamp, job, slot, scope],
        )
    return attempts + 1


def finish_job_run(
    db: sqlite_utils.Database,
    job: str,
    slot: str,
    scope: str,
    *,
    at: datetime,
    summary: str | None = None,
    error: str | None = None,
    next_attempt_at: datetime | None = None,
) -> None:
    """A claimed run's outcome: `done` with its summary, or `failed` with its error (and when
    to try again, None when it will not be)."""
    with db.atomic():
        db.execute(
            "UPDATE job_runs SET status = ?, finished_at = ?, summary = ?, error = ?,"
            " next_attempt_at = ? WHERE job = ? AND slot = ? AND scope = ?",
            [
                "failed" if error is not None else "done",
                _iso_utc(at),
                summary,
                error,
                _iso_utc(next_attempt_at) if next_attempt_at else None,
                job,
                slot,
                scope,
            ],
        )


def record_skipped_job_runs(
    db: sqlite_utils.Database, runs: Iterable[tuple[str, str, str]], *, at: datetime, reason: str
) -> int:
    """Runs (job, slot, scope) that were due while no scheduler ran and are too old to catch
    up, as `skipped`, so that they are reported once; a run already recorded stays as it is.
    How many were recorded."""
    stamp = _iso_utc(at)
    recorded = 0
    with db.atomic():
        for job, slot, scope in runs:
            cursor = db.execute(
                "INSERT INTO job_runs (job, slot, scope, status, attempts, finished_at, error)"
                " VALUES (?, ?, ?, 'skipped', 0, ?, ?) ON CONFLICT DO NOTHING",
                [job, slot, scope, stamp, reason],
            )
            recorded += cursor.rowcount
    return recorded
