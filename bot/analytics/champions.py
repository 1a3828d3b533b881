"""Cost champions: the month's wins and the score of each team and person (docs/champions.md
explains the score to an engineer).

Wins come from three places:
- measured, computed from the store (`measured_wins`):
  - `stop` / `idle_stop`: a resource stopped or deleted through the tag-policy ladder or the
    idle flow's Stop button (`verified_savings`), at the monthly run-rate it no longer costs;
    credited to the resource's team and to the person who pressed Stop or Approve;
  - `unit_cost`: a team's cost per unit of business volume fell by more than
    UNIT_COST_NOISE from the previous calendar month; the saving is what this month's volume
    would have cost at last month's unit cost, minus what it cost. Normalised by volume: a
    quiet month (less volume, the same unit cost) saves nothing, and a business that shrank
    does not win by spending less;
  - `anomaly`: an anomaly of a team that someone acknowledged or was assigned, over within
    `champions.quick_resolution_days` of its start; the cost avoided is its excess per day
    times the days left in a 30-day month that it would otherwise have run. A one-off amount:
    it counts once, never annualised.
- reported (`/kudos`, written by the kudos flow): a kudos counts `weights.kudos` points;
- confirmed (a lead confirmed a kudos): also counts its amount as savings, like a measured win.
  Declined kudos count nothing.

Money is integer micro-units of the config currency; points are exact Decimals.
"""

from __future__ import annotations

import calendar
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import sqlite_utils

from bot.analytics import unit_cost
from bot.config import Config
from bot.money import MICROS_PER_DOLLAR, format_money, format_unit_cost
from bot.store import queries, writers
from bot.store.writers import MeasuredWin

# A unit cost must fall by more than this share of last month's to count: month-to-month
# unit costs wobble by a few percent with the mix of weekdays and month-start fees alone.
UNIT_COST_NOISE = Fraction(5, 100)
# An anomaly left alone is assumed to run the rest of a 30-day month.
ANOMALY_HORIZON_DAYS = 30
MONTHS_A_YEAR = 12
KUDOS = "kudos"
RECURRING_SOURCES = ("unit_cost", "stop", "idle_stop", KUDOS)
SOURCE_LABELS = {
    "unit_cost": "unit cost down",
    "stop": "tag policy stop",
    "idle_stop": "idle resource stopped",
    "anomaly": "anomaly resolved quickly",
    KUDOS: "kudos",
}


class ChampionsError(ValueError):
    """A month that cannot be shown (bad text, before any data)."""


# ---- months


def parse_month(text: str) -> str:
    """`2026-10` (or `2026-1`) -> "2026-10"; anything else raises ChampionsError."""
    parts = text.strip().split("-")
    if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit() and len(parts[0]) == 4:
        year, month = int(parts[0]), int(parts[1])
        if 1 <= month <= 12 and year >= 2000:
            return f"{year:04d}-{month:02d}"
    raise ChampionsError(f"{text.strip()!r} is not a month: use YYYY-MM, e.g. 2026-10")


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_span(month: str) -> tuple[date, date]:
    year, number = (int(part) for part in month.split("-"))
    return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])


def previous_month(month: str) -> str:
    start, _ = month_span(month)
    return month_of(start - timedelta(days=1))


def month_name(month: str) -> str:
    start, _ = month_span(month)
    return start.strftime("%B %Y")


# ---- wins


@dataclass(frozen=True)
class Win:
    """One win of a month, measured or told."""

    month: str
    source: str  # unit_cost | stop | idle_stop | anomaly | kudos
    status: str  # measured | reported | confirmed | declined
    team: str | None
    person: str | None  # Slack user id
    what: str
    monthly_savings_micros: int | None  # as measured or claimed; None: no amount
    currency: str
    dedupe_key: str
    detail: dict[str, Any] = field(default_factory=dict)
    reported_by: str | None = None

    @property
    def is_kudos(self) -> bool:
        return self.source == KUDOS and self.status in ("reported", "confirmed")

    @property
    def recurring(self) -> bool:
        """A run-rate (annualised), or a one-off amount (an anomaly's avoided cost)."""
        return self.source in RECURRING_SOURCES

    @property
    def counted_micros(self) -> int:
        """The savings the score counts: measured wins and confirmed kudos amounts."""
        if self.status == "measured" or (self.source == KUDOS and self.status == "confirmed"):
            return max(self.monthly_savings_micros or 0, 0)
        return 0

    @property
    def annual_micros(self) -> int:
        return self.counted_micros * (MONTHS_A_YEAR if self.recurring else 1)

    def as_measured(self) -> MeasuredWin:
        return MeasuredWin(
            self.month,
            self.source,
            self.team,
            self.person,
            self.what,
            self.monthly_savings_micros,
            self.currency,
            self.dedupe_key,
            self.detail,
        )


def stop_wins(db: sqlite_utils.Database, config: Config, month: str, through: date) -> list[Win]:
    """Resources stopped or deleted through Costbot in the month, at their monthly run-rate."""
    start, end = month_span(month)
    wins = []
    for row in queries.verified_savings(db, start, min(end, through)):
        if (row["currency"] or config.currency) != config.currency or row["monthly_micros"] <= 0:
            continue  # currencies are never added together
        actor = row["actor"] if row["actor"] and row["actor"] != "costbot" else None
        person = actor or row["approved_by"]
        kind = row["resource_type"] or "resource"
        name = row["resource_id"] or row["arn"]
        what = {
            "idle-stop": f"stopped idle {kind} {name}",
            "enforcement-stop": f"stopped untagged {kind} {name} (tag policy)",
            "enforcement-terminate": f"deleted untagged {kind} {name} (tag policy)",
        }.get(row["action"], f"{row['action']} {kind} {name}")
        wins.append(
            Win(
                month,
                "idle_stop" if row["action"] == "idle-stop" else "stop",
                "measured",
                config.canonical_team(row["team"]),
                person,
                what,
                row["monthly_micros"],
                config.currency,
                f"saving:{row['arn']}:{row['action']}:{row['day']}",
                {
                    "verified_saving_id": row["id"],
                    "arn": row["arn"],
                    "action": row["action"],
                    "day": row["day"],
                    "basis": row["basis"],
                    "actor": row["actor"],
                    "approved_by": row["approved_by"],
                },
            )
        )
    return wins


@dataclass(frozen=True)
class UnitCostChange:
    """A team's unit cost, the previous month against this one (both over days with cost and
    volume; this month through `through`)."""

    team: str
    definition: str
    unit: str
    previous: unit_cost.Sums
    current: unit_cost.Sums

    @property
    def saving_micros(self) -> int:
        """This month's volume at last month's unit cost, minus this month's cost; rounded
        down to the micro-unit. Only meaningful with volume in both months."""
        at_last_months_rate = (
            Fraction(self.previous.cost_micros)
            * Fraction(self.current.volume)
            / Fraction(self.previous.volume)
        )
        return int(at_last_months_rate - self.current.cost_micros)

    @property
    def fell_beyond_noise(self) -> bool:
        before, now = self.previous.unit_cost, self.current.unit_cost
        if before is None or now is None or before <= 0:
            return False
        return now < before * (1 - UNIT_COST_NOISE)


def _team_subjects(
    db: sqlite_utils.Database, config: Config
) -> list[tuple[str, unit_cost.UnitDefinition, unit_cost.Subject]]:
    """(team, definition, subject) for every unit metric that can be computed for a team: a
    configured definition over a team's cost, and every metric with values for a team."""
    teams = {t.name for t in config.teams} | {
        config.canonical_team(value) for value in queries.known_values(db, "team")
    }
    catalog = {(s.metric, s.scope) for s in queries.metric_catalog(db)}
    found: dict[tuple[str, str, str | None], tuple] = {}
    for definition in unit_cost.definitions(db, config):
        if definition.problem:
            continue
        if definition.cost.kind == "team" and definition.cost.value:
            team = config.canonical_team(definition.cost.value)
            subject = unit_cost.subject_of(definition)
            found.setdefault((team, definition.metric, subject.metric_scope), (definition, subject))
            continue
        if not definition.scopable:
            continue
        for metric, scope in sorted(catalog, key=lambda pair: (pair[0], pair[1] or "")):
            if metric != definition.metric or scope is None:
                continue
            team = config.canonical_team(scope)
            if team not in teams:
                continue  # a product's values, not a team's
            subject = unit_cost.subject_of(definition, team=scope)
            found.setdefault((team, metric, scope), (definition, subject))
    return [(team, d, s) for (team, _, _), (d, s) in sorted(found.items(), key=_subject_order)]


def _subject_order(item: tuple) -> tuple:
    (team, metric, scope), _ = item
    return (team, metric, scope or "")


def unit_cost_changes(
    db: sqlite_utils.Database, config: Config, month: str, through: date
) -> list[UnitCostChange]:
    """Every team unit cost with volume in both the previous month and this one."""
    _, end = month_span(month)
    changes = []
    for team, definition, subject in _team_subjects(db, config):
        try:
            previous, current = unit_cost.unit_cost_trend(
                db, config, definition, months=2, end=min(end, through), subject=subject
            )
        except unit_cost.UnitCostError:
            continue
        if previous.volume > 0 and current.volume > 0:
            changes.append(
                UnitCostChange(team, definition.name, definition.unit, previous, current)
            )
    return changes


def unit_cost_wins(
    db: sqlite_utils.Database, config: Config, month: str, through: date
) -> list[Win]:
    """One win per team whose unit cost fell beyond the noise: its largest saving (a team's
    cost divided by two metrics is still one cost: never counted twice)."""
    best: dict[str, UnitCostChange] = {}
    for change in unit_cost_changes(db, config, month, through):
        if not change.fell_beyond_noise or change.saving_micros <= 0:
            continue
        if change.team not in best or change.saving_micros > best[change.team].saving_micros:
            best[change.team] = change
    wins = []
    for team, change in sorted(best.items()):
        before, now = change.previous.unit_cost, change.current.unit_cost
        assert before is not None and now is not None
        wins.append(
            Win(
                month,
                "unit_cost",
                "measured",
                team,
                None,
                f"cost per {change.unit} down {_percent(1 - now / before)}"
                f" ({_unit_money(before, config.currency)} to {_unit_money(now, config.currency)})",
                change.saving_micros,
                config.currency,
                f"unit_cost:{month}:{team}",
                {
                    "definition": change.definition,
                    "unit": change.unit,
                    "previous": _sums_detail(change.previous),
                    "current": _sums_detail(change.current),
                    "noise_threshold": str(UNIT_COST_NOISE),
                },
            )
        )
    return wins


def _sums_detail(sums: unit_cost.Sums) -> dict[str, Any]:
    return {
        "start": sums.start.isoformat(),
        "end": sums.end.isoformat(),
        "cost_micros": sums.cost_micros,
        "volume": str(sums.volume),
        "days": sums.days_with_both,
    }


def _percent(share: Fraction) -> str:
    return f"{Decimal(share.numerator) / Decimal(share.denominator) * 100:.1f}%"


def _unit_money(value: Fraction, currency: str) -> str:
    return format_unit_cost(value, currency)


def anomaly_wins(db: sqlite_utils.Database, config: Config, month: str, through: date) -> list[Win]:
    """Anomalies of a team, acknowledged or assigned by someone, over within
    `quick_resolution_days` of their start (and last anomalous in the month)."""
    start, end = month_span(month)
    quick = config.champions.quick_resolution_days
    wins = []
    for episode in queries.quickly_closed_anomalies(db, start, min(end, through)):
        team = config.canonical_team(episode["team"])
        if team is None or (episode["currency"] or config.currency) != config.currency:
            continue
        first = date.fromisoformat(episode["start"])
        last = date.fromisoformat(episode["last_day"] or episode["start"])
        days = (last - first).days + 1
        if days > quick:
            continue
        person = _anomaly_responder(episode)
        if person is None:
            continue  # it went away on its own: nobody to celebrate
        excess = episode["alerted_excess_micros"]
        if excess is None:
            excess = (episode["actual_micros"] or 0) - (episode["expected_micros"] or 0)
        avoided_days = max(ANOMALY_HORIZON_DAYS - days, 0)
        if excess <= 0 or avoided_days == 0:
            continue
        where = episode["service"] or "all services"
        wins.append(
            Win(
                month,
                "anomaly",
                "measured",
                team,
                person,
                f"resolved a {episode['kind']} anomaly in {where} in {days} day"
                f"{'s' if days != 1 else ''} ({format_money(excess, config.currency)}/day over)",
                excess * avoided_days,
                config.currency,
                f"anomaly:{episode['id']}",
                {
                    "episode_id": episode["id"],
                    "start": episode["start"],
                    "last_day": last.isoformat(),
                    "excess_per_day_micros": excess,
                    "avoided_days": avoided_days,
                    "horizon_days": ANOMALY_HORIZON_DAYS,
                },
            )
        )
    return wins


def _anomaly_responder(episode: dict) -> str | None:
    """Who dealt with it: the assignee, else who acknowledged it (also from the actions)."""
    if episode.get("assigned_to"):
        return episode["assigned_to"]
    if episode.get("acknowledged_by"):
        return episode["acknowledged_by"]
    for action in reversed(episode.get("actions", [])):
        if action["action"] == "assign" and action["detail"]:
            return action["detail"]
    for action in episode.get("actions", []):
        if action["action"] == "acknowledge" and action["user_id"]:
            return action["user_id"]
    return None


def measured_wins(
    db: sqlite_utils.Database, config: Config, month: str, through: date | None = None
) -> list[Win]:
    """The month's measured wins, computed from the store (through `through`, default the
    month's last day)."""
    through = through or month_span(month)[1]
    return [
        *stop_wins(db, config, month, through),
        *unit_cost_wins(db, config, month, through),
        *anomaly_wins(db, config, month, through),
    ]


def record_month(db: sqlite_utils.Database, config: Config, month: str, now: datetime) -> list[Win]:
    """Compute the month's measured wins and keep them in `wins` (idempotent)."""
    wins = measured_wins(db, config, month)
    writers.record_measured_wins(db, month, [w.as_measured() for w in wins], now)
    return wins


def _win_of_row(row: dict) -> Win:
    return Win(
        row["month"],
        row["source"],
        row["status"],
        row["team"],
        row["person"],
        row["what"] or "",
        row["monthly_savings_micros"],
        row["currency"] or "",
        row["dedupe_key"],
        row["detail"],
        row.get("reported_by"),
    )


def month_wins(
    db: sqlite_utils.Database, config: Config, month: str, through: date | None = None
) -> list[Win]:
    """Every win of a month: measured wins computed afresh (they replace the stored ones of
    the same key), and kudos. A measured win stored earlier counts only while the month's
    cost data is gone from the store (pruned): while it is there, the fresh computation is
    the truth, so a win whose data was since corrected (a restated bill) no longer shows.
    Wins in another currency than the config's are left out."""
    fresh = measured_wins(db, config, month, through)
    keys = {win.dedupe_key for win in fresh}
    stored = [_win_of_row(row) for row in queries.wins_of_month(db, month)]
    data_gone = not _has_cost_data(db, month)
    kept = [
        w
        for w in stored
        if w.dedupe_key not in keys
        and w.status != "declined"
        and (w.source == "kudos" or data_gone)
    ]
    return [
        w
        for w in [*fresh, *kept]
        if w.currency in ("", config.currency) or w.monthly_savings_micros is None
    ]


def _has_cost_data(db: sqlite_utils.Database, month: str) -> bool:
    """Whether the store holds cost data for any day of `month`."""
    coverage = queries.data_range(db)
    start, end = month_span(month)
    return coverage is not None and coverage[0] <= end and coverage[1] >= start


# ---- tagging compliance


def _share_percent(row: dict | None) -> Decimal | None:
    if row is None:
        return None
    if row["cost_micros"]:
        return Decimal(row["compliant_cost_micros"]) * 100 / Decimal(row["cost_micros"])
    if row["resources"]:
        return Decimal(row["compliant_resources"]) * 100 / Decimal(row["resources"])
    return None


@dataclass(frozen=True)
class ComplianceGain:
    team: str
    before: Decimal  # percent, the previous month's last stored day
    after: Decimal  # percent, this month's last stored day
    before_day: date
    after_day: date

    @property
    def points(self) -> Decimal:
        """Percentage points gained (never below zero: a leaderboard counts gains)."""
        return max(self.after - self.before, Decimal(0))


def compliance_gains(
    db: sqlite_utils.Database, month: str, through: date
) -> dict[str, ComplianceGain]:
    """Per team: its tagging compliance (share of its resource cost compliant) at the last
    stored day of the month against the last stored day of the month before."""
    start, end = month_span(month)
    end = min(end, through)
    before_start, before_end = month_span(previous_month(month))
    gains = {}
    for team in queries.compliance_teams(db, start, end):
        after = queries.last_compliance_on_or_before(db, "team", team, start, end)
        before = queries.last_compliance_on_or_before(db, "team", team, before_start, before_end)
        after_share, before_share = _share_percent(after), _share_percent(before)
        if after is None or before is None or after_share is None or before_share is None:
            continue
        gains[team] = ComplianceGain(
            team,
            before_share,
            after_share,
            date.fromisoformat(before["day"]),
            date.fromisoformat(after["day"]),
        )
    return gains


# ---- the score


def _weight(value: float) -> Decimal:
    return Decimal(str(value))


def format_points(points: Decimal) -> str:
    """Whole points for people (`28,800`); the ranking uses the exact value."""
    return f"{points.quantize(Decimal(1), rounding=ROUND_HALF_UP):,}"


@dataclass(frozen=True)
class Entry:
    """One team or person on the board, with the lines that explain its points."""

    kind: str  # team | person
    name: str  # the team, or the Slack user id
    team: str | None  # a person's team (the one most of their wins are for)
    points: Decimal
    lines: tuple[str, ...]
    wins: tuple[Win, ...]
    monthly_micros: int  # recurring savings a month
    annual_micros: int  # recurring savings a year, plus one-off amounts
    one_off_micros: int
    kudos: int
    compliance: ComplianceGain | None = None


def rank(entries: Iterable[Entry]) -> list[Entry]:
    """Most points first; ties: the larger annual savings, then more wins, then the name."""
    return sorted(entries, key=lambda e: (-e.points, -e.annual_micros, -len(e.wins), e.name))


def score(
    wins: list[Win],
    config: Config,
    kind: str,
    name: str,
    compliance: ComplianceGain | None = None,
) -> Entry:
    weights = config.champions.weights
    currency = config.currency
    lines: list[str] = []
    points = Decimal(0)
    monthly = sum(w.counted_micros for w in wins if w.recurring)
    one_off = sum(w.counted_micros for w in wins if not w.recurring)
    annual = monthly * MONTHS_A_YEAR
    if monthly:
        gained = Decimal(annual) / MICROS_PER_DOLLAR * _weight(weights.savings)
        points += gained
        lines.append(
            f"{format_money(monthly, currency)}/month saved = "
            f"{format_money(annual, currency)}/year → {format_points(gained)} points"
        )
    if one_off:
        gained = Decimal(one_off) / MICROS_PER_DOLLAR * _weight(weights.savings)
        points += gained
        lines.append(
            f"{format_money(one_off, currency)} of anomaly cost avoided (once) → "
            f"{format_points(gained)} points"
        )
    if compliance is not None and compliance.points > 0:
        gained = compliance.points * _weight(weights.compliance_point)
        points += gained
        lines.append(
            f"tagging compliance {compliance.before:.1f}% → {compliance.after:.1f}% "
            f"(+{compliance.points:.1f} points of %) → {format_points(gained)} points"
        )
    kudos = sum(1 for w in wins if w.is_kudos)
    if kudos:
        gained = kudos * _weight(weights.kudos)
        points += gained
        lines.append(
            f"{kudos} kudos × {format_points(_weight(weights.kudos))} → "
            f"{format_points(gained)} points"
        )
    team = None
    if kind == "person":
        teams = Counter(w.team for w in wins if w.team)
        team = min(teams, key=lambda t: (-teams[t], t)) if teams else None
    return Entry(
        kind,
        name,
        team,
        points,
        tuple(lines),
        tuple(sorted(wins, key=lambda w: (-w.annual_micros, w.dedupe_key))),
        monthly,
        annual + one_off,
        one_off,
        kudos,
        compliance,
    )


@dataclass(frozen=True)
class Leaderboard:
    month: str
    start: date
    through: date  # the last day counted (the month's end, or today for this month)
    currency: str
    teams: list[Entry]
    people: list[Entry]
    wins: list[Win]

    @property
    def monthly_micros(self) -> int:
        """Recurring savings a month, every counted win (credited to someone or not)."""
        return sum(w.counted_micros for w in self.wins if w.recurring)

    @property
    def one_off_micros(self) -> int:
        return sum(w.counted_micros for w in self.wins if not w.recurring)

    @property
    def annual_micros(self) -> int:
        return self.monthly_micros * MONTHS_A_YEAR

    @property
    def empty(self) -> bool:
        return not self.teams and not self.people


def leaderboard(
    db: sqlite_utils.Database, config: Config, month: str, through: date | None = None
) -> Leaderboard:
    """Teams and people of a month, ranked. `through`: the last day counted (this month so
    far); default the month's last day."""
    start, end = month_span(month)
    through = min(through or end, end)
    wins = month_wins(db, config, month, through)
    gains = compliance_gains(db, month, through)
    by_team: dict[str, list[Win]] = defaultdict(list)
    by_person: dict[str, list[Win]] = defaultdict(list)
    for win in wins:
        if win.team:
            by_team[win.team].append(win)
        if win.person:
            by_person[win.person].append(win)
    teams = [
        score(by_team.get(team, []), config, "team", team, gains.get(team))
        for team in sorted(set(by_team) | {t for t, g in gains.items() if g.points > 0})
    ]
    people = [score(w, config, "person", person) for person, w in sorted(by_person.items())]
    return Leaderboard(
        month,
        start,
        through,
        config.currency,
        rank(e for e in teams if e.points > 0),
        rank(e for e in people if e.points > 0),
        wins,
    )


def engineers_worth(annual_micros: int, engineer_cost_per_year_micros: int) -> int:
    """Whole engineers a yearly amount pays for, rounded down."""
    return annual_micros // engineer_cost_per_year_micros


def business_framing(monthly_micros: int, config: Config) -> str:
    """ "$62,500.00 a month is $750,000.00 a year: about 4 engineers"."""
    currency = config.currency
    annual = monthly_micros * MONTHS_A_YEAR
    engineers = engineers_worth(annual, config.champions.engineer_cost_per_year_micros)
    if engineers == 0:
        worth = "less than one engineer"
    else:
        worth = f"about {engineers} engineer{'s' if engineers != 1 else ''}"
    return (
        f"{format_money(monthly_micros, currency)} a month is "
        f"{format_money(annual, currency)} a year: {worth}"
    )


# ---- history


@dataclass(frozen=True)
class MonthRecord:
    month: str
    wins: tuple[Win, ...]
    monthly_micros: int
    one_off_micros: int
    points: Decimal
    rank: int | None  # the team's place that month; None: not on the board


def team_record(
    db: sqlite_utils.Database,
    config: Config,
    team: str,
    months: int = 6,
    today: date | None = None,
) -> list[MonthRecord]:
    """A team's wins by month, the `months` months ending with `today`'s (newest first)."""
    canonical = config.canonical_team(team) or team
    today = today or (queries.data_range(db) or (date.today(), date.today()))[1]
    month = month_of(today)
    records = []
    for _ in range(months):
        board = leaderboard(db, config, month, today)
        place = next((i for i, e in enumerate(board.teams, 1) if e.name == canonical), None)
        entry = board.teams[place - 1] if place else None
        wins = tuple(w for w in board.wins if w.team == canonical)
        records.append(
            MonthRecord(
                month,
                wins,
                entry.monthly_micros if entry else 0,
                entry.one_off_micros if entry else 0,
                entry.points if entry else Decimal(0),
                place,
            )
        )
        month = previous_month(month)
    return records
