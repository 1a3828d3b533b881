"""costbot.yml: loaded and validated once at start; every default is documented here and in
costbot.example.yml. A bad file stops the program with one line naming the field."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
import yaml

from bot.money import to_micros

DEFAULT_CONFIG_PATH = "costbot.yml"
DEFAULT_TAG_KEYS = ("Team",)
# Cost metric names users write, and the FOCUS column each one reads.
COST_METRICS = {
    "amortized": "effective",
    "effective": "effective",
    "billed": "billed",
    "unblended": "billed",
    "list": "list",
}
ALLOCATION_METHODS = ("proportional", "even", "usage")
# Glue database and table names (lower case in the catalog; hyphens need the quoting the
# Athena source always applies).
ATHENA_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,254}$"
# A business metric's name: what /unitcost takes, so one word (stored lower-cased).
METRIC_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# Who sees an answer to a slash command, and the Slack response_type that means.
ANSWER_VISIBILITY = {"private": "ephemeral", "channel": "in_channel"}

# `unit_metrics:` (unit economics): names users type after `/unitcost`, what a definition's
# cost side may name, how its figure is shown, and the reference ranges it can be set against.
UNIT_METRIC_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
UNIT_COST_SIDES = ("team", "product", "service")
UNIT_METRIC_KINDS = ("unit_cost", "percent")
UNIT_REFERENCES = ("api", "ecommerce", "streaming", "saas")

# The jobs the scheduler runs, in the order a day runs them; each may have a cron and time zone
# in `schedule.jobs` (anomalies runs after every sync, and has no cron of its own).
SCHEDULED_JOBS = (
    "sync",
    "tag-policy",
    "idle",
    "weekly-digest",
    "monthly-report",
    "quarterly-report",
    "champions",
)
# When each runs unless `schedule.jobs` says otherwise (cron: minute hour day month weekday).
# weekly-digest runs in each team's own time zone (teams[].timezone, teams[].digest_cron).
DEFAULT_CRONS = {
    "sync": "0 6 * * *",
    "tag-policy": "0 9 * * *",
    "idle": "0 9 * * *",
    "weekly-digest": "0 9 * * mon",
    "monthly-report": "0 9 1 * *",
    "quarterly-report": "0 9 1 1,4,7,10 *",
    "champions": "0 10 1 * *",
}


class ConfigError(ValueError):
    """The config file cannot be used; the message names the file and the field."""


_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "timezone": {"type": "string"},
        "tag_keys": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
        "cost_metric": {"enum": sorted(COST_METRICS)},
        "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$"},
        "teams": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.\- ]*$"},
                    "channel": {"type": "string"},
                    "aliases": {"type": "array", "items": {"type": "string", "minLength": 1}},
                    "monthly_budget": {"type": ["number", "string"]},
                    "timezone": {"type": "string"},
                    "members": {"type": "array", "items": {"type": "string"}},
                    # The team lead(s): who the monthly report is for, and who may confirm
                    # the team's reported wins. Slack user ids.
                    "leads": {"type": "array", "items": {"type": "string", "pattern": "^[UW]"}},
                    # Where the monthly report goes (default: the team's channel).
                    "leads_channel": {"type": "string", "minLength": 1},
                    # When the team's weekly digest goes out, in the team's time zone.
                    "digest_cron": {"type": "string", "minLength": 1},
                },
            },
        },
        "slack": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "answer_visibility": {"enum": list(ANSWER_VISIBILITY)},
                # Where Costbot reports its own delivery problems (a channel it cannot post to).
                "admin_channel": {"type": "string", "minLength": 1},
            },
        },
        "schedule": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "timezone": {"type": "string"},
                # A due run missed while Costbot was down is caught up when it starts within
                # this many hours of its time; older ones are skipped (and logged).
                "grace_hours": {"type": "number", "minimum": 0, "maximum": 168},
                # A failed run is tried again after this many minutes, up to max_attempts.
                "retry_minutes": {"type": "number", "minimum": 1, "maximum": 1440},
                "max_attempts": {"type": "integer", "minimum": 1, "maximum": 20},
                "jobs": {
                    "type": "object",
                    "propertyNames": {"enum": list(SCHEDULED_JOBS)},
                    "additionalProperties": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "cron": {"type": "string", "minLength": 1},
                            "timezone": {"type": "string"},
                            "enabled": {"type": "boolean"},
                        },
                    },
                },
            },
        },
        "reports": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                # The monthly organisation summary (FinOps) and the quarterly report (CTO, CFO).
                "finops_channel": {"type": "string", "minLength": 1},
                "quarterly_channel": {"type": "string", "minLength": 1},
                # The business metric that is revenue, for spend against revenue.
                "revenue_metric": {"type": "string", "pattern": METRIC_NAME_PATTERN},
                "savings_plans_target": {
                    "type": "array",
                    "items": {"type": "number", "minimum": 0, "maximum": 1},
                    "minItems": 2,
                    "maxItems": 2,
                },
                "spot_target": {
                    "type": "array",
                    "items": {"type": "number", "minimum": 0, "maximum": 1},
                    "minItems": 2,
                    "maxItems": 2,
                },
            },
        },
        "champions": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "channel": {"type": "string", "minLength": 1},
                # What an engineer costs a year, for "about 4 engineers".
                "engineer_cost_per_year": {"type": ["number", "string"]},
                # Points per unit: annualised verified savings (per dollar), tagging compliance
                # improvement (per percentage point), kudos received (each).
                "weights": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "savings": {"type": "number", "minimum": 0},
                        "compliance_point": {"type": "number", "minimum": 0},
                        "kudos": {"type": "number", "minimum": 0},
                    },
                },
                # An anomaly resolved within this many days of its start is a win.
                "quick_resolution_days": {"type": "integer", "minimum": 1, "maximum": 60},
                # Slack user ids (or user group ids) who may confirm any reported win, besides
                # the team's leads and the tag-policy approvers.
                "confirmers": {
                    "type": "array",
                    "items": {"type": "string", "pattern": "^[UWS][A-Z0-9]+$"},
                },
            },
        },
        "aws": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "regions": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "accounts": {
                    "type": "array",
                    "items": {"type": ["string", "integer"], "pattern": "^[0-9]{12}$"},
                },
                "assume_role": {"type": "string", "minLength": 1},
                "restate_days": {"type": "integer", "minimum": 1, "maximum": 60},
                "bill_final_day": {"type": "integer", "minimum": 1, "maximum": 28},
                "backfill_months": {"type": "integer", "minimum": 1, "maximum": 38},
                "idle_cpu_percent": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
                "idle_days": {"type": "integer", "minimum": 1, "maximum": 15},
                "athena": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["database", "table", "output"],
                    "properties": {
                        # Names go into the query: only what Glue and Athena allow.
                        "database": {"type": "string", "pattern": ATHENA_NAME_PATTERN},
                        "table": {"type": "string", "pattern": ATHENA_NAME_PATTERN},
                        "workgroup": {"type": "string", "pattern": r"^[A-Za-z0-9._-]{1,128}$"},
                        "output": {"type": "string", "pattern": "^s3://"},
                        "format": {"enum": ["cur2", "focus"]},
                        "region": {"type": "string", "minLength": 1},
                        "timeout_seconds": {"type": "integer", "minimum": 10, "maximum": 86400},
                    },
                },
            },
        },
        "anomalies": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "channel": {"type": "string", "minLength": 1},
                "min_score": {"type": "number", "exclusiveMinimum": 0},
                "min_increase_percent": {"type": "number", "minimum": 0},
                "min_increase_per_day": {"type": ["number", "string"]},
                "team_floor_share": {"type": "number", "minimum": 0, "maximum": 1},
                "noise_floor": {"type": "number", "exclusiveMinimum": 0, "maximum": 2},
                "baseline_days": {"type": "integer", "minimum": 14, "maximum": 365},
                "shift_days": {"type": "integer", "minimum": 1, "maximum": 30},
                "follow_up_growth": {"type": "number", "minimum": 1},
                "mute_days": {"type": "integer", "minimum": 1, "maximum": 90},
            },
        },
        "tag_policy": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "required_tags": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1},
                    "minItems": 1,
                },
                "target": {"type": "number", "minimum": 0, "maximum": 1},
                "enforce": {"type": "boolean"},
                "notify_channel": {"type": "string", "minLength": 1},
                "stop_after_hours": {"type": "integer", "minimum": 1, "maximum": 8760},
                "terminate_after_days": {"type": "integer", "minimum": 1, "maximum": 365},
                "exempt_tag": {"type": "string", "minLength": 1},
                "protected_environments": {"type": "array", "items": {"type": "string"}},
                "approvers": {
                    "type": "array",
                    "items": {"type": "string", "pattern": "^[UWS][A-Z0-9]+$"},
                },
                "auto_terminate": {"type": "boolean"},
            },
        },
        "shared_costs": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "teams": {"type": "array", "items": {"type": "string"}},
                "services": {"type": "array", "items": {"type": "string"}},
                "accounts": {"type": "array", "items": {"type": ["string", "integer"]}},
                "allocation": {"enum": list(ALLOCATION_METHODS)},
                "usage_metric": {"type": "string"},
                "untagged": {"enum": ["row", "allocate"]},
            },
        },
        "metrics": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "prometheus": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["url", "queries"],
                    "properties": {
                        "url": {"type": "string", "pattern": "^https?://[^/?#]+"},
                        "queries": {
                            "type": "object",
                            "minProperties": 1,
                            "propertyNames": {"pattern": METRIC_NAME_PATTERN},
                            "additionalProperties": {
                                "oneOf": [
                                    {"type": "string", "minLength": 1},
                                    {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "required": ["query"],
                                        "properties": {
                                            "query": {"type": "string", "minLength": 1},
                                            "scope": {"type": "string"},
                                        },
                                    },
                                ]
                            },
                        },
                        "headers": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        },
                        "bearer_token_env": {
                            "type": "string",
                            "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                        },
                        "timeout_seconds": {"type": "number", "minimum": 1, "maximum": 600},
                        "backfill_days": {"type": "integer", "minimum": 1, "maximum": 3650},
                    },
                },
            },
        },
        "unit_metrics": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "per"],
                "properties": {
                    "name": {"type": "string", "pattern": UNIT_METRIC_NAME_PATTERN},
                    # `all`, or one of {team: X}, {product: X}, {service: X}: string keywords
                    # apply to the string, object ones to the object, so that a mistake gets
                    # a message naming it rather than "not valid under any schema".
                    "cost": {
                        "type": ["string", "object"],
                        "pattern": "^all$",
                        "additionalProperties": False,
                        "minProperties": 1,
                        "maxProperties": 1,
                        "properties": {
                            kind: {"type": "string", "minLength": 1} for kind in UNIT_COST_SIDES
                        },
                    },
                    "per": {"type": "string", "minLength": 1},
                    "scope": {"type": "string", "minLength": 1},
                    "unit": {"type": "string", "minLength": 1},
                    "label": {"type": "string", "minLength": 1},
                    "as": {"enum": list(UNIT_METRIC_KINDS)},
                    "reference": {"enum": list(UNIT_REFERENCES)},
                },
            },
        },
    },
}


@dataclass(frozen=True)
class Team:
    name: str
    channel: str | None = None
    aliases: tuple[str, ...] = ()
    monthly_budget_micros: int | None = None
    timezone: str = "UTC"
    members: tuple[str, ...] = ()
    leads: tuple[str, ...] = ()  # Slack user ids of the team lead(s)
    leads_channel: str | None = None  # the monthly report's channel; default: `channel`
    digest_cron: str | None = None  # default: schedule.jobs.weekly-digest.cron


@dataclass(frozen=True)
class SharedCosts:
    teams: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    allocation: str = "proportional"
    usage_metric: str | None = None
    # Chargeback: untagged cost on its own row, or allocated to the teams like the pool.
    untagged: str = "row"


@dataclass(frozen=True)
class SlackSettings:
    # private: the asker alone sees an answer, with a "Share in channel" button (cost can be
    # sensitive); channel: everyone in the channel sees it.
    answer_visibility: str = "private"
    # Costbot's own problems (a channel it cannot post to) are reported here, once each.
    admin_channel: str = "#finops"

    @property
    def answer_response_type(self) -> str:
        return ANSWER_VISIBILITY[self.answer_visibility]


@dataclass(frozen=True)
class AthenaSettings:
    database: str
    table: str
    output: str  # s3:// location for query results
    workgroup: str = "primary"
    format: str | None = None  # cur2 | focus; detected from the table's columns when None
    region: str | None = None
    timeout_seconds: int = 1800  # a query still running after this is stopped: the sync fails


@dataclass(frozen=True)
class AwsSettings:
    regions: tuple[str, ...] = ()  # inventory regions; empty: the session's region
    accounts: tuple[str, ...] = ()  # member accounts for the inventory; empty: the caller's
    assume_role: str | None = None  # role name assumed in each member account
    restate_days: int = 3  # the last days Cost Explorer may still change: re-read every sync
    bill_final_day: int = 5  # the previous month is re-read until this day of the month
    backfill_months: int = 13  # the first sync reads this many months, the current included
    idle_cpu_percent: float = 5.0  # an EC2 instance under this CPU ...
    idle_days: int = 7  # ... every day for this many days is idle
    athena: AthenaSettings | None = None


@dataclass(frozen=True)
class AnomalySettings:
    """`anomalies:` in costbot.yml: where alerts go and when a day is worth one. An alert needs
    all three: the statistical score, the increase per day in money, and in percent."""

    # Untagged spend, and teams without a channel of their own, are alerted here.
    channel: str = "#finops"
    min_score: float = 5.0  # robust z-score of the day's log cost against its baseline
    min_increase_percent: float = 20.0  # actual over expected, in percent
    min_increase_per_day_micros: int = 25_000_000  # $25.00 a day, in the config currency
    team_floor_share: float = 0.02  # ... and at least this share of the team's daily spend
    noise_floor: float = 0.05  # the smallest noise scale on log cost (about 5%)
    baseline_days: int = 56  # the days the expected level is learnt from
    shift_days: int = 5  # a raised level that lasts this many days is the new normal
    follow_up_growth: float = 2.0  # an episode is alerted again when its excess grows this much
    mute_days: int = 7  # what "Mute" mutes a series for


@dataclass(frozen=True)
class TagPolicySettings:
    """`tag_policy:` in costbot.yml: which tags every resource must carry, and the enforcement
    ladder for those that do not (report, then stop, then terminate), with defaults that never
    surprise: nothing is stopped or terminated until `enforce: true`."""

    required_tags: tuple[str, ...] = ("Team", "Product", "Environment", "CostCenter")
    target: float = 0.98  # the share of cost (and of resources) that should be compliant
    enforce: bool = False  # False: every step is reported as "would stop" / "would terminate"
    notify_channel: str = "#finops"  # where resources with no likely owner are reported
    stop_after_hours: int = 48  # after the first report
    terminate_after_days: int = 7  # after the first report
    exempt_tag: str = "costbot:exempt"  # a resource carrying it is never stopped or terminated
    protected_environments: tuple[str, ...] = ("prod", "production")
    approvers: tuple[str, ...] = ()  # Slack user ids (U...) or user group ids (S...)
    auto_terminate: bool = False  # True: no approval click needed to terminate


@dataclass(frozen=True)
class PrometheusQuery:
    metric: str  # the business metric it fills (lower-cased)
    query: str  # PromQL whose value at a day's end is that day's figure: increase(...[1d])
    scope: str | None = None  # a team (canonical name); None: the whole organisation


@dataclass(frozen=True)
class PrometheusSettings:
    """`metrics.prometheus:` in costbot.yml: a PromQL query per business metric, read a day at
    a time through the HTTP API's query_range (`costbot sync prometheus`, the daily sync)."""

    url: str  # the server's base URL, any path prefix included (http://prometheus:9090)
    queries: tuple[PrometheusQuery, ...]
    headers: tuple[tuple[str, str], ...] = ()  # sent with every request (X-Scope-OrgID, ...)
    bearer_token_env: str | None = None  # the environment variable holding a bearer token
    timeout_seconds: float = 30.0
    backfill_days: int = 30  # a metric never read before is read from this many days back


@dataclass(frozen=True)
class MetricsSettings:
    prometheus: PrometheusSettings | None = None


@dataclass(frozen=True)
class UnitMetricSetting:
    """One entry of `unit_metrics:`: `cost` of `cost_kind` (all | team | product | service)
    divided by the business metric `per` (its `scope`, None for the whole organisation).
    `as_percent`: the metric is money (revenue) and the figure is cost as a % of it."""

    name: str
    per: str
    cost_kind: str = "all"
    cost_value: str | None = None
    scope: str | None = None
    unit: str | None = None  # words for one unit ("API request"); default: the metric's name
    label: str | None = None  # a title; default "Cost per <unit>"
    as_percent: bool = False
    reference: str | None = None  # api | ecommerce | streaming | saas; default: from the name


@dataclass(frozen=True)
class JobSchedule:
    cron: str
    timezone: str | None = None  # None: the schedule's time zone (weekly-digest: each team's)
    enabled: bool = True


@dataclass(frozen=True)
class ScheduleSettings:
    """`schedule:` in costbot.yml: when each job runs (jobs/scheduler.py)."""

    timezone: str = "UTC"
    grace_hours: float = 6.0  # a missed run is caught up at start within this many hours
    retry_minutes: float = 30.0  # a failed run is tried again after this long ...
    max_attempts: int = 3  # ... this many times in all
    jobs: dict[str, JobSchedule] = field(
        default_factory=lambda: {job: JobSchedule(cron) for job, cron in DEFAULT_CRONS.items()}
    )


@dataclass(frozen=True)
class ReportSettings:
    """`reports:` in costbot.yml: where the monthly summary and the quarterly report go, and
    the targets they are measured against."""

    finops_channel: str = "#finops"
    quarterly_channel: str = "#finops"
    revenue_metric: str | None = None  # default: a business metric named `revenue`, if any
    savings_plans_target: tuple[float, float] = (0.70, 0.80)
    spot_target: tuple[float, float] = (0.30, 0.50)


@dataclass(frozen=True)
class ChampionWeights:
    savings: float = 1.0  # points per dollar of verified savings a year
    compliance_point: float = 500.0  # per percentage point of tagging compliance gained
    kudos: float = 250.0  # per kudos received (a confirmed win with savings counts as savings)


@dataclass(frozen=True)
class ChampionSettings:
    """`champions:` in costbot.yml: the monthly leaderboard and its celebration."""

    channel: str = "#finops"
    engineer_cost_per_year_micros: int = 187_500_000_000  # $187,500: $750,000 is 4 engineers
    weights: ChampionWeights = field(default_factory=ChampionWeights)
    quick_resolution_days: int = 3
    confirmers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    teams: tuple[Team, ...] = ()
    tag_keys: tuple[str, ...] = DEFAULT_TAG_KEYS
    cost_metric: str = "effective"  # a store column: effective | billed | list
    currency: str = "USD"  # ISO code that team budgets are in; only costs billed in it count
    timezone: str = "UTC"
    shared: SharedCosts = field(default_factory=SharedCosts)
    slack: SlackSettings = field(default_factory=SlackSettings)
    aws: AwsSettings = field(default_factory=AwsSettings)
    anomalies: AnomalySettings = field(default_factory=AnomalySettings)
    tag_policy: TagPolicySettings = field(default_factory=TagPolicySettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    source: str = "defaults"
    unit_metrics: tuple[UnitMetricSetting, ...] = ()
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    reports: ReportSettings = field(default_factory=ReportSettings)
    champions: ChampionSettings = field(default_factory=ChampionSettings)

    def team_channel(self, name: str | None) -> str | None:
        """The team's own channel; None for no team, or a team without one."""
        configured = self.team(name) if name else None
        return configured.channel if configured and configured.channel else None

    def team(self, name: str) -> Team | None:
        canonical = self.canonical_team(name)
        return next((t for t in self.teams if t.name == canonical), None)

    def canonical_team(self, tag_value: str | None) -> str | None:
        """The team a tag value names: case-insensitive, aliases mapped, unknown values kept
        (lower-cased) so that teams not yet in the config still show up."""
        if tag_value is None:
            return None
        key = normalise_name(tag_value)
        if not key:
            return None
        return self._alias_map.get(key, key)

    @cached_property
    def _alias_map(self) -> dict[str, str]:
        mapping: dict[str, str] = {}
        for team in self.teams:
            mapping[normalise_name(team.name)] = team.name
            for alias in team.aliases:
                mapping[normalise_name(alias)] = team.name
        return mapping

    def team_for_channel(self, channel: str | None, channel_name: str | None = None) -> Team | None:
        for team in self.teams:
            if not team.channel:
                continue
            wanted = team.channel.lstrip("#").lower()
            if channel and wanted == channel.lower():
                return team
            if channel_name and wanted == channel_name.lstrip("#").lower():
                return team
        return None

    def teams_of_user(self, user_id: str | None) -> list[Team]:
        return [t for t in self.teams if user_id and (user_id in t.members or user_id in t.leads)]

    def leads_channel(self, name: str) -> str | None:
        """Where a team's monthly report goes: its leads' channel, else its own."""
        team = self.team(name)
        return (team.leads_channel or team.channel) if team else None


def normalise_name(value: str) -> str:
    return re.sub(r"\s+", " ", value.strip()).lower()


def _amount_micros(raw: Any, where: str, name: str = "monthly_budget") -> int | None:
    if raw is None:
        return None
    try:
        amount = Decimal(str(raw).replace(",", "").replace("$", ""))
    except InvalidOperation:
        raise ConfigError(f"{where}: {name} {raw!r} is not an amount") from None
    if amount < 0:
        raise ConfigError(f"{where}: {name} must not be negative")
    return to_micros(amount)


def _check_timezone(name: str, where: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: unknown time zone {name!r} (use an IANA name)") from None
    return name


def parse_config(data: Any, source: str = "costbot.yml") -> Config:
    if data is None:
        data = {}
    validator = jsonschema.Draft7Validator(_SCHEMA)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        path = ".".join(str(p) for p in first.absolute_path) or "(top level)"
        raise ConfigError(f"{source}: {path}: {first.message}")

    default_tz = _check_timezone(data.get("timezone", "UTC"), f"{source}: timezone")
    teams: list[Team] = []
    seen: dict[str, str] = {}
    for index, raw in enumerate(data.get("teams", [])):
        where = f"{source}: teams.{index} ({raw['name']})"
        team = Team(
            name=normalise_name(raw["name"]),
            channel=raw.get("channel"),
            aliases=tuple(raw.get("aliases", [])),
            monthly_budget_micros=_amount_micros(raw.get("monthly_budget"), where),
            timezone=_check_timezone(raw.get("timezone", default_tz), where),
            members=tuple(raw.get("members", [])),
            leads=tuple(raw.get("leads", [])),
            leads_channel=raw.get("leads_channel"),
            digest_cron=_check_cron(raw["digest_cron"], where) if "digest_cron" in raw else None,
        )
        for label in (team.name, *team.aliases):
            key = normalise_name(label)
            if key in seen and seen[key] != team.name:
                raise ConfigError(f"{where}: {label!r} already names team {seen[key]!r}")
            seen[key] = team.name
        teams.append(team)

    shared_raw = data.get("shared_costs", {})
    shared = SharedCosts(
        teams=tuple(normalise_name(t) for t in shared_raw.get("teams", [])),
        services=tuple(shared_raw.get("services", [])),
        accounts=tuple(str(a) for a in shared_raw.get("accounts", [])),
        allocation=shared_raw.get("allocation", "proportional"),
        usage_metric=shared_raw.get("usage_metric"),
        untagged=shared_raw.get("untagged", "row"),
    )
    if shared.allocation == "usage" and not shared.usage_metric:
        raise ConfigError(f"{source}: shared_costs.usage_metric is required for usage allocation")

    return Config(
        teams=tuple(teams),
        tag_keys=tuple(data.get("tag_keys", DEFAULT_TAG_KEYS)),
        cost_metric=COST_METRICS[data.get("cost_metric", "amortized")],
        currency=data.get("currency", "USD").upper(),
        timezone=default_tz,
        shared=shared,
        slack=SlackSettings(**data.get("slack", {})),
        aws=_aws_settings(data.get("aws", {})),
        anomalies=_anomaly_settings(data.get("anomalies", {}), source),
        tag_policy=_tag_policy(data.get("tag_policy", {})),
        metrics=_metrics_settings(data.get("metrics", {}), teams, source),
        source=source,
        unit_metrics=_unit_metrics(data.get("unit_metrics", []), teams, source),
        schedule=_schedule_settings(data.get("schedule", {}), default_tz, source),
        reports=_report_settings(data.get("reports", {})),
        champions=_champion_settings(data.get("champions", {}), source),
    )


def _check_cron(expression: str, where: str) -> str:
    """A five-field cron expression APScheduler accepts; else one line naming it."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(crontab_for_apscheduler(expression))
    except ValueError as error:
        raise ConfigError(f"{where}: cron {expression!r} is not valid: {error}") from None
    return expression


# Standard cron numbers its weekdays from Sunday (0, and 7 too); APScheduler 3 from Monday.
CRONTAB_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def crontab_for_apscheduler(expression: str) -> str:
    """A standard crontab line as APScheduler 3's `CronTrigger.from_crontab` reads it: each
    weekday number as its name, so that `0 9 * * 1` is Monday as in crontab(5) (APScheduler 3
    counts from Monday = 0, its documented "historical mistake"); `1-5` -> mon..fri, `*/2` ->
    sun,tue,thu,sat. A line without five fields is left for from_crontab to refuse."""
    fields = expression.split()
    if len(fields) != 5:
        return expression
    return " ".join((*fields[:4], _weekday_names(fields[4])))


def _weekday_names(field: str) -> str:
    if field == "*" or not any(ch.isdigit() for ch in field):
        return field
    days: set[int] = set()
    for item in field.split(","):
        span, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"weekday step {step} is not positive")
        if span == "*":
            first, last = 0, 6
        else:
            start, _, end = span.partition("-")
            first = _weekday_number(start)
            last = _weekday_number(end) if end else (6 if step_text else first)
        days.update(number % 7 for number in range(first, last + 1, step))
    return ",".join(CRONTAB_WEEKDAYS[number] for number in sorted(days))


def _weekday_number(text: str) -> int:
    if text.isdigit():
        if not 0 <= int(text) <= 7:
            raise ValueError(f"weekday {text} is not in 0-7")
        return int(text)
    if text.lower()[:3] not in CRONTAB_WEEKDAYS:
        raise ValueError(f"{text!r} is not a weekday")
    return CRONTAB_WEEKDAYS.index(text.lower()[:3])


def _schedule_settings(raw: dict[str, Any], default_tz: str, source: str) -> ScheduleSettings:
    timezone = _check_timezone(raw.get("timezone", default_tz), f"{source}: schedule.timezone")
    jobs = {job: JobSchedule(cron) for job, cron in DEFAULT_CRONS.items()}
    for job, spec in raw.get("jobs", {}).items():
        where = f"{source}: schedule.jobs.{job}"
        jobs[job] = JobSchedule(
            cron=_check_cron(spec.get("cron", DEFAULT_CRONS[job]), where),
            timezone=_check_timezone(spec["timezone"], where) if "timezone" in spec else None,
            enabled=spec.get("enabled", True),
        )
    settings = {k: v for k, v in raw.items() if k not in ("jobs", "timezone")}
    return ScheduleSettings(timezone=timezone, jobs=jobs, **settings)


def _report_settings(raw: dict[str, Any]) -> ReportSettings:
    settings = dict(raw)
    for key in ("savings_plans_target", "spot_target"):
        if key in settings:
            settings[key] = tuple(sorted(settings[key]))
    if "revenue_metric" in settings:
        settings["revenue_metric"] = settings["revenue_metric"].lower()
    return ReportSettings(**settings)


def _champion_settings(raw: dict[str, Any], source: str) -> ChampionSettings:
    settings = {k: v for k, v in raw.items() if k not in ("engineer_cost_per_year", "weights")}
    if "confirmers" in settings:
        settings["confirmers"] = tuple(settings["confirmers"])
    if "engineer_cost_per_year" in raw:
        cost = _amount_micros(
            raw["engineer_cost_per_year"], f"{source}: champions", "engineer_cost_per_year"
        )
        if not cost:
            raise ConfigError(f"{source}: champions: engineer_cost_per_year must be above 0")
        settings["engineer_cost_per_year_micros"] = cost
    return ChampionSettings(**settings, weights=ChampionWeights(**raw.get("weights", {})))


def _aws_settings(raw: dict[str, Any]) -> AwsSettings:
    athena = raw.get("athena")
    settings = {key: value for key, value in raw.items() if key != "athena"}
    settings["regions"] = tuple(raw.get("regions", ()))
    # YAML reads 012345678901 as a number: account ids are 12-digit strings.
    settings["accounts"] = tuple(str(a).zfill(12) for a in raw.get("accounts", ()))
    return AwsSettings(**settings, athena=AthenaSettings(**athena) if athena else None)


def _anomaly_settings(raw: dict[str, Any], source: str) -> AnomalySettings:
    settings = {key: value for key, value in raw.items() if key != "min_increase_per_day"}
    if "min_increase_per_day" in raw:
        floor = _amount_micros(
            raw["min_increase_per_day"], f"{source}: anomalies", "min_increase_per_day"
        )
        settings["min_increase_per_day_micros"] = floor
    return AnomalySettings(**settings)


def _tag_policy(raw: dict[str, Any]) -> TagPolicySettings:
    settings = dict(raw)
    for key in ("required_tags", "protected_environments", "approvers"):
        if key in settings:
            settings[key] = tuple(settings[key])
    return TagPolicySettings(**settings)


def _metrics_settings(raw: dict[str, Any], teams: list[Team], source: str) -> MetricsSettings:
    prometheus = raw.get("prometheus")
    if prometheus is None:
        return MetricsSettings()
    # A scope is canonicalised like a team tag value: case, spaces and aliases.
    names = {normalise_name(label): t.name for t in teams for label in (t.name, *t.aliases)}
    queries: dict[tuple[str, str | None], PrometheusQuery] = {}
    for metric, spec in prometheus["queries"].items():
        spec = {"query": spec} if isinstance(spec, str) else spec
        scope = normalise_name(spec.get("scope") or "") or None
        query = PrometheusQuery(metric.lower(), spec["query"], names.get(scope, scope))
        if (query.metric, query.scope) in queries:
            raise ConfigError(
                f"{source}: metrics.prometheus.queries.{metric}: a second query for"
                f" {query.metric} ({query.scope or 'the organisation'})"
            )
        queries[query.metric, query.scope] = query
    settings = {k: v for k, v in prometheus.items() if k not in ("url", "queries", "headers")}
    return MetricsSettings(
        PrometheusSettings(
            **settings,
            url=prometheus["url"].rstrip("/"),
            queries=tuple(queries.values()),
            headers=tuple(prometheus.get("headers", {}).items()),
        )
    )


def _unit_metrics(
    raw: list[dict[str, Any]], teams: list[Team], source: str
) -> tuple[UnitMetricSetting, ...]:
    # Team names are matched like a team tag and like the metrics' scopes (case, spaces,
    # aliases), and metric names like the ingest stores them (lower case), so that
    # `cost: {team: pay}`, `scope: Pay` and `per: API_Requests` mean what they say.
    names = {normalise_name(label): t.name for t in teams for label in (t.name, *t.aliases)}

    def team_name(text: str) -> str:
        normalised = normalise_name(text)
        return names.get(normalised, normalised)

    settings: list[UnitMetricSetting] = []
    for index, entry in enumerate(raw):
        cost = entry.get("cost", "all")
        kind, value = ("all", None) if cost == "all" else next(iter(cost.items()))
        if kind == "team":
            value = team_name(value)
        if any(s.name == entry["name"] for s in settings):
            raise ConfigError(f"{source}: unit_metrics.{index}: {entry['name']!r} is defined twice")
        scope = entry.get("scope")
        settings.append(
            UnitMetricSetting(
                name=entry["name"],
                per=entry["per"].strip().lower(),
                cost_kind=kind,
                cost_value=value,
                scope=team_name(scope) if scope and scope.strip() else None,
                unit=entry.get("unit"),
                label=entry.get("label"),
                as_percent=entry.get("as") == "percent",
                reference=entry.get("reference"),
            )
        )
    return tuple(settings)


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Read the config from `path`, else `$COSTBOT_CONFIG`, else `costbot.yml` if it exists."""
    explicit = path or os.environ.get("COSTBOT_CONFIG")
    config_path = Path(explicit or DEFAULT_CONFIG_PATH)
    if not config_path.exists():
        if explicit:
            raise ConfigError(f"{config_path}: config file not found")
        return Config()
    try:
        data = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{config_path}:{where} not valid YAML") from None
    return parse_config(data, str(config_path))


@lru_cache(maxsize=4096)  # a bill spells a few dozen keys, over millions of rows
def tag_key(key: str) -> str:
    """A tag key as every tag rule compares it (the team tag, the required tags, the
    exemption tag): case-insensitive, AWS's `user:` prefix and `-`/`_`/space ignored, because
    exports spell the same tag many ways (`user:Team`, `team`; `cost-center`, `CostCenter`)."""
    key = key.strip().lower()
    if key.startswith("user:"):
        key = key[5:]
    return re.sub(r"[\s_\-]+", "", key)
