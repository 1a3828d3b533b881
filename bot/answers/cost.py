"""`/cost`: from the command text to a reply. Plain function of (text, who, where, store,
config, today), shared by the Slack handler and `costbot ask`."""

from __future__ import annotations

from datetime import date

import sqlite_utils

from bot.analytics import names
from bot.analytics.cost_report import rank, summarise
from bot.answers.common import (
    NOBODY,
    Asker,
    UsageError,
    canonical_team,
    decode_slack_text,
    did_you_mean,
    known_teams,
    listed,
    subject_and_period,
    team_resolver,
)
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

# mrkdwn: the `<placeholders>` are escaped, or Slack would read them as links.
USAGE = blocks.escape_mrkdwn(f"""*`/cost`*: cloud cost, to the cent, from the cost store.
• `/cost` in a team's channel: that team, month to date
• `/cost team <team> [period]`: a team's total, change, top services, budget, forecast, chart
• `/cost service <service> [period]`: a service (its name, or `ec2`, `s3`, `gcs` ...), by team
• `/cost account <id or name> [period]`: an account, split by team
• `/cost account billing <id or name> [period]`: everything billed to a billing account
• `/cost top [teams|services|accounts] [period]`: the ranking with change vs the previous period
• `/cost help`: this message
Periods: {PERIOD_HELP}. Examples: `/cost team payments last-month`, `/cost top services 30d`.""")

RANKINGS = {"teams": "team", "services": "service", "accounts": "account"}


def answer_cost(
    text: str,
    *,
    db: sqlite_utils.Database,
    config: Config,
    today: date,
    asker: Asker = NOBODY,
    with_chart: bool = True,
) -> Reply:
    """Answer one `/cost` command, given its text as Slack sends it (entities and all).
    Bad input gives an ephemeral notice (`Reply.is_error`), never an exception."""
    try:
        return _dispatch(decode_slack_text(text).strip(), db, config, today, asker, with_chart)
    except UsageError as problem:
        message = str(problem)
    except PeriodError as problem:
        # Period messages are plain text that may quote what was typed.
        message = blocks.escape_mrkdwn(str(problem))
    return Reply(render_notice(f"{message}\nType `/cost help` for usage."), is_error=True)


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
        teams = _known_teams(db, config)
        name, period_text = subject_and_period(rest, "team", team_resolver(config, teams))
        return _team_answer(db, config, today, name, period_text, chart, teams)
    if verb == "service":
        services = queries.known_values(db, "service")
        name, period_text = subject_and_period(
            rest, "service", lambda n: _service_is_named(n, services)
        )
        return _service_answer(db, config, today, name, period_text, chart, services)
    if verb == "account":
        kind = None
        if len(rest) > 1 and rest[0].lower() == "billing":
            kind, rest = "billing", rest[1:]
        accounts = names.known_accounts(db)
        name, period_text = subject_and_period(
            rest, "account", lambda n: _account_is_named(n, accounts, kind)
        )
        return _account_answer(db, config, today, name, period_text, chart, accounts, kind)
    if verb == "top":
        return _top_answer(db, config, today, rest, chart)
    if len(words) == 1 and looks_like_period(verb):
        return _default_answer(db, config, today, asker, verb, chart)
    # `/cost payments [period]` reads naturally too: try the words as a team name.
    teams = _known_teams(db, config)
    known_team = team_resolver(config, teams)
    if known_team(words[0]) or (len(words) > 1 and known_team(" ".join(words[:2]))):
        name, period_text = subject_and_period(words, "team", known_team)
        return _team_answer(db, config, today, name, period_text, chart, teams)
    raise UsageError(f"{blocks.code(words[0])} is not a `/cost` command.")


def _known_teams(db: sqlite_utils.Database, config: Config) -> list[str]:
    return known_teams(config, queries.known_values(db, "team"))


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


def _team_answer(
    db: sqlite_utils.Database,
    config: Config,
    today: date,
    name: str,
    period_text: str | None,
    chart: bool,
    teams: list[str],
) -> Reply:
    team = canonical_team(config, set(teams), name)
    if team is None:
        candidates = teams + [a for t in config.teams for a in t.aliases]
        raise did_you_mean("team", name, candidates)
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


def _service_is_named(name: str, services: list[str]) -> bool:
    match = names.match_service(name, services)
    return match.found or bool(match.candidates)


def _service_answer(
    db: sqlite_utils.Database,
    config: Config,
    today: date,
    name: str,
    period_text: str | None,
    chart: bool,
    services: list[str],
) -> Reply:
    match = names.match_service(name, services)
    if match.candidates:
        choices = []
        for candidate in match.candidates:
            short = names.short_name(candidate)
            choices.append(blocks.code(candidate) + (f" ({blocks.code(short)})" if short else ""))
        example = names.short_name(match.candidates[0]) or match.candidates[0]
        raise UsageError(
            f"{blocks.code(name)} could mean {len(match.candidates)} services: {listed(choices)}. "
            f"Which one? e.g. {blocks.code(f'/cost service {example}')}."
        )
    if match.meant:
        meant = " or ".join(blocks.code(m) for m in match.meant)
        hint = f" {match.hint}" if match.hint else ""
        raise UsageError(f"{blocks.code(name)} means {meant}, with no cost in the store.{hint}")
    if match.service is None:
        raise did_you_mean("service", name, services)
    summary = summarise(
        db,
        subject_kind="service",
        subject=match.service,
        scope=Scope(service=match.service),
        period=_covered_period(db, period_text, today),
        breakdown_by="team",
        metric=config.cost_metric,
    )
    return _with_chart(summary, chart)


def _account_is_named(name: str, accounts: list[names.Account], kind: str | None) -> bool:
    match = names.match_account(name, accounts, kind)
    return match.account is not None or bool(match.candidates)


def _account_command(account: names.Account) -> str:
    billing = "billing " if account.kind == "billing" else ""
    return f"/cost account {billing}{account.account_id}"


def _account_answer(
    db: sqlite_utils.Database,
    config: Config,
    today: date,
    name: str,
    period_text: str | None,
    chart: bool,
    accounts: list[names.Account],
    kind: str | None,
) -> Reply:
    match = names.match_account(name, accounts, kind)
    if match.candidates:
        choices = [
            f"{a.kind_label} {blocks.code(a.account_id)} ({blocks.escape_mrkdwn(a.provider)})"
            for a in match.candidates
        ]
        raise UsageError(
            f"{blocks.code(name)} names {len(match.candidates)} accounts: {listed(choices)}. "
            f"Which one? Ask by id, e.g. {blocks.code(_account_command(match.candidates[0]))}."
        )
    account = match.account
    if account is None:
        candidates = sorted({a.name for a in accounts if a.name}) + [a.account_id for a in accounts]
        raise did_you_mean("account", name, candidates)
    summary = summarise(
        db,
        subject_kind="account",
        subject=f"{account.kind_label} {account.display}",
        scope=account.scope,
        period=_covered_period(db, period_text, today),
        breakdown_by="team",
        metric=config.cost_metric,
    )
    reply = _with_chart(summary, chart)
    if match.also is not None:
        other = match.also
        what = "everything billed to it" if other.kind == "billing" else "its own usage only"
        note = (
            f"{blocks.code(account.account_id)} is also the {other.kind_label} "
            f"{blocks.escape_mrkdwn(blocks.shorten(other.display))}; for {what}: "
            f"{blocks.code(_account_command(other))}"
        )
        content = reply.payload["blocks"]
        reply.payload["blocks"] = [*content[:2], blocks.context([note]), *content[2:]]
    return reply


def _with_chart(summary, chart: bool) -> Reply:
    if not chart:
        return Reply(render_summary(summary))
    return Reply(render_summary(summary, CHART_PLACEHOLDER), summary_chart(summary))


def _top_answer(db, config, today, words: list[str], chart: bool) -> Reply:
    by, period_text = "team", None
    for index, word in enumerate(words):
        lowered = word.lower()
        if lowered in RANKINGS or lowered in RANKINGS.values():
            by = RANKINGS.get(lowered, lowered)
        elif looks_like_period(lowered) and period_text is None:
            period_text = lowered
        elif looks_like_period(lowered):
            raise UsageError(
                f"One period at a time: {blocks.code(period_text)} or {blocks.code(word)}?"
            )
        elif looks_like_period("-".join(words[index : index + 2]).lower()):
            joined = "-".join(words[index : index + 2]).lower()
            raise UsageError(f"Periods are one word: {blocks.code(f'/cost top {by}s {joined}')}.")
        else:
            raise UsageError(
                f"`/cost top` ranks `teams`, `services` or `accounts`, not {blocks.code(word)}."
            )
    period = _covered_period(db, period_text, today)
    ranking = rank(db, period, by, config.cost_metric)
    payload = render_ranking(ranking, chart_file_id=CHART_PLACEHOLDER if chart else None)
    return Reply(payload, build_ranking_chart(ranking) if chart else None)


def _default_answer(db, config, today, asker: Asker, period_text, chart) -> Reply:
    """Bare `/cost`: the channel's team, else the asker's team, else help (saying why)."""
    team = config.team_for_channel(asker.channel_id, asker.channel_name)
    teams = [] if team is not None else config.teams_of_user(asker.user_id)
    if team is None and len(teams) == 1:
        team = teams[0]
    if team is not None:
        return _team_answer(
            db, config, today, team.name, period_text, chart, _known_teams(db, config)
        )
    if len(teams) > 1:
        period = f" {period_text}" if period_text else ""
        asks = ", ".join(blocks.code(f"/cost team {t.name}{period}") for t in teams)
        why = (
            f"You are in {len(teams)} teams and this channel belongs to none of them, "
            f"so ask for one: {asks}.\n\n"
        )
        return Reply(render_notice(why + USAGE, title="Costbot: /cost"))
    return Reply(render_notice(USAGE, title="Costbot: /cost"))
