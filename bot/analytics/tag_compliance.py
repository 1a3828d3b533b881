"""Tagging compliance: which resources carry every required tag (`tag_policy.required_tags`),
and how much of the cost they make, per team, per account and for the organisation.

Two store tables meet here:

- `resources`, the inventory: what exists now, with the tags the resource carries now. It
  gives the resource counts, and the tags that decide whether a resource complies (a
  resource tagged this morning complies this morning, whatever its bill said).
- `resource_cost`, the resource-level cost of FOCUS files: one row per month x resource x
  tag set, so a period is counted by the whole months it touches (see `PeriodCost`).

A cost row is matched to an inventory resource by its ResourceId: first equal to the
resource's ARN (what AWS's FOCUS export and the CUR write for most types), else equal to the
resource's id in the same account (the CUR's instance ids, bucket names, DB identifiers).
Cost rows that match no inventory resource (resource types the inventory does not read, such
as untagged NAT gateways, or resources gone since) still count in the cost figures, judged by
the tags the bill carries, and are shown apart (`unlisted_cost_micros`); they add nothing to
the resource counts. An inventory resource with no cost row counts with a cost of zero.

Required keys are matched like the team tag, by the one rule the ingest and the inventory use
(`bot.config.tag_key`: case-insensitive, AWS's `user:` prefix and `-`/`_`/space ignored); an
empty or blank value counts as missing.
A resource's team is its team tag by the config's rules (the inventory's and the ingest's
`team`); those without one are grouped as `UNTAGGED`. Exempt resources (the exemption tag)
that miss a required key still count as non-compliant, and are counted apart as exempt.

Money is integer micro-units of the store's `config.cost_metric`; shares are Decimal.
Currencies are never added: every cost figure here (`cost_micros` and all that is summed from
it) counts only the cost billed in the config currency (`config.currency`, the one budgets
and the main figures are in). Cost billed in another currency (a billing account invoiced in
EUR) is kept apart, per currency (`other_costs`), for the answers to show on its own; its
resources still count in the resource counts and in compliance by count. Rows loaded before
`resource_cost` had a currency (migration m017) have none, and are taken as the config
currency, as every figure took them before; re-loading their billing period fills it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

import sqlite_utils

from bot.config import Config, tag_key
from bot.money import normalise_currency
from bot.store.queries import METRIC_COLUMNS, UNTAGGED

ORGANISATION = "all"  # the scope value of the organisation's figures
SCOPE_KINDS = ("org", "team", "account")
# Values of the exemption tag that say "not exempt", compared lower-case: `costbot:exempt =
# false` is an explicit no. Any other value, the empty one included, exempts.
NOT_EXEMPT_VALUES = frozenset({"false", "no", "0", "off"})


# ---- one resource's tags


def _normalised(tags: Mapping[str, object] | None) -> dict[str, str]:
    """Tag key (as `tag_key` compares it) -> value stripped; the first spelling wins."""
    normalised: dict[str, str] = {}
    for key, value in (tags or {}).items():
        text = "" if value is None else str(value).strip()
        normalised.setdefault(tag_key(str(key)), text)
    return normalised


def missing_tags(tags: Mapping[str, str] | None, required: Sequence[str]) -> tuple[str, ...]:
    """The required keys (as configured) that `tags` lacks, in the configured order; a key
    present with an empty or blank value is missing. None (tags unknown) lacks them all."""
    return _missing(_normalised(tags), required)


def is_exempt(tags: Mapping[str, str] | None, exempt_tag: str) -> bool:
    """Whether the resource carries the exemption tag (key matched like every tag key), with
    any value but an explicit no (`false`, `no`, `0`, `off`)."""
    return _exempt(_normalised(tags), exempt_tag)


def _missing(normalised: dict[str, str], required: Sequence[str]) -> tuple[str, ...]:
    return tuple(key for key in required if not normalised.get(tag_key(key)))


def _exempt(normalised: dict[str, str], exempt_tag: str) -> bool:
    value = normalised.get(tag_key(exempt_tag))
    return value is not None and value.lower() not in NOT_EXEMPT_VALUES


def _judged(tags_text: str | None, config: Config) -> tuple[tuple[str, ...], bool]:
    """(required keys missing, exempt) of a stored tag set (JSON text)."""
    normalised = _normalised(_parse_tags(tags_text))
    policy = config.tag_policy
    return _missing(normalised, policy.required_tags), _exempt(normalised, policy.exempt_tag)


def _parse_tags(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


# ---- resources with their cost


def resource_cost_currency(config: Config) -> tuple[str, list[str]]:
    """(SQL predicate, its parameters) selecting the resource_cost rows billed in the config
    currency: the only ones any money figure built on resource_cost may sum. A row with no
    currency (loaded before m017) counts as the config currency, as it did before."""
    code = normalise_currency(config.currency)
    return "upper(trim(coalesce(currency, ?))) = ?", [code, code]


def _currency_of(code: str | None, config: Config) -> str:
    return normalise_currency(code or config.currency)


def _amounts(costs: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    """Per-currency amounts in a stable order: largest first, then by code."""
    return tuple(sorted(costs.items(), key=lambda item: (-item[1], item[0])))


@dataclass(frozen=True)
class CostedResource:
    """One resource with its cost over some months and what it lacks."""

    resource_id: str
    arn: str | None  # None: known from the bill only
    resource_type: str | None
    account_id: str | None
    region: str | None
    team: str  # UNTAGGED when it has no team tag
    cost_micros: int  # billed in the config currency only (see the module docstring)
    missing: tuple[str, ...]  # required keys it lacks (configured spelling)
    exempt: bool
    in_inventory: bool  # False: billed, but not in the inventory (its bill's tags judged)
    since: str | None  # launched_at, else first_seen (ISO 8601), for its age
    # (currency, micros) billed in currencies other than the config's: never in cost_micros.
    other_costs: tuple[tuple[str, int], ...] = ()

    @property
    def compliant(self) -> bool:
        return not self.missing

    def age_days(self, today: date) -> int | None:
        """Whole days from launch (or first sighting) to `today`; None when unknown."""
        if not self.since:
            return None
        started = datetime.fromisoformat(self.since.replace("Z", "+00:00")).date()
        return max((today - started).days, 0)


def costed_resources(
    db: sqlite_utils.Database, config: Config, months: Iterable[str]
) -> list[CostedResource]:
    """Every inventory resource with its cost in `months` (YYYY-MM), then every billed
    resource the inventory does not hold (see the module's docstring for the matching)."""
    metric = METRIC_COLUMNS[config.cost_metric]
    currency = normalise_currency(config.currency)
    months = sorted(set(months))
    inventory = db.execute(
        "SELECT arn, resource_id, resource_type, account_id, region, tags, team,"
        " coalesce(launched_at, first_seen) FROM resources ORDER BY arn"
    ).fetchall()
    by_arn = {row[0]: row[0] for row in inventory}
    by_id = {(row[3], row[1]): row[0] for row in inventory}
    cost_of: dict[str, int] = defaultdict(int)  # inventory ARN -> micros
    # inventory ARN -> currency -> micros, for the currencies other than the config's
    other_of: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    # Billed only: (account, resource id) -> [micros, the row whose tags judge it, others]
    unlisted: dict[tuple[str | None, str], list] = {}
    placeholders = ", ".join("?" * len(months))
    rows = (
        db.execute(
            f"SELECT account_id, resource_id, resource_type, region, team, tags,"
            f" coalesce(sum({metric}), 0) AS micros, currency FROM resource_cost"
            f" WHERE month IN ({placeholders})"
            " GROUP BY month, account_id, resource_id, resource_type, region, team, tags,"
            " currency ORDER BY month, micros, tags",
            months,
        )
        if months
        else []
    )
    for row in rows:
        account, resource_id, micros = row[0], row[1], row[6]
        billed_in = _currency_of(row[7], config)
        arn = by_arn.get(resource_id) or by_id.get((account, resource_id))
        if arn is not None:
            if billed_in == currency:
                cost_of[arn] += micros
            else:
                other_of[arn][billed_in] += micros
            continue
        entry = unlisted.setdefault((account, resource_id), [0, None, defaultdict(int)])
        if billed_in == currency:
            entry[0] += micros
        else:
            entry[2][billed_in] += micros
        # Ordered by month then cost: the last row seen is the latest month's costliest
        # tag set, the tags the resource most likely carries now.
        entry[1] = row

    judged: dict[str | None, tuple[tuple[str, ...], bool]] = {}  # tags text -> verdict

    def judge(tags_text: str | None) -> tuple[tuple[str, ...], bool]:
        # Resources share a few tag sets: each is parsed and judged once.
        if tags_text not in judged:
            judged[tags_text] = _judged(tags_text, config)
        return judged[tags_text]

    found = []
    for arn, resource_id, kind, account, region, tags, team, since in inventory:
        missing, exempt = judge(tags)
        found.append(
            CostedResource(
                resource_id=resource_id or arn,
                arn=arn,
                resource_type=kind,
                account_id=account,
                region=region,
                team=team or UNTAGGED,
                cost_micros=cost_of.get(arn, 0),
                missing=missing,
                exempt=exempt,
                in_inventory=True,
                since=since,
                other_costs=_amounts(other_of.get(arn, {})),
            )
        )
    for (account, resource_id), (micros, row, others) in sorted(
        unlisted.items(), key=lambda item: (item[0][0] or "", item[0][1])
    ):
        _, _, kind, region, team, tags, _, _ = row
        missing, exempt = judge(tags)
        found.append(
            CostedResource(
                resource_id=resource_id,
                arn=None,
                resource_type=kind,
                account_id=account,
                region=region,
                team=team or UNTAGGED,
                cost_micros=micros,
                missing=missing,
                exempt=exempt,
                in_inventory=False,
                since=None,
                other_costs=_amounts(others),
            )
        )
    return found


# ---- compliance of a scope


@dataclass(frozen=True)
class KeyGap:
    """A required key and what lacks it: inventory resources, and cost (billed-only too)."""

    key: str
    resources: int
    cost_micros: int


@dataclass(frozen=True)
class OtherCurrencyCost:
    """Resource-level cost billed in a currency other than the config's: never added to the
    figures in the config currency, shown on its own."""

    currency: str
    cost_micros: int
    noncompliant_cost_micros: int


def _share(part: int, whole: int) -> Decimal | None:
    return None if whole == 0 else Decimal(part) / Decimal(whole)


@dataclass(frozen=True)
class Compliance:
    """The compliance of the organisation, a team or an account."""

    kind: str  # org | team | account
    value: str  # ORGANISATION, the team (UNTAGGED: no team tag) or the account id
    resources: int  # inventory resources
    compliant_resources: int
    exempt_resources: int  # non-compliant, but carrying the exemption tag
    cost_micros: int  # all resource-level cost, billed-only resources included
    compliant_cost_micros: int
    exempt_cost_micros: int  # non-compliant cost of exempt resources
    unlisted_cost_micros: int  # cost of billed resources the inventory does not hold
    missing: tuple[KeyGap, ...]  # most resources lacking it first, then most cost
    # Cost billed in other currencies, per currency (largest first): in none of the above.
    other_costs: tuple[OtherCurrencyCost, ...] = ()

    @property
    def noncompliant_resources(self) -> int:
        return self.resources - self.compliant_resources

    @property
    def noncompliant_cost_micros(self) -> int:
        return self.cost_micros - self.compliant_cost_micros

    @property
    def resource_share(self) -> Decimal | None:
        """Compliant resources / resources; None when there are none."""
        return _share(self.compliant_resources, self.resources)

    @property
    def cost_share(self) -> Decimal | None:
        """Compliant cost / cost; None when there is no cost."""
        return _share(self.compliant_cost_micros, self.cost_micros)


@dataclass
class _Tally:
    resources: int = 0
    compliant_resources: int = 0
    exempt_resources: int = 0
    cost: int = 0
    compliant_cost: int = 0
    exempt_cost: int = 0
    unlisted_cost: int = 0
    key_resources: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    key_cost: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # currency -> [cost, non-compliant cost], currencies other than the config's
    other: dict[str, list[int]] = field(default_factory=dict)

    def add(self, resource: CostedResource) -> None:
        self.cost += resource.cost_micros
        for code, micros in resource.other_costs:
            amounts = self.other.setdefault(code, [0, 0])
            amounts[0] += micros
            amounts[1] += 0 if resource.compliant else micros
        if resource.in_inventory:
            self.resources += 1
        else:
            self.unlisted_cost += resource.cost_micros
        if resource.compliant:
            self.compliant_cost += resource.cost_micros
            self.compliant_resources += resource.in_inventory
            return
        if resource.exempt:
            self.exempt_cost += resource.cost_micros
            self.exempt_resources += resource.in_inventory
        if not resource.in_inventory and not resource.cost_micros and resource.other_costs:
            return  # billed only, and only in another currency: nothing to count here
        for key in resource.missing:
            self.key_resources[key] += resource.in_inventory
            self.key_cost[key] += resource.cost_micros

    def result(self, kind: str, value: str) -> Compliance:
        gaps = sorted(
            (KeyGap(key, self.key_resources[key], self.key_cost[key]) for key in self.key_cost),
            key=lambda gap: (-gap.resources, -gap.cost_micros, gap.key),
        )
        return Compliance(
            kind=kind,
            value=value,
            resources=self.resources,
            compliant_resources=self.compliant_resources,
            exempt_resources=self.exempt_resources,
            cost_micros=self.cost,
            compliant_cost_micros=self.compliant_cost,
            exempt_cost_micros=self.exempt_cost,
            unlisted_cost_micros=self.unlisted_cost,
            missing=tuple(gaps),
            other_costs=tuple(
                OtherCurrencyCost(code, cost, noncompliant)
                for code, (cost, noncompliant) in sorted(
                    self.other.items(), key=lambda item: (-item[1][0], item[0])
                )
            ),
        )


@dataclass(frozen=True)
class ComplianceReport:
    """The compliance of one day: the inventory as it stands and the cost of the day's month
    to date (the month's resource_cost rows as loaded)."""

    day: date
    month: str  # YYYY-MM whose cost is counted
    required_tags: tuple[str, ...]
    target: float
    organisation: Compliance
    teams: tuple[Compliance, ...]  # by team name, UNTAGGED among them
    accounts: tuple[Compliance, ...]  # by account id

    def scopes(self) -> tuple[Compliance, ...]:
        """Every figure of the day: the organisation, then teams, then accounts."""
        return (self.organisation, *self.teams, *self.accounts)

    def scope(self, kind: str, value: str) -> Compliance | None:
        return next((c for c in self.scopes() if c.kind == kind and c.value == value), None)


def compliance(db: sqlite_utils.Database, config: Config, day: date) -> ComplianceReport:
    """Compliance per team, account and for the organisation on `day`: the inventory now,
    the cost of `day`'s month to date."""
    month = day.strftime("%Y-%m")
    organisation = _Tally()
    teams: dict[str, _Tally] = defaultdict(_Tally)
    accounts: dict[str, _Tally] = defaultdict(_Tally)
    for resource in costed_resources(db, config, [month]):
        organisation.add(resource)
        teams[resource.team].add(resource)
        accounts[resource.account_id or UNTAGGED].add(resource)
    return ComplianceReport(
        day=day,
        month=month,
        required_tags=tuple(config.tag_policy.required_tags),
        target=config.tag_policy.target,
        organisation=organisation.result("org", ORGANISATION),
        teams=tuple(teams[name].result("team", name) for name in sorted(teams)),
        accounts=tuple(accounts[name].result("account", name) for name in sorted(accounts)),
    )


# ---- the costliest non-compliant resources of a period (/untagged)


def months_touched(start: date, end: date) -> tuple[str, ...]:
    """YYYY-MM of every month from `start` to `end` (inclusive)."""
    if end < start:
        raise ValueError(f"period ends ({end}) before it starts ({start})")
    months, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return tuple(months)


def _covers_whole_months(start: date, end: date) -> bool:
    following = date(end.year + end.month // 12, end.month % 12 + 1, 1)
    return start.day == 1 and (following - end).days == 1


@dataclass(frozen=True)
class PeriodCost:
    """How a period's cost was counted. Resource-level cost is stored per month, so a
    period is counted by the whole months it touches: `whole_months` False says the figures
    include days outside the period asked for (say so: "cost of November to date")."""

    start: date
    end: date
    months: tuple[str, ...]  # YYYY-MM counted
    whole_months: bool  # the period is exactly those months (a month to date is too)


@dataclass(frozen=True)
class NoncompliantResources:
    period: PeriodCost
    resources: tuple[CostedResource, ...]  # costliest first, at most `limit`
    total: int  # non-compliant resources in scope (inventory and billed-only)
    cost_micros: int  # their cost over period.months, in the config currency
    # (currency, micros): their cost billed in other currencies, largest first
    other_costs: tuple[tuple[str, int], ...] = ()


def costliest_noncompliant(
    db: sqlite_utils.Database,
    config: Config,
    start: date,
    end: date,
    scope: str = "all",
    value: str | None = None,
    limit: int = 10,
    month_to_date: bool = False,
) -> NoncompliantResources:
    """The non-compliant resources of a scope (`all`; `team` with a team name, UNTAGGED for
    none; `account` with an account id), costliest over the period first, then by id.

    The period's cost is that of the months it touches (see `PeriodCost`); `month_to_date`
    True says the period ends on the last day loaded of its month, so the month counts as
    exactly the period."""
    if scope not in ("all", "team", "account"):
        raise ValueError(f"unknown scope {scope!r}: all, team or account")
    if scope != "all" and value is None:
        raise ValueError(f"scope {scope!r} needs a value")
    months = months_touched(start, end)
    whole = _covers_whole_months(start, end) or (
        month_to_date and start.day == 1 and len(months) == 1
    )
    found = [
        resource
        for resource in costed_resources(db, config, months)
        if not resource.compliant
        and (
            scope == "all"
            or (scope == "team" and resource.team == value)
            or (scope == "account" and resource.account_id == value)
        )
    ]
    # Costliest in the config currency first; resources billed only in another currency
    # come after those with cost in it, the largest amount first (an order, not a sum).
    found.sort(
        key=lambda r: (
            -r.cost_micros,
            -max((micros for _, micros in r.other_costs), default=0),
            r.account_id or "",
            r.resource_id,
        )
    )
    others: dict[str, int] = defaultdict(int)
    for resource in found:
        for code, micros in resource.other_costs:
            others[code] += micros
    return NoncompliantResources(
        period=PeriodCost(start, end, months, whole),
        resources=tuple(found[: max(limit, 0)]),
        total=len(found),
        cost_micros=sum(r.cost_micros for r in found),
        other_costs=_amounts(others),
    )


def period_compliance(
    db: sqlite_utils.Database,
    config: Config,
    months: Iterable[str],
    kind: str = "org",
    value: str = ORGANISATION,
) -> Compliance:
    """The compliance of one scope (`org`; `team` with a team, UNTAGGED for none; `account`
    with an account id) with the cost of `months` (YYYY-MM): /untagged's figures for a
    period, counted like `compliance` counts a day's month."""
    if kind not in SCOPE_KINDS:
        raise ValueError(f"unknown scope kind {kind!r}: org, team or account")
    tally = _Tally()
    for resource in costed_resources(db, config, months):
        if (
            kind == "org"
            or (kind == "team" and resource.team == value)
            or (kind == "account" and (resource.account_id or UNTAGGED) == value)
        ):
            tally.add(resource)
    return tally.result(kind, value)
