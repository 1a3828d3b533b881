"""The cost store: one SQLite file (sqlite-utils 4) of daily aggregates, resource-month costs,
business metrics and the record of every ingest. Every amount is integer micro-dollars."""

from __future__ import annotations

from decimal import Decimal

import sqlite_utils
from sqlite_utils.migrations import Migrations

DEFAULT_DB_PATH = "costbot.db"

# The dimensions a daily aggregate is keyed by, as m001 created them.
BASE_DAILY_DIMENSIONS = (
    "date",
    "provider",
    "billing_account_id",
    "account_id",
    "team",
    "service",
    "service_category",
    "region",
    "charge_category",
    "environment",
    "product",
    "cost_center",
    "currency",
)
# FOCUS's pricing model and commitment discount of a charge (m006), as exported: PricingCategory
# (Standard | Dynamic | Committed | Other), CommitmentDiscountCategory (Spend | Usage),
# CommitmentDiscountType (the provider's label: AWS writes "Savings Plan"), and
# CommitmentDiscountStatus (Used | Unused). NULL where the source does not say (Cost Explorer).
COMMITMENT_DIMENSIONS = (
    "pricing_category",
    "commitment_discount_category",
    "commitment_discount_type",
    "commitment_discount_status",
)
# What was used (m007), for the root cause of an anomaly ("78% from EC2 BoxUsage in
# us-east-1"): AWS's usage type (x_UsageType) when the export has it, else FOCUS 1.1's
# SkuMeter, else the charge description, else the SkuId. NULL where the source does not say.
USAGE_DIMENSIONS = ("sku",)
# Later dimensions are appended: sources build rows by column name (`daily_row`).
DAILY_DIMENSIONS = (*BASE_DAILY_DIMENSIONS, *COMMITMENT_DIMENSIONS, *USAGE_DIMENSIONS)
AMOUNT_COLUMNS = ("effective_micros", "billed_micros", "list_micros")

# Daily aggregate columns in the order the FOCUS reader returns them and writers insert them.
DAILY_COLUMNS = (
    *DAILY_DIMENSIONS,
    "billing_period",
    "effective_micros",
    "billed_micros",
    "list_micros",
)


def daily_row(**values: object) -> tuple[object, ...]:
    """One daily_cost row in DAILY_COLUMNS order from named values; the columns not named are
    NULL. Sources other than the FOCUS reader build their rows with it, so that a column added
    to the store later does not shift theirs."""
    unknown = set(values) - set(DAILY_COLUMNS)
    if unknown:
        raise ValueError(f"not daily_cost columns: {', '.join(sorted(unknown))}")
    return tuple(values.get(name) for name in DAILY_COLUMNS)


RESOURCE_COLUMNS = (
    "month",
    "billing_period",
    "provider",
    "billing_account_id",
    "account_id",
    "resource_id",
    "resource_name",
    "resource_type",
    "service",
    "region",
    "team",
    "tags",
    "effective_micros",
    "billed_micros",
    "list_micros",
    "currency",  # m017: FOCUS BillingCurrency; NULL on rows loaded before it
)

migrations = Migrations("costbot")


@migrations()
def m001_cost_store(db: sqlite_utils.Database) -> None:
    db["ingests"].create(
        {
            "id": int,
            "source": str,  # focus | metrics | ...
            "file": str,
            "focus_version": str,
            "billing_periods": str,  # JSON list of YYYY-MM
            "rows": int,
            "checksum": str,  # xxh3-128 of the file as read
            "loaded_at": str,  # ISO 8601 UTC
        },
        pk="id",
    )
    # The dimensions of m001 only: later ones are added by their own migrations.
    daily_columns: dict[str, type] = {name: str for name in BASE_DAILY_DIMENSIONS}
    daily_columns |= {"billing_period": str, "ingest_id": int}
    daily_columns |= {name: int for name in AMOUNT_COLUMNS}
    db["daily_cost"].create(daily_columns, not_null={"date", "provider", "billing_period"})
    # The queries behind every answer filter by one dimension and a date range.
    db["daily_cost"].create_index(["team", "date"])
    db["daily_cost"].create_index(["service", "date"])
    db["daily_cost"].create_index(["account_id", "date"])
    db["daily_cost"].create_index(["date"])
    db["daily_cost"].create_index(["provider", "billing_account_id", "billing_period"])

    db["resource_cost"].create(
        {
            "month": str,  # YYYY-MM of the charge
            "billing_period": str,
            "provider": str,
            "billing_account_id": str,
            "account_id": str,
            "resource_id": str,
            "resource_name": str,
            "resource_type": str,
            "service": str,
            "region": str,
            "team": str,
            "tags": str,  # JSON object as exported
            "effective_micros": int,
            "billed_micros": int,
            "list_micros": int,
            "ingest_id": int,
        },
        not_null={"month", "resource_id"},
    )
    db["resource_cost"].create_index(["month", "team"])
    db["resource_cost"].create_index(["provider", "billing_account_id", "billing_period"])

    db["accounts"].create(
        {"provider": str, "account_id": str, "name": str, "kind": str},
        pk=("provider", "account_id"),
    )
    db["business_metrics"].create(
        {"date": str, "metric": str, "scope": str, "value": float, "ingest_id": int},
        pk=("date", "metric", "scope"),
    )


@migrations()
def m002_drop_unread_resource_index(db: sqlite_utils.Database) -> None:
    # No query reads resource_cost by (month, team), and maintaining that index was half of
    # writing 830,000 resource-month rows (4.3 s of 8 s). The index on (provider,
    # billing_account_id, billing_period) stays: re-loading a billing period deletes by it.
    db.execute("DROP INDEX IF EXISTS idx_resource_cost_month_team")


@migrations()
def m003_deliveries(db: sqlite_utils.Database) -> None:
    # One row per message Costbot delivered (or tried to): answers, shares, later digests and
    # alerts. `key` makes a delivery happen once: a job that restarts finds its key already sent.
    db["deliveries"].create(
        {
            "key": str,  # e.g. answer:<uuid>, share:answer:<uuid>, weekly-digest:payments:2026-W48
            "kind": str,  # answer | share | digest | alert | ...
            "channel": str,  # channel id; answers through a response_url: the asker's channel
            "user_id": str,  # who asked (answers): only they may share it
            "status": str,  # pending | sent | failed
            "ts": str,  # the Slack message ts, when Slack says it
            "file_id": str,  # the chart, uploaded privately
            "chart": str,  # inline | refused | failed | none: how the chart reached Slack
            "payload": str,  # JSON of the message as delivered (Share posts the same)
            "error": str,  # Slack's error code or the exception type when it failed
            "created_at": str,  # ISO 8601 UTC
            "updated_at": str,
        },
        pk="key",
    )
    db["deliveries"].create_index(["kind", "created_at"])


# Where daily cost rows come from, in order of precedence: when two sources cover the same
# billing account and month, answers read the first one only (FOCUS is resource-level; an
# Athena aggregate of CUR / FOCUS comes next; Cost Explorer's grouped totals last).
COST_SOURCES = ("focus", "athena", "cost-explorer")
# The breakdowns a grouped source answers exactly. Cost Explorer allows two GroupBy keys a
# request, so its rows are exact only for the two dimensions they were grouped by; a row's
# `grain` names them. NULL: every dimension is exact (FOCUS, Athena).
GRAINS = ("team,service", "team,account")


@migrations()
def m004_cost_sources(db: sqlite_utils.Database) -> None:
    # Added with defaults, so existing rows (all FOCUS, full grain) need no rewrite.
    db.execute("ALTER TABLE daily_cost ADD COLUMN source TEXT NOT NULL DEFAULT 'focus'")
    db.execute("ALTER TABLE daily_cost ADD COLUMN grain TEXT")
    # 1 when a source of higher precedence covers the row's billing account and month.
    db.execute("ALTER TABLE daily_cost ADD COLUMN superseded INTEGER NOT NULL DEFAULT 0")
    # The (billing account, month) pairs each non-FOCUS source holds: small (accounts x
    # months), and what precedence is decided over.
    db["source_coverage"].create(
        {"source": str, "billing_account_id": str, "month": str},
        pk=("source", "billing_account_id", "month"),
    )
    # One row per sync (Cost Explorer, Athena, inventory): what it read and what it cost.
    db["sync_runs"].create(
        {
            "id": int,
            "source": str,  # cost-explorer | athena | inventory
            "started_at": str,  # ISO 8601 UTC
            "finished_at": str,
            "status": str,  # ok | failed | partial
            "period_start": str,  # the days re-read (YYYY-MM-DD), when the source has days
            "period_end": str,
            "rows": int,
            "paid_requests": int,  # Cost Explorer requests ($0.01 each)
            "cost_micros": int,  # what the run cost: Cost Explorer requests, Athena bytes scanned
            "bytes_scanned": int,
            "detail": str,  # JSON: per-call counts, warnings, the Athena query id
        },
        pk="id",
    )
    db["sync_runs"].create_index(["source", "started_at"])
    # Savings Plans coverage and utilization, spot share and the month's forecast, per
    # billing account and month, as Cost Explorer reports them (FOCUS data carries its own,
    # in the daily_cost commitment columns).
    db["commitments"].create(
        {
            "provider": str,
            "billing_account_id": str,
            "month": str,  # YYYY-MM
            "source": str,
            "currency": str,
            "sp_covered_micros": int,  # eligible spend covered by Savings Plans
            "sp_on_demand_micros": int,  # eligible spend paid on demand
            "sp_commitment_micros": int,  # Savings Plans commitment in the month
            "sp_used_micros": int,  # ... of which used
            "spot_micros": int,  # compute cost at spot prices
            "compute_micros": int,  # all compute cost (spot share = spot / compute)
            "forecast_micros": int,  # the month's total, forecast (month still open)
            "forecast_low_micros": int,
            "forecast_high_micros": int,
            "updated_at": str,
        },
        pk=("provider", "billing_account_id", "month", "source"),
    )


# Columns of the `resources` table as the inventory writes them (bot.sources.aws.inventory).
INVENTORY_COLUMNS = (
    "arn",
    "resource_id",
    "resource_type",
    "account_id",
    "region",
    "name",
    "state",
    "launched_at",
    "tags",
    "team",
    "size",
    "cpu_daily",
    "idle",
    "first_seen",
    "last_seen",
    "snapshot_region",
    "read_by",
)
# `snapshot_region` of what is read once per account, not per region (S3 buckets).
ACCOUNT_WIDE = "global"


@migrations()
def m005_resource_inventory(db: sqlite_utils.Database) -> None:
    # One row per live resource in the accounts and regions the inventory reads. A sync
    # replaces the rows of each (account, snapshot_region) it read, per `read_by`: the read
    # that found the resource (a describe, or the tagging API for the types no describe
    # covers), so that a read that failed keeps its rows as they were.
    db["resources"].create(
        {
            "arn": str,
            "resource_id": str,
            "resource_type": str,  # ec2:instance, rds:db, elasticache:cluster, s3:bucket, ...
            "account_id": str,
            "region": str,  # the resource's region ('global' for global resources)
            "name": str,
            "state": str,  # running, stopped, available, ... (NULL: not reported)
            "launched_at": str,  # ISO 8601 UTC
            "tags": str,  # JSON object as found
            "team": str,  # by the config's tag rules; NULL = untagged
            "size": str,  # instance type, DB instance class, cache node type
            "cpu_daily": str,  # JSON {"YYYY-MM-DD": average CPU %} (EC2, running)
            "idle": int,  # 1: CPU under the configured threshold every day of the window
            "first_seen": str,  # ISO 8601 UTC
            "last_seen": str,
            "snapshot_region": str,  # the region read (ACCOUNT_WIDE for S3 buckets)
            "read_by": str,  # ec2 | rds | elasticache | s3 | tagging
        },
        pk="arn",
        not_null={"resource_type", "account_id", "snapshot_region", "read_by"},
    )
    db["resources"].create_index(["account_id", "snapshot_region", "read_by"])
    db["resources"].create_index(["team"])
    db["resources"].create_index(["resource_type"])


@migrations()
def m006_commitment_dimensions(db: sqlite_utils.Database) -> None:
    # Nullable, no default: rows loaded before this migration say nothing about pricing or
    # commitments (NULL), which the commitment summary tells apart from "on demand".
    for column in COMMITMENT_DIMENSIONS:
        db.execute(f"ALTER TABLE daily_cost ADD COLUMN {column} TEXT")


# What became of an anomaly (anomaly_episodes.status).
EPISODE_STATUSES = ("open", "closed", "expected")


@migrations()
def m007_anomalies(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE daily_cost ADD COLUMN sku TEXT")
    # One row per anomaly event of one series (team x service x account x currency, or a
    # team's roll-up: service and account NULL). A run that finds the series anomalous again
    # continues the open episode instead of alerting twice; the state survives restarts, so a
    # re-run changes nothing.
    db["anomaly_episodes"].create(
        {
            "id": int,
            "series": str,  # SeriesKey.text: JSON [team, service, account, currency]
            "team": str,  # NULL: untagged spend
            "service": str,  # NULL for a team roll-up
            "account_id": str,
            "currency": str,
            "kind": str,  # spike | shift | drift | new
            "start": str,  # the first anomalous day (YYYY-MM-DD)
            "last_day": str,  # the last day the series was still anomalous
            "detected_on": str,  # the run day of the first alert
            "status": str,  # open | closed | expected
            "expected_micros": int,  # per day, the baseline when alerted
            "actual_micros": int,  # per day, the mean over the anomalous days when alerted
            "alerted_excess_micros": int,  # actual - expected at the last alert (follow-ups)
            "alerts": int,  # alerts posted for it: 1, then follow-ups
            "root_cause": str,  # JSON list of {service, account, region, sku, share}
            "channel": str,
            "delivery_key": str,  # the message it was posted in (deliveries.key)
            "acknowledged_by": str,
            "acknowledged_at": str,
            "assigned_to": str,
            "assigned_by": str,
            "expected_by": str,  # who pressed Expected: the new level is normal from `start`
            "expected_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"series", "kind", "start", "status"},
    )
    db["anomaly_episodes"].create_index(["series", "start"], unique=True)
    db["anomaly_episodes"].create_index(["status"])
    # "Mute 7 days": no alert for the series until `until` (inclusive).
    db["anomaly_mutes"].create(
        {"series": str, "until": str, "muted_by": str, "muted_at": str, "episode_id": int},
        pk="series",
    )
    # Who pressed what, for the record (Acknowledge, Expected, Mute, Assign).
    db["anomaly_actions"].create(
        {
            "id": int,
            "episode_id": int,
            "action": str,  # acknowledge | expected | mute | assign
            "user_id": str,
            "detail": str,  # the assignee, the mute's last day
            "at": str,  # ISO 8601 UTC
        },
        pk="id",
    )


@migrations()
def m008_tag_compliance(db: sqlite_utils.Database) -> None:
    # Tagging compliance as computed each day (bot.analytics.tag_compliance), so the trend
    # shows: one row per day and scope (the organisation, each team, each account). A day
    # computed again replaces its rows.
    db["tag_compliance"].create(
        {
            "day": str,  # YYYY-MM-DD
            "kind": str,  # org | team | account
            "value": str,  # 'all' for the organisation, the team ('(untagged)'), the account
            "month": str,  # YYYY-MM whose cost (month to date) was counted
            "resources": int,  # inventory resources
            "compliant_resources": int,
            "exempt_resources": int,  # non-compliant but carrying the exemption tag
            "cost_micros": int,  # resource-level cost, billed resources not in the inventory too
            "compliant_cost_micros": int,
            "exempt_cost_micros": int,
            "unlisted_cost_micros": int,  # cost of billed resources the inventory does not hold
            "missing": str,  # JSON {key: {"resources": n, "cost_micros": m}}, most lacked first
            "required_tags": str,  # JSON list, as configured that day
            "computed_at": str,  # ISO 8601 UTC
        },
        pk=("day", "kind", "value"),
        not_null={"day", "kind", "value"},
    )


# The enforcement ladder's steps (enforcement_audit.step): those of bot/analytics/tag_ladder.py,
# `approve` for an approver's click, `closed` when a resource is compliant again.
ENFORCEMENT_STEPS = (
    "notify",
    "stop",
    "await-approval",
    "terminate",
    "approve",
    "closed",
    "claim",  # tags written from Slack (the Claim modal of /untagged)
    "idle-notify",  # an idle EC2 instance reported to its team
    "idle-stop",  # an idle EC2 instance stopped with the Stop button
)


@migrations()
def m009_tag_enforcement(db: sqlite_utils.Database) -> None:
    # Where each resource missing required tags is on the enforcement ladder, one row per ARN.
    # It survives restarts, so a re-run repeats no notification and skips no step.
    db["tag_enforcement"].create(
        {
            "arn": str,
            "resource_id": str,
            "resource_type": str,
            "account": str,
            "region": str,
            "first_reported_at": str,  # ISO 8601 UTC: the ladder's clock starts here
            "notified_at": str,
            "stopped_at": str,  # stopped by the ladder (never set by a dry step)
            "terminated_at": str,
            "approved_by": str,  # the approver's Slack user id
            "approved_at": str,
            "snapshot_id": str,  # RDS: the final snapshot taken before deleting
            "last_step": str,  # notify | stop | would-stop | await-approval | ... | closed
            "last_step_at": str,
            "updated_at": str,
        },
        pk="arn",
    )
    # Every step, real or dry, and every approval: what was done, why, by whom, approved by whom.
    db["enforcement_audit"].create(
        {
            "id": int,
            "at": str,  # ISO 8601 UTC (the job's clock: `--date` moves it)
            "arn": str,
            "account": str,
            "region": str,
            "resource_type": str,
            "step": str,  # ENFORCEMENT_STEPS
            "dry": int,  # 1: enforcement off, only said ("would stop")
            "outcome": str,  # done | failed | skipped (see writers.record_step)
            "reason": str,
            "approved_by": str,
            "actor": str,  # "costbot" for the scheduled job, else the Slack user id
            "run_date": str,  # YYYY-MM-DD: the job's date
        },
        pk="id",
        not_null={"at", "arn", "step", "dry", "outcome"},
    )
    db["enforcement_audit"].create_index(["arn"])
    db["enforcement_audit"].create_index(["run_date"])


@migrations()
def m010_verified_savings(db: sqlite_utils.Database) -> None:
    # Resources stopped or terminated through Costbot (the enforcement ladder, the idle flow's
    # Stop button), each with the run-rate it saves per month: the champions count these as
    # measured savings. One row per resource, action and day: a repeated click adds nothing.
    db["verified_savings"].create(
        {
            "id": int,
            "at": str,  # ISO 8601 UTC
            "day": str,  # YYYY-MM-DD of `at`
            "arn": str,
            "resource_id": str,
            "resource_type": str,
            "account": str,
            "region": str,
            "team": str,  # the owning team by the tag rules; NULL = untagged
            "action": str,  # idle-stop | enforcement-stop | enforcement-terminate
            "monthly_micros": int,  # run-rate saved per month, in `currency`
            "currency": str,
            "basis": str,  # how the run-rate was measured, in words
            "actor": str,  # the Slack user who pressed Stop, or "costbot" (the ladder)
            "approved_by": str,
        },
        pk="id",
        not_null={"at", "day", "arn", "action", "monthly_micros"},
    )
    db["verified_savings"].create_index(["arn", "action", "day"], unique=True)
    db["verified_savings"].create_index(["day"])


# What became of an idle EC2 instance's notice (jobs/idle.py, handlers/actions/idle.py).
IDLE_NOTICE_STATUSES = (
    "open",  # reported to its team, no decision yet (a reminder after REMIND_AFTER_DAYS)
    "stopped",  # an approver pressed Stop
    "kept",  # someone pressed Keep running: not reported again until kept_until
    "closed",  # no longer idle (busy again, or stopped outside Costbot)
    "gone",  # no longer in the inventory
)


@migrations()
def m012_idle_notices(db: sqlite_utils.Database) -> None:
    # One row per idle EC2 instance ever reported: it survives restarts, so a re-run of the
    # idle job repeats no notice, and a Stop or Keep press finds the notice it answers.
    db["idle_notices"].create(
        {
            "arn": str,
            "resource_id": str,
            "account": str,
            "region": str,
            "team": str,  # the owning team when reported (NULL: none, sent to notify_channel)
            "status": str,  # IDLE_NOTICE_STATUSES
            "idle_since": str,  # YYYY-MM-DD: the first day of the idle window when first seen
            "first_notified_at": str,  # ISO 8601 UTC (the job's clock)
            "last_notified_at": str,  # the latest notice or reminder
            "reminders": int,  # reminders sent since first_notified_at
            "notified_channel": str,
            "delivery_key": str,  # idle:<channel>:<date> of the latest notice
            "message_ts": str,
            "stopped_at": str,
            "stopped_by": str,  # Slack user id of the approver
            "kept_at": str,
            "kept_by": str,  # Slack user id
            "kept_until": str,  # ISO 8601 UTC
            "closed_at": str,
            "updated_at": str,
        },
        pk="arn",
        not_null={"arn", "status"},
    )
    db["idle_notices"].create_index(["status"])


@migrations()
def m013_tag_policy_notices(db: sqlite_utils.Database) -> None:
    # Which message told each ladder step (an enforcement_audit row): a step is recorded first,
    # then posted, so a step whose message never reached Slack (no row here, or its delivery
    # failed) is told by the next run, and a step told once is never told again.
    db["tag_policy_notices"].create(
        {
            "audit_id": int,  # enforcement_audit.id
            "arn": str,
            "channel": str,
            "delivery_key": str,  # deliveries.key of the message that told it
            "at": str,  # ISO 8601 UTC, the job's clock
        },
        pk="audit_id",
        not_null={"arn", "channel", "delivery_key"},
    )
    db["tag_policy_notices"].create_index(["delivery_key"])


# The organisation's scope as business_metrics stores it (m014): the empty string, which no team
# name can be (a team name starts with a letter or digit), so a team is never mistaken for it.
ORGANISATION_METRIC_SCOPE = ""


def exact_decimal_text(value: object) -> str:
    """A metric value as business_metrics stores it: the exact decimal, in plain notation
    (`0.1`, `1500`, never `1E+3` or a float's `0.30000000000000004`)."""
    if isinstance(value, Decimal):
        number = value
    else:
        number = Decimal(repr(value) if isinstance(value, float) else str(value))
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@migrations()
def m014_exact_business_metrics(db: sqlite_utils.Database) -> None:
    # Metric values were REAL: `0.1 + 0.2` summed to 0.30000000000000004 and a large count lost
    # its last digits. They are now the exact decimal text as loaded (read as Decimal). The
    # organisation, spelt "all" by the first ingest (which made a team called "all"
    # indistinguishable from it), is now the empty string. A float read back with repr() is the
    # shortest text that gives the same float: the value as it was written in the CSV.
    old = [
        (day, metric, ORGANISATION_METRIC_SCOPE if scope == "all" else scope, value, ingest_id)
        for day, metric, scope, value, ingest_id in db.execute(
            "SELECT date, metric, scope, value, ingest_id FROM business_metrics"
        ).fetchall()
    ]
    db["business_metrics"].drop()
    db["business_metrics"].create(
        {"date": str, "metric": str, "scope": str, "value": str, "ingest_id": int},
        pk=("date", "metric", "scope"),
        not_null={"date", "metric", "scope", "value"},
    )
    db.conn.executemany(
        "INSERT INTO business_metrics (date, metric, scope, value, ingest_id)"
        " VALUES (?, ?, ?, ?, ?)",
        [(d, m, s, exact_decimal_text(v), i) for d, m, s, v, i in old],
    )
    # /unitcost reads one metric and scope over a range of days.
    db["business_metrics"].create_index(["metric", "scope", "date"])


@migrations()
def m015_scheduled_delivery(db: sqlite_utils.Database) -> None:
    # Exactly-once delivery (bot/slack/delivery.py). `owner`: the process that claimed a pending
    # delivery (host:pid), so that a restart on the same host takes over at once from a process
    # that died instead of waiting out STALE_PENDING. `channel_id`: the id Slack answered for
    # the channel, which conversations.history needs. `uncertain`: 1 when the post's outcome is
    # unknown (the connection broke after sending): before posting again, the channel's history
    # is searched for a message whose metadata names the key. `job`, `period`: what a scheduled
    # delivery was for (weekly-digest, 2026-10-19), for App Home's "latest digest".
    for column, kind in (
        ("owner", str),
        ("channel_id", str),
        ("uncertain", int),
        ("job", str),
        ("period", str),
    ):
        db["deliveries"].add_column(column, kind)
    db["deliveries"].create_index(["job", "period"])
    # The ids Slack answered for channel names (#team-payments -> C0123), learnt from posts.
    db["slack_channels"].create({"name": str, "id": str, "seen_at": str}, pk="name")
    # One row per scheduled run of a job (bot/scheduler.py): its slot is the time it was due,
    # in UTC. Claimed by one scheduler at a time (`owner`, `status` running), so two schedulers
    # on one database run each slot once; failed runs are tried again up to max_attempts; at
    # start, due slots with no row are caught up within the grace window.
    db["job_runs"].create(
        {
            "job": str,
            "slot": str,  # ISO 8601 UTC: when the run was due
            "scope": str,  # "" or a team (weekly digests run per team, in its time zone)
            "status": str,  # running | done | failed | skipped
            "attempts": int,
            "owner": str,
            "started_at": str,
            "finished_at": str,
            "next_attempt_at": str,
            "error": str,
            "summary": str,  # what the run delivered, one line
        },
        pk=("job", "slot", "scope"),
        not_null={"job", "slot", "scope", "status"},
    )
    db["job_runs"].create_index(["status", "next_attempt_at"])


@migrations()
def m016_wins(db: sqlite_utils.Database) -> None:
    # Cost-champion wins (the leaderboard, /kudos, /champions). One row per win, whatever its
    # source; `dedupe_key` merges duplicates (the same kudos twice, a stop seen on each run).
    db["wins"].create(
        {
            "id": int,
            "month": str,  # YYYY-MM the win counts for
            "source": str,  # unit_cost | stop | idle_stop | anomaly | kudos
            "status": str,  # measured | reported | confirmed | declined
            "team": str,  # canonical team name; NULL when only a person is credited
            "person": str,  # Slack user id credited; NULL for a team's measured win
            "what": str,  # what was done, as told or as measured
            "monthly_savings_micros": int,  # NULL: no amount claimed
            "currency": str,
            "dedupe_key": str,
            "reported_by": str,  # kudos: who gave it
            "reported_at": str,
            "confirmed_by": str,
            "confirmed_at": str,
            "mentions": int,  # how many reports were merged into this one
            "channel": str,  # where a kudos was given (its confirm button)
            "message_ts": str,
            "detail": str,  # JSON: what a measured win was computed from
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"month", "source", "status", "dedupe_key"},
    )
    db["wins"].create_index(["dedupe_key"], unique=True)
    db["wins"].create_index(["month", "team"])
    db["wins"].create_index(["month", "person"])
    # Who reported a kudos win (duplicates merged: each reporter once).
    db["win_reporters"].create({"win_id": int, "user_id": str, "at": str}, pk=("win_id", "user_id"))


@migrations()
def m017_resource_cost_currency(db: sqlite_utils.Database) -> None:
    # The billing currency of each resource-month row (FOCUS BillingCurrency), so that
    # resource-level figures never add one currency to another. Rows loaded before this
    # migration keep NULL, read as the config currency (what every figure took them as until
    # now): re-loading their billing period fills it.
    db.execute("ALTER TABLE resource_cost ADD COLUMN currency TEXT")
