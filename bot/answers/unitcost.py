"""`/unitcost [metric] [team] [period]`: from the command text to a reply. A plain function
of (text, store, config, today), shared by the Slack handler and `costbot ask`.

- `/unitcost`: every unit metric month to date, each compared with the same days of the
  previous period (month to date: the same days of last month; see `Period.previous`).
- `/unitcost METRIC [period]`: one unit metric (its name, its metric's name, or a unique
  prefix) with its change, gaps, reference range and weekly trend chart.
- `/unitcost METRIC TEAM [period]`: the team's cost over the metric's values for that team
  (a name that is no team but a `product` tag value: that product's cost).
- `/unitcost TEAM [period]`: every unit metric that has values for the team.
"""

from __future__ import annotations

from datetime import date

import sqlite_utils

from bot.analytics import unit_cost
from bot.analytics.unit_cost import UnitCostError, UnitDefinition
from bot.answers.common import preview_answers
from bot.answers.cost import Asker, decode_slack_text
from bot.config import Config
from bot.periods import PERIOD_HELP, Period, PeriodError, looks_like_period, parse_period
from bot.render import blocks
from bot.render.cost import CHART_PLACEHOLDER, Reply, render_notice
from bot.render.preview import PreviewMessage
from bot.render.unitcost import render_overview, render_unit_figures, unit_chart
from bot.store import queries

USAGE = blocks.escape_mrkdwn(f"""*`/unitcost`*: cloud cost per unit of business volume.
• `/unitcost`: every unit metric, month to date, with its change
• `/unitcost <metric> [team] [period]`: one metric (name or unique prefix) with its weekly trend
• `/unitcost <team> [period]`: every unit metric that has values for a team
• `/unitcost help`: this message
Periods: {PERIOD_HELP}. Examples: `/unitcost api_requests`, `/unitcost orders payments last-month`.
Unit cost = cost / volume, both summed over the days that have both.""")
MAX_LISTED = 10


class _Notice(ValueError):
    """Bad input; the message is plain text (escaped when shown)."""


def answer_unitcost(
    text: str,
    *,
    db: sqlite_utils.Database,
    config: Config,
    today: date,
    asker: Asker | None = None,
    with_chart: bool = True,
) -> Reply:
    """Answer one `/unitcost` command, given its text as Slack sends it. Bad input gives an
    ephemeral one-line notice (`Reply.is_error`), never an exception. `asker` is unused (the
    same signature as `/cost`, for `costbot ask`)."""
    try:
        return _dispatch(decode_slack_text(text).strip(), db, config, today, with_chart)
    except (_Notice, UnitCostError, PeriodError) as problem:
        message = blocks.escape_mrkdwn(str(problem))
    return Reply(render_notice(f"{message}\nType `/unitcost help` for usage."), is_error=True)


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    more = len(items) - MAX_LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def _dispatch(
    text: str, db: sqlite_utils.Database, config: Config, today: date, chart: bool
) -> Reply:
    words = text.split()
    if words and words[0].lower() in ("help", "-h", "--help", "?"):
        return Reply(render_notice(USAGE, title="Costbot: /unitcost"))
    period_text = None
    if words and looks_like_period(words[-1]):
        period_text, words = words[-1], words[:-1]
    period = parse_period(period_text, today)
    found = unit_cost.definitions(db, config)
    if not words:
        return _overview(db, config, period, None)
    definition, candidates = unit_cost.find_definition(found, words[0])
    if definition is None and not candidates:
        scope = _scope(db, config, " ".join(words))
        if scope is not None:
            return _overview(db, config, period, scope)
    if definition is None:
        raise _unknown_metric(words[0], candidates, found)
    team = product = None
    if len(words) > 1:
        scope = _scope(db, config, " ".join(words[1:]))
        if scope is None:
            raise _unknown_scope(db, config, " ".join(words[1:]), definition)
        team, product = scope
    subject = unit_cost.subject_of(definition, team, product)
    catalog = {(s.metric, s.scope) for s in queries.metric_catalog(db)}
    if (definition.metric, subject.metric_scope) not in catalog:
        raise _no_values(definition, subject.metric_scope, catalog)
    figures = unit_cost.unit_figures(db, config, definition, period, subject)
    if not chart:
        return Reply(render_unit_figures(figures))
    return Reply(render_unit_figures(figures, CHART_PLACEHOLDER), unit_chart(figures))


def _scope(
    db: sqlite_utils.Database, config: Config, name: str
) -> tuple[str | None, str | None] | None:
    """(team, None) or (None, product) for a name, None if it is neither."""
    teams = {t.name for t in config.teams} | set(queries.known_values(db, "team"))
    canonical = config.canonical_team(name)
    if canonical in teams:
        return canonical, None
    wanted = name.strip().lower()
    for product in queries.known_values(db, "product"):
        if product.lower() == wanted:
            return None, product
    return None


def _overview(
    db: sqlite_utils.Database,
    config: Config,
    period: Period,
    scope: tuple[str | None, str | None] | None,
) -> Reply:
    if not queries.metric_catalog(db):
        raise _Notice(
            "No business metrics are loaded yet: run `costbot ingest metrics FILE` "
            "(columns date,metric,value,scope)."
        )
    team, product = scope or (None, None)
    figures = unit_cost.overview(db, config, period, team, product)
    label = team or (f"product {product}" if product else None)
    if not figures and label:
        raise _Notice(f"No unit metric has values for {label}.")
    coverage = queries.data_range(db)
    shown_period = figures[0].period if figures else period
    return Reply(
        render_overview(
            figures,
            shown_period,
            label,
            coverage[1] if coverage else None,
            config.cost_metric,
            config.currency,
            without_values=[] if label else _without_values(db, config),
        )
    )


def _without_values(db: sqlite_utils.Database, config: Config) -> list[str]:
    """Configured unit metrics that cannot be shown yet, and why, for the listing."""
    catalog = {(s.metric, s.scope) for s in queries.metric_catalog(db)}
    missing = []
    for definition in unit_cost.definitions(db, config):
        if definition.problem:
            missing.append(f"{definition.name}: {definition.problem}")
        elif (definition.metric, definition.metric_scope) not in catalog:
            scope = f" for {definition.metric_scope}" if definition.metric_scope else ""
            missing.append(f"{definition.name}: no {definition.metric} values{scope} yet")
    return missing


def _unknown_metric(
    name: str, candidates: list[UnitDefinition], found: list[UnitDefinition]
) -> _Notice:
    """`candidates`: the definitions a prefix fits (several); `found`: every definition."""
    if candidates:
        listed = _listed([d.name for d in candidates])
        return _Notice(f"'{blocks.shorten(name)}' could mean: {listed}. Which one?")
    if not found:
        return _Notice(
            f"I don't know the unit metric '{blocks.shorten(name)}', and no business metrics "
            "are loaded yet: run `costbot ingest metrics FILE`."
        )
    listed = _listed([d.name for d in found])
    return _Notice(
        f"I don't know the unit metric or team '{blocks.shorten(name)}'. Unit metrics: {listed}."
    )


def _unknown_scope(
    db: sqlite_utils.Database, config: Config, name: str, definition: UnitDefinition
) -> _Notice:
    scopes = sorted(
        s.scope
        for s in queries.metric_catalog(db)
        if s.metric == definition.metric and s.scope is not None
    )
    known = f" {definition.metric} has values for: {_listed(scopes)}." if scopes else ""
    return _Notice(f"I don't know the team '{blocks.shorten(name)}'.{known}")


def _no_values(
    definition: UnitDefinition, scope: str | None, catalog: set[tuple[str, str | None]]
) -> _Notice:
    scopes = sorted(s or "the organisation" for m, s in catalog if m == definition.metric)
    where = f"for {scope}" if scope else "for the whole organisation"
    if not scopes:
        return _Notice(
            f"{definition.name} divides by {definition.metric}, which has no values yet: "
            "load them with `costbot ingest metrics FILE`."
        )
    return _Notice(
        f"{definition.metric} has no values {where}; it has values for: {_listed(scopes)}."
    )


def preview_unitcost(
    db: sqlite_utils.Database, config: Config, today: date
) -> list[PreviewMessage]:
    """`/unitcost` answers for the demo preview (bot/demo.py): bare, one metric, a team, a
    notice. Charts are keyed by their file names, as the preview expects."""
    examples = [
        ("", "every unit metric, month to date"),
        ("api_requests", "one unit metric with its weekly trend and reference range"),
        ("api_requests payments last-month", "a team's cost over its own API requests"),
        ("orders 90d", "cost per order over 90 days"),
        ("payments", "every unit metric with values for a team"),
        ("widgets", "an unknown metric: what exists"),
    ]
    return preview_answers(
        "/unitcost", answer_unitcost, examples, db=db, config=config, today=today
    )
