"""Unit metric definitions: what `/unitcost NAME` divides by what. Every business metric M
in the store is "cost per M" (`cost_per_M`) without config; `unit_metrics:` in the config adds
named ones (a cost side: all, a team, a product tag, a service; a business side: a metric,
optionally scoped; `as: percent` for cost as a % of a money metric). Also the field's
reference ranges and where a figure sits against them. Re-exported by
bot.analytics.unit_cost, which computes the figures."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import sqlite_utils

from bot.analytics import names
from bot.config import Config, UnitMetricSetting
from bot.store import queries

COST_PER = "cost_per_"


@dataclass(frozen=True)
class CostSide:
    kind: str  # all | team | product | service
    value: str | None = None

    @property
    def description(self) -> str:
        if self.kind == "all":
            return "all cloud cost"
        return f"{self.kind} {self.value}"


@dataclass(frozen=True)
class Reference:
    field: str  # "API businesses"
    low: Decimal  # dollars per unit, or percent of revenue
    high: Decimal
    per: str  # "per call", "of revenue"
    percent: bool = False


# The field's usual ranges, shown as context (FinOps Foundation and vendor benchmarks).
REFERENCES = {
    "api": Reference("API businesses", Decimal("0.001"), Decimal("0.01"), "per call"),
    "ecommerce": Reference("E-commerce businesses", Decimal("0.10"), Decimal("0.50"), "per order"),
    "streaming": Reference(
        "Streaming services", Decimal("0.001"), Decimal("0.005"), "per stream-minute"
    ),
    "saas": Reference("SaaS companies", Decimal(15), Decimal(25), "of revenue", percent=True),
}


@dataclass(frozen=True)
class UnitDefinition:
    name: str  # what `/unitcost NAME` takes
    metric: str  # the business metric divided by
    cost: CostSide
    metric_scope: str | None  # None: the metric's organisation values
    unit: str  # one unit in words: "api request"
    title: str  # "Cost per api request"
    as_percent: bool = False
    reference: str | None = None  # a key of REFERENCES
    configured: bool = False  # from `unit_metrics:` (else the default for a metric)
    problem: str | None = None  # why it cannot be computed (a service the store lacks)

    @property
    def scopable(self) -> bool:
        """Whether a team (or product) can be asked for: the default per-metric definitions,
        and configured ones over all cost and the organisation's values."""
        return not self.configured or (self.cost.kind == "all" and self.metric_scope is None)


@dataclass(frozen=True)
class ReferenceCheck:
    reference: Reference
    position: str  # below | within | above
    value: Fraction  # dollars per unit, or percent


class UnitCostError(ValueError):
    """A question about unit costs that has no answer (plain text, for the asker)."""


def unit_words(metric: str) -> str:
    """`api_requests` -> `api request`: one unit of a metric, in words."""
    words = metric.replace("_", " ").replace("-", " ").strip()
    if words.endswith("ies"):
        return words[:-3] + "y"
    if words.endswith("s") and not words.endswith("ss"):
        return words[:-1]
    return words


def guess_reference(name: str, metric: str) -> str | None:
    text = f"{name} {metric}".lower()
    if "stream" in text:
        return "streaming"
    if "order" in text:
        return "ecommerce"
    if "request" in text or "call" in text or "api" in text:
        return "api"
    return None


def _configured(setting: UnitMetricSetting, services: list[str]) -> UnitDefinition:
    cost = CostSide(setting.cost_kind, setting.cost_value)
    problem = None
    if cost.kind == "service":
        match = names.match_service(setting.cost_value or "", services)
        if match.service is not None:
            cost = CostSide("service", match.service)
        elif match.candidates:
            problem = f"its service {setting.cost_value!r} could mean " + ", ".join(
                match.candidates[:5]
            )
        else:
            problem = f"its service {setting.cost_value!r} has no cost in the store"
    unit = setting.unit or unit_words(setting.per)
    if setting.as_percent:
        title = setting.label or f"Cloud cost as % of {unit_words(setting.per)}"
        reference = setting.reference or "saas"
    else:
        title = setting.label or f"Cost per {unit}"
        reference = setting.reference or guess_reference(setting.name, setting.per)
    return UnitDefinition(
        name=setting.name,
        metric=setting.per,
        cost=cost,
        metric_scope=setting.scope,
        unit=unit,
        title=title,
        as_percent=setting.as_percent,
        reference=reference,
        configured=True,
        problem=problem,
    )


def definitions(db: sqlite_utils.Database, config: Config) -> list[UnitDefinition]:
    """The configured definitions (config order), then "cost per M" for every metric in the
    store that has organisation values or scoped ones (by name)."""
    services = queries.known_values(db, "service")
    found = [_configured(setting, services) for setting in config.unit_metrics]
    taken = {d.name for d in found}
    for metric in sorted({series.metric for series in queries.metric_catalog(db)}):
        name = f"{COST_PER}{metric}"
        if name in taken:
            continue
        found.append(
            UnitDefinition(
                name=name,
                metric=metric,
                cost=CostSide("all"),
                metric_scope=None,
                unit=unit_words(metric),
                title=f"Cost per {unit_words(metric)}",
                reference=guess_reference(name, metric),
            )
        )
    return found


def find_definition(
    found: list[UnitDefinition], text: str
) -> tuple[UnitDefinition | None, list[UnitDefinition]]:
    """The definition a user means: its name, a metric's name (its default "cost per M"), or
    a unique prefix of either. (None, candidates) when the prefix fits several, (None, [])
    when nothing fits."""
    wanted = text.strip().lower()
    for definition in found:
        if definition.name.lower() == wanted:
            return definition, []
    defaults = [d for d in found if not d.configured]
    for definition in defaults:
        if definition.metric.lower() == wanted:
            return definition, []
    matches = [
        d
        for d in found
        if d.name.lower().startswith(wanted)
        or (not d.configured and d.metric.lower().startswith(wanted))
    ]
    if len(matches) == 1:
        return matches[0], []
    return None, matches


def reference_check(definition: UnitDefinition, unit_cost: Fraction) -> ReferenceCheck | None:
    if definition.reference is None:
        return None
    reference = REFERENCES[definition.reference]
    value = unit_cost * 100 if definition.as_percent else unit_cost
    if reference.percent != definition.as_percent:
        return None  # a percent range says nothing about a cost per unit, and vice versa
    if value < Fraction(reference.low):
        position = "below"
    elif value > Fraction(reference.high):
        position = "above"
    else:
        position = "within"
    return ReferenceCheck(reference, position, value)
