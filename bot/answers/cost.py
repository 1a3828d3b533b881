"""`/cost`: from the command text to a reply. Plain function of (text, who, where, store,
config, today), shared by the Slack handler and `costbot ask`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlite_utils

from bot.analytics.cost_report import rank, summarise
from bot.config import Config
from bot.periods import (
    PERIOD_HELP,
    Period,
    PeriodError,
    format_range,
    looks_like_period,
    parse_period,
)
from bot.render import blocks
from bot.render.cost import (
    CHART_PLACEHOLDER,
    Reply,
    render_notice,
    render_ranking,
    render_summary,
    summary_chart,
)
from bot.render.cost import (
    ranking_chart as build_ranking_chart,
)
from bot.store import queries
from bot.store.queries import UNTAGGED, Scope

USAGE = f"""*`/cost`*: cloud cost, to the cent, from the cost store.
• `/cost` in a team's channel: that team, month to date
• `/cost team <team> [period]`: a team's total, change, top services, budget, forecast, chart
• `/cost service <service> [period]`: a service, split by team
• `/cost account <id or name> [period]`: an account, split by team
• `/cost top [teams|services|accounts] [period]`: the ranking with change vs the previous period
• `/cost help`: this message
Periods: {PERIOD_HELP}. Examples: `/cost team payments last-month`, `/cost top services 30d`."""

RANKINGS = {"teams": "team", "services": "service", "accounts": "account"}


class UsageError(ValueError):
    """A problem with what the user typed; the message tells them what to type instead."""


@dataclass(frozen=True)
class Asker:
    user_id: str | None = None
    channel_id: str | None = None
    channel_name: str | None = None


def answer_cost(
    text: str,
    *,
    db: sqlite_utils.Database,
    config: Config,
    today: date,
    asker: Asker = Asker(),
    with_chart: bool = True,
) -> Reply:
    """Answer one `/cost` command. Bad input gives an ephemeral notice, never an exception."""
    try:
        return _dispatch(text.strip(), db, config, today, asker, with_chart)
    except (UsageError, PeriodError) as problem:
        return Reply(render_notice(f"{problem}\nType `/cost help` for usage."))


def _dispatch(
    text: str, db: sqlite_utils.Database, config: Config, today: date, asker: Asker, chart: bool
) -> Reply:
    words = text.split()
    if not words:
        return _default_answer(db, config, today, asker, None, chart)
    verb, rest = words[0].lower(), words[1:]
    if verb in ("help", "-h", "--help", "?"):
        return Reply(render_notice(USAGE, title="Costbot: /cost"))
    if verb == "team":
        name, period_text = _split_period(rest, "team")
        return _team_answer(db, config, today, name, period_text, chart)
    if verb == "service":
        name, period_text = _split_period(rest, "service")
        return _service_answer(db, config, today, name, period_text, chart)
    if verb == "account":
        name, period_text = _split_period(rest, "account")
        return _account_answer(db, config, today, name, period_text, chart)
    if verb == "top":
        return _top_answer(db, config, today, rest, chart)
    if len(words) == 1 and looks_like_period(verb):
        return _default_answer(db, config, today, asker, verb, chart)
    # `/cost payments [period]` reads naturally too: try the words as a team name.
    name, period_text = _split_period(words, "team")
    if _known_team(db, config, name):
        return _team_answer(db, config, today, name, period_text, chart)
    raise UsageError(f"`{blocks.escape_mrkdwn(words[0])}` is not a `/cost` command.")


def _split_period(words: list[str], what: str) -> tuple[str, str | None]:
    if words and looks_like_period(words[-1]) and len(words) > 1:
        return " ".join(words[:-1]), words[-1]
    if not words or (len(words) == 1 and looks_like_period(words[0])):
        raise UsageError(f"Which {what}? e.g. `/cost {what} <{what} name> [period]`.")
    return " ".join(words), None


def _covered_period(db: sqlite_utils.Database, text: str | None, today: date) -> Period:
    """The period asked for, clipped to the days the store holds: an answer of $0.00 for a
    month before the data starts would look like a fact, and a day not exported yet is
    unknown, not $0 (with export lag, `mtd` ends at the last day with data)."""
    period = parse_period(text, today)
    coverage = queries.data_range(db)
    if coverage is None:
        raise UsageError("No cost data is loaded yet: run `costbot ingest focus PATH`.")
    first, last = coverage
    clipped = period.clipped(first, last)
    if clipped.start > clipped.end:
        raise UsageError(
            f"No cost data for {period.label}: the store holds {format_range(first, last)}."
        )
    return clipped


def _known_teams(db: sqlite_utils.Database, config: Config) -> list[str]:
    return sorted({t.name for t in config.teams} | set(queries.known_values(db, "team")))


def _known_team(db: sqlite_utils.Database, config: Config, name: str) -> str | None:
    if name.strip().lower() in (UNTAGGED, "untagged"):
        return UNTAGGED
    canonical = config.canonical_team(name)
    return canonical if canonical in _known_teams(db, config) else None


def _did_you_mean(kind: str, name: str, candidates: list[str]) -> UsageError:
    suggestions = queries.closest(name, candidates)
    hint = (
        "Did you mean " + " or ".join(f"`{blocks.escape_mrkdwn(s)}`" for s in suggestions) + "?"
        if suggestions
        else f"Known {kind}s: "
        + ", ".join(f"`{blocks.escape_mrkdwn(c)}`" for c in candidates[:15])
        + (f" and {len(candidates) - 15} more" if len(candidates) > 15 else "")
    )
    return UsageError(f"I don't know the {kind} `{blocks.escape_mrkdwn(name)}`. {hint}")


def _team_answer(
    db: sqlite_utils.Database,
    config: Config,
    today: date,
    name: str,
    period_text: str | None,
    chart: bool,
) -> Reply:
    team = _known_team(db, config, name)
    if team is None and period_text is None and " " in name:
        # `team payments yesterday`: a known team followed by something that is not a period.
        head, last = name.rsplit(" ", 1)
        if _known_team(db, config, head):
            parse_period(last, today)
    if team is None:
        candidates = _known_teams(db, config) + [a for t in config.teams for a in t.aliases]
        raise _did_you_mean("team", name, candidates)
    configured = config.team(team) if team != UNTAGGED else None
    summary = summarise(
        db,
        subject_kind="team",
        subject=team,
        scope=Scope(team=team),
        period=_covered_period(db, period_text, today),
        breakdown_by="service",
        metric=config.cost_metric,
        monthly_budget_micros=configured.monthly_budget_micros if configured else None,
        budget_currency=config.currency,
    )
    return _with_chart(summary, chart)


def _service_answer(
    db: sqlite_utils.Database,
    config: Config,
    today: date,
    name: str,
    period_text: str | None,
    chart: bool,
) -> Reply:
    service = queries.resolve_service(db, name)
    if service is None:
        raise _did_you_mean("service", name, queries.known_values(db, "service"))
    summary = summarise(
        db,
        subject_kind="service",
        subject=service,
        scope=Scope(service=service),
        period=_covered_period(db, period_text, today),
        breakdown_by="team",
        metric=config.cost_metric,
    )
    return _with_chart(summary, chart)


def _account_answer(
    db: sqlite_utils.Database,
    config: Config,
    today: date,
    name: str,
    period_text: str | None,
    chart: bool,
) -> Reply:
    scope = queries.resolve_account(db, name)
    names = queries.account_names(db)
    if scope is None:
        candidates = sorted(names.values()) + queries.known_values(db, "account")
        raise _did_you_mean("account", name, candidates)
    account = scope.account or scope.billing_account
    label = names.get(account)
    summary = summarise(
        db,
        subject_kind="account",
        subject=f"{label} ({account})" if label and label != account else account,
        scope=scope,
        period=_covered_period(db, period_text, today),
        breakdown_by="team",
        metric=config.cost_metric,
    )
    return _with_chart(summary, chart)


def _with_chart(summary, chart: bool) -> Reply:
    if not chart:
        return Reply(render_summary(summary))
    return Reply(render_summary(summary, CHART_PLACEHOLDER), summary_chart(summary))


def _top_answer(db, config, today, words: list[str], chart: bool) -> Reply:
    by, period_text = "team", None
    for word in words:
        lowered = word.lower()
        if lowered in RANKINGS or lowered in RANKINGS.values():
            by = RANKINGS.get(lowered, lowered)
        elif looks_like_period(lowered):
            period_text = lowered
        else:
            raise UsageError(
                f"`/cost top` ranks `teams`, `services` or `accounts`, not "
                f"`{blocks.escape_mrkdwn(word)}`."
            )
    period = _covered_period(db, period_text, today)
    ranking = rank(db, period, by, config.cost_metric)
    payload = render_ranking(ranking, chart_file_id=CHART_PLACEHOLDER if chart else None)
    return Reply(payload, build_ranking_chart(ranking) if chart else None)


def _default_answer(db, config, today, asker: Asker, period_text, chart) -> Reply:
    """Bare `/cost`: the channel's team, else the asker's team, else help."""
    team = config.team_for_channel(asker.channel_id, asker.channel_name)
    if team is None:
        teams = config.teams_of_user(asker.user_id)
        team = teams[0] if len(teams) == 1 else None
    if team is None:
        return Reply(render_notice(USAGE, title="Costbot: /cost"))
    return _team_answer(db, config, today, team.name, period_text, chart)
