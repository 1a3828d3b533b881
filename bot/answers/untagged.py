"""`/untagged`: from the command text to a reply. A plain function of (text, who, where,
store, config, today), shared by the Slack handler and `costbot ask`, like `/cost`.

`/untagged [all | team <team> | account <id or name>] [period]`. Bare `/untagged` in a team's
channel answers for that team (as `/cost` does), elsewhere for the whole organisation;
`/untagged all` is always the organisation. The period is `/cost`'s (default month to date).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import sqlite_utils

from bot.analytics import names
from bot.analytics.tag_compliance import (
    ORGANISATION,
    costliest_noncompliant,
    period_compliance,
)
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
from bot.config import Config, tag_key
from bot.periods import PERIOD_HELP, PeriodError, looks_like_period, parse_period
from bot.render import blocks
from bot.render.cost import Reply, render_notice
from bot.render.untagged import (
    LISTED_MAX,
    UntaggedReport,
    claimed_text,
    mark_claimed,
    render_untagged,
)
from bot.store import queries
from bot.store.queries import UNTAGGED

COMMAND = "/untagged"
TREND_DAYS = 30
USAGE = blocks.escape_mrkdwn(f"""*`/untagged`*: tagging compliance, and the costliest resources
missing required tags, each with a Claim button.
• `/untagged` in a team's channel: that team, month to date; elsewhere: the whole organisation
• `/untagged all [period]`: the whole organisation
• `/untagged team <team> [period]`: one team (`/untagged team untagged`: resources with no team tag)
• `/untagged account <id or name> [period]`: one account
• `/untagged help`: this message
Periods: {PERIOD_HELP}.
Examples: `/untagged team payments`, `/untagged account 111122223333 last-month`.""")


def answer_untagged(
    text: str,
    *,
    db: sqlite_utils.Database,
    config: Config,
    today: date,
    asker: Asker = NOBODY,
    with_chart: bool = False,
) -> Reply:
    """Answer one `/untagged` command, given its text as Slack sends it (entities and all).
    Bad input gives an ephemeral notice (`Reply.is_error`), never an exception. The answer
    has no chart (`with_chart` is accepted for the callers' common signature)."""
    try:
        return _dispatch(decode_slack_text(text).strip(), db, config, today, asker)
    except UsageError as problem:
        message = str(problem)
    except PeriodError as problem:
        message = blocks.escape_mrkdwn(str(problem))
    return Reply(render_notice(f"{message}\nType `/untagged help` for usage."), is_error=True)


def _dispatch(
    text: str, db: sqlite_utils.Database, config: Config, today: date, asker: Asker
) -> Reply:
    words = text.split()
    if not words:
        return _default(db, config, today, asker, None)
    verb, rest = words[0].lower(), words[1:]
    if verb in ("help", "-h", "--help", "?"):
        return Reply(render_notice(USAGE, title="Costbot: /untagged"))
    if verb in ("all", "org", "organisation", "organization"):
        return _report(db, config, today, "org", ORGANISATION, _only_period(verb, rest))
    if verb == "team":
        teams = _teams(db, config)
        name, period_text = subject_and_period(rest, "team", team_resolver(config, teams), COMMAND)
        return _team(db, config, today, name, period_text, teams)
    if verb == "account":
        accounts = _accounts(db)
        name, period_text = subject_and_period(
            rest, "account", lambda n: _account_is_named(n, accounts), COMMAND
        )
        return _account(db, config, today, name, period_text, accounts)
    if len(words) == 1 and looks_like_period(verb):
        return _default(db, config, today, asker, verb)
    # `/untagged payments [period]` reads naturally too: the words as a team name.
    teams = _teams(db, config)
    known_team = team_resolver(config, teams)
    if known_team(words[0]) or (len(words) > 1 and known_team(" ".join(words[:2]))):
        name, period_text = subject_and_period(words, "team", known_team, COMMAND)
        return _team(db, config, today, name, period_text, teams)
    raise UsageError(
        f"{blocks.code(words[0])} is not an `/untagged` scope: `all`, `team &lt;team&gt;` "
        "or `account &lt;id or name&gt;`, then a period."
    )


def _only_period(verb: str, rest: list[str]) -> str | None:
    if not rest:
        return None
    if len(rest) == 1 and looks_like_period(rest[0]):
        return rest[0]
    if len(rest) == 1:
        raise UsageError(f"{blocks.code(rest[0])} is not a period. Periods: {PERIOD_HELP}.")
    raise UsageError(
        f"I understood {blocks.code(f'/untagged {verb}')} but not "
        f"{blocks.code(' '.join(rest))}. Usage: `/untagged all [period]`; periods: {PERIOD_HELP}."
    )


def _teams(db: sqlite_utils.Database, config: Config) -> list[str]:
    return known_teams(config, queries.inventory_teams(db))


def _team(db, config, today, name: str, period_text: str | None, teams: list[str]) -> Reply:
    team = canonical_team(config, set(teams), name)
    if team is None:
        candidates = teams + [a for t in config.teams for a in t.aliases]
        raise did_you_mean("team", name, candidates)
    return _report(db, config, today, "team", team, period_text)


def _accounts(db: sqlite_utils.Database) -> list[names.Account]:
    """Sub-accounts with cost, named from the bill, and every account of the inventory."""
    known = [a for a in names.known_accounts(db) if a.kind == "sub"]
    ids = {a.account_id for a in known}
    for account_id in queries.inventory_accounts(db):
        if account_id not in ids:
            known.append(names.Account("", account_id, None, "sub"))
    return known


def _account_is_named(name: str, accounts: list[names.Account]) -> bool:
    match = names.match_account(name, accounts, "sub")
    return match.account is not None or bool(match.candidates)


def _account(db, config, today, name: str, period_text, accounts: list[names.Account]) -> Reply:
    match = names.match_account(name, accounts, "sub")
    if match.candidates:
        choices = [blocks.code(a.display) for a in match.candidates]
        raise UsageError(
            f"{blocks.code(name)} names {len(match.candidates)} accounts: {listed(choices)}. "
            f"Which one? Ask by id, e.g. "
            f"{blocks.code(f'/untagged account {match.candidates[0].account_id}')}."
        )
    if match.account is None:
        candidates = sorted({a.name for a in accounts if a.name}) + [a.account_id for a in accounts]
        raise did_you_mean("account", name, candidates)
    return _report(
        db, config, today, "account", match.account.account_id, period_text, match.account.display
    )


def _default(db, config, today, asker: Asker, period_text: str | None) -> Reply:
    """Bare `/untagged`: the channel's team in a team's channel, else the organisation."""
    team = config.team_for_channel(asker.channel_id, asker.channel_name)
    if team is not None:
        return _report(db, config, today, "team", team.name, period_text)
    return _report(db, config, today, "org", ORGANISATION, period_text)


def _subject(kind: str, value: str, display: str | None) -> str:
    if kind == "org":
        return "the organisation"
    if kind == "team":
        return "resources with no team tag" if value == UNTAGGED else f"team {value}"
    return f"account {display or value}"


def _report(
    db: sqlite_utils.Database,
    config: Config,
    today: date,
    kind: str,
    value: str,
    period_text: str | None,
    display: str | None = None,
) -> Reply:
    period = parse_period(period_text, today)
    noncompliant = costliest_noncompliant(
        db,
        config,
        period.start,
        period.end,
        scope="all" if kind == "org" else kind,
        value=None if kind == "org" else value,
        limit=LISTED_MAX,
        # Resource-level cost is loaded through the last day exported: a month to date
        # counts exactly its month's rows.
        month_to_date=period.kind == "mtd",
    )
    compliance = period_compliance(db, config, noncompliant.period.months, kind, value)
    report = UntaggedReport(
        subject=_subject(kind, value, display),
        kind=kind,
        value=value,
        period=period,
        counted=noncompliant.period,
        compliance=compliance,
        noncompliant=noncompliant,
        target=config.tag_policy.target,
        required_tags=tuple(config.tag_policy.required_tags),
        exempt_tag=config.tag_policy.exempt_tag,
        trend=_trend(db, kind, value, today),
        today=today,
        currency=config.currency,
    )
    return Reply(render_untagged(report))


def _trend(db: sqlite_utils.Database, kind: str, value: str, today: date):
    """(day, share of cost compliant) of the days the sync job stored, last 30 days."""
    rows = queries.compliance_trend(db, kind, value, today - timedelta(days=TREND_DAYS))
    return tuple(
        (date.fromisoformat(row["day"]), Decimal(row["compliant_cost_micros"]) / row["cost_micros"])
        for row in rows
        if row["cost_micros"] and row["day"] <= today.isoformat()
    )


# ---- the demo's preview (bot/demo.py)

DEMO_CLAIMER = "U0DEMO"


def preview_untagged(
    db: sqlite_utils.Database, config: Config, today: date
) -> list[tuple[str, str, dict]]:
    """(title, description, payload) of `/untagged` as `costbot demo` shows it: the
    organisation, one team, a bad input, and the message after a claim of its costliest
    claimable resource (how it reads; the demo tags nothing)."""
    examples = [
        ("", "the whole organisation, month to date, with a Claim button per resource"),
        ("team payments last-month", "one team over a finished month"),
        ("team paymnts", "a misspelt team: did you mean ...?"),
    ]
    shown = []
    for text, description in examples:
        reply = answer_untagged(text, db=db, config=config, today=today)
        shown.append((f"/untagged {text}".strip(), description, reply.payload))
    first = shown[0][2]
    claimable = next(
        (
            r
            for r in first["metadata"]["event_payload"]["costliest"]
            if r["in_inventory"] and r["arn"]
        ),
        None,
    )
    if claimable is not None:
        written = {key: _demo_value(key, claimable) for key in config.tag_policy.required_tags}
        team = config.canonical_team(written.get(config.tag_keys[0])) if config.tag_keys else None
        note = claimed_text(DEMO_CLAIMER, claimable["resource_id"], team, written)
        claimed = {**first, "blocks": mark_claimed(first["blocks"], claimable["arn"], note)}
        shown.append(
            (
                "/untagged after a claim",
                "someone pressed Claim and chose the tags: the resource's line says who claimed "
                "it and what was written, and its button is gone",
                claimed,
            )
        )
    return shown


def _demo_value(key: str, resource: dict) -> str:
    """A plausible value for the demo's claim: the resource's team for the team tag."""
    team = resource["team"] if resource["team"] != UNTAGGED else "platform"
    samples = {"team": team, "environment": "dev", "costcenter": "CC-1042"}
    return samples.get(tag_key(key), "checkout")
