"""Block Kit for the cost champions: the `/champions` leaderboard, a team's record, the monthly
celebration, and the savings-by-team chart. Everything from data or users (team names, what
was done) is escaped; lists are cut with "and N more" to stay within Block Kit's limits."""

from __future__ import annotations

from typing import Any

from bot.analytics.champions import (
    SOURCE_LABELS,
    Entry,
    Leaderboard,
    MonthRecord,
    Win,
    business_framing,
    format_points,
    month_name,
    month_span,
)
from bot.config import Config
from bot.money import format_money
from bot.periods import format_range
from bot.render import blocks
from bot.render.charts import ranking_bar_chart
from bot.render.cost import CHART_PLACEHOLDER, Chart

TEAMS_SHOWN = 10
PEOPLE_SHOWN = 10
WINS_PER_ENTRY = 5
CELEBRATED_TEAMS = 3
CELEBRATED_PEOPLE = 5
NAME_MAX = 60
WHAT_MAX = 200

HOW_TO_GET_ON_THE_BOARD = (
    "How to get on the board: stop an idle instance from its notice (Stop), keep your "
    "resources tagged so the tag policy never has to stop them (`/untagged`), bring your "
    "team's cost per unit down (`/unitcost`), acknowledge and fix anomalies within days, "
    "and thank a colleague with `/kudos @someone what they did $saved/month`."
)


def team_name(name: str) -> str:
    return blocks.escape_mrkdwn(blocks.shorten(name, NAME_MAX))


def person_name(user_id: str) -> str:
    """A Slack mention (`<@U123>`); the id is escaped, so data cannot forge a link."""
    return f"<@{blocks.escape_mrkdwn(blocks.shorten(user_id, NAME_MAX))}>"


def entry_name(entry: Entry) -> str:
    return team_name(entry.name) if entry.kind == "team" else person_name(entry.name)


def win_line(win: Win, currency: str, *, credit: bool = True) -> str:
    """One win in mrkdwn: what was done, by whom (unless `credit` is False: a person's own
    list), and its dollars a month and a year."""
    what = blocks.escape_mrkdwn(blocks.shorten(win.what, WHAT_MAX))
    label = SOURCE_LABELS.get(win.source, win.source)
    if win.source == "kudos" and win.status == "reported":
        label = "kudos, not confirmed yet"
    who = f" by {person_name(win.person)}" if win.person and credit else ""
    counted = win.counted_micros
    if counted and win.recurring:
        amount = (
            f": {format_money(counted, currency)}/month "
            f"({format_money(win.annual_micros, currency)}/year)"
        )
    elif counted:
        amount = f": {format_money(counted, currency)} avoided once"
    elif win.monthly_savings_micros:
        amount = f" ({format_money(win.monthly_savings_micros, currency)}/month claimed)"
    else:
        amount = ""
    return f"{what}{who} _({label})_{amount}"


def entry_text(place: int, entry: Entry, currency: str, wins_shown: int = WINS_PER_ENTRY) -> str:
    """A team or person: place, name, points, the lines that explain them, their wins."""
    team = f" ({team_name(entry.team)})" if entry.kind == "person" and entry.team else ""
    head = f"*{place}. {entry_name(entry)}*{team}: *{format_points(entry.points)} points*"
    explained = "\n".join(f"    {blocks.escape_mrkdwn(line)}" for line in entry.lines)
    lines = [win_line(w, currency, credit=entry.kind == "team") for w in entry.wins]
    budget = blocks.SECTION_TEXT_MAX - len(head) - len(explained) - 2
    wins = blocks.bulleted_list(lines, max_chars=budget, max_items=wins_shown, escape=False)
    return "\n".join(part for part in (head, explained, wins if lines else "") if part)


def _ranked_sections(
    title: str, entries: list[Entry], shown: int, currency: str, wins_shown: int
) -> list[dict[str, Any]]:
    if not entries:
        return []
    content = [blocks.section(f"*{title}*")]
    for place, entry in enumerate(entries[:shown], 1):
        content.append(blocks.section(entry_text(place, entry, currency, wins_shown)))
    if len(entries) > shown:
        content.append(blocks.context([f"_…and {len(entries) - shown:,} more_"]))
    return content


def totals_text(board: Leaderboard, config: Config) -> str:
    currency = config.currency
    parts = []
    if board.monthly_micros:
        parts.append(f"*{blocks.escape_mrkdwn(business_framing(board.monthly_micros, config))}*")
    if board.one_off_micros:
        parts.append(
            f"plus {format_money(board.one_off_micros, currency)} of anomaly cost avoided once"
        )
    return " ".join(parts) or "No savings measured yet: points come from tagging and kudos."


def period_text(board: Leaderboard) -> str:
    so_far = " (so far)" if board.through < month_span(board.month)[1] else ""
    return f"{month_name(board.month)}: {format_range(board.start, board.through)}{so_far}"


def fallback_text(board: Leaderboard, config: Config) -> str:
    if board.empty:
        return f"Cost champions, {month_name(board.month)}: no wins yet."
    leader = board.teams[0] if board.teams else board.people[0]
    saved = format_money(board.monthly_micros, config.currency)
    return (
        f"Cost champions, {month_name(board.month)}: {entry_name(leader)} leads with "
        f"{format_points(leader.points)} points; {saved}/month saved in all."
    )


def scoring_note(config: Config) -> str:
    weights = config.champions.weights
    return (
        f"Score: {weights.savings:g} point{'' if weights.savings == 1 else 's'} per dollar"
        f" saved a year (measured, or confirmed kudos), {weights.compliance_point:g} per point"
        f" of tagging compliance gained, {weights.kudos:g} per kudos."
        " Ties: more savings a year, then more wins, then the name."
    )


def render_leaderboard(board: Leaderboard, config: Config, chart_file_id: str | None = None):
    """The `/champions` answer for a month."""
    if board.empty:
        return render_empty(board, config)
    currency = config.currency
    content = [
        blocks.header(f"🏆 Cost champions, {month_name(board.month)}"),
        blocks.context([period_text(board)]),
        blocks.section(totals_text(board, config)),
        *_ranked_sections("Teams", board.teams, TEAMS_SHOWN, currency, 3),
        *_ranked_sections("People", board.people, PEOPLE_SHOWN, currency, 3),
    ]
    if chart_file_id and board.teams:
        content.append(
            blocks.image(
                savings_alt_text(board, currency),
                slack_file_id=chart_file_id,
                title=blocks.plain_safe(f"Savings a year by team, {month_name(board.month)}"),
            )
        )
    content.append(blocks.context([scoring_note(config)]))
    return blocks.message(fallback_text(board, config), content)


def render_empty(board: Leaderboard, config: Config, *, celebration: bool = False):
    """A month without wins: short and encouraging, never silence."""
    title = "Cost champions" + (" of " if celebration else ", ") + month_name(board.month)
    text = (
        f"No wins on the board for {month_name(board.month)} yet: the first one is waiting for you."
    )
    content = [
        blocks.header(f"🌱 {title}"),
        blocks.context([period_text(board)]),
        blocks.section(text),
        blocks.section(HOW_TO_GET_ON_THE_BOARD),
    ]
    return blocks.message(f"{title}: no wins yet. {HOW_TO_GET_ON_THE_BOARD}", content)


def render_celebration(
    board: Leaderboard, config: Config, *, team: str | None = None, with_chart: bool = True
):
    """The monthly celebration: top 3 teams, top people with what they did, the total saved
    in business terms. `team`: the version posted to a winning team's channel."""
    if board.empty:
        return render_empty(board, config, celebration=True)
    currency = config.currency
    content = [blocks.header(f"🎉 Cost champions of {month_name(board.month)}")]
    if team is not None:
        place = next((i for i, e in enumerate(board.teams, 1) if e.name == team), None)
        if place:
            content.append(
                blocks.section(f"Congratulations, *{team_name(team)}*: #{place} this month! 🥳")
            )
    content += [
        blocks.context([period_text(board)]),
        blocks.section(totals_text(board, config)),
        *_ranked_sections("Top teams", board.teams, CELEBRATED_TEAMS, currency, WINS_PER_ENTRY),
        *_ranked_sections("Top people", board.people, CELEBRATED_PEOPLE, currency, 2),
    ]
    if with_chart and board.teams:
        content.append(
            blocks.image(
                savings_alt_text(board, currency),
                slack_file_id=CHART_PLACEHOLDER,
                title=blocks.plain_safe(f"Savings a year by team, {month_name(board.month)}"),
            )
        )
    content.append(
        blocks.context([scoring_note(config), "The whole board: `/champions " + board.month + "`"])
    )
    return blocks.message(fallback_text(board, config), content)


def render_team_record(team: str, records: list[MonthRecord], config: Config):
    """A team's wins month by month (newest first)."""
    currency = config.currency
    lines = []
    for record in records:
        place = f"#{record.rank}" if record.rank else "not on the board"
        saved = ""
        if record.monthly_micros:
            saved = (
                f", {format_money(record.monthly_micros, currency)}/month saved "
                f"({format_money(record.monthly_micros * 12, currency)}/year)"
            )
        if record.one_off_micros:
            saved += f", {format_money(record.one_off_micros, currency)} avoided once"
        count = len(record.wins)
        head = (
            f"*{month_name(record.month)}*: {place}, {count} win{'s' if count != 1 else ''}"
            f"{saved}, {format_points(record.points)} points"
        )
        wins = [win_line(w, currency) for w in record.wins]
        lines.append((head, wins))
    content = [blocks.header(f"🏆 Cost champions: {blocks.plain_safe(team)}, by month")]
    for head, wins in lines:
        budget = blocks.SECTION_TEXT_MAX - len(head) - 1
        text = head
        if wins:
            text += "\n" + blocks.bulleted_list(wins, max_chars=budget, max_items=5, escape=False)
        content.append(blocks.section(text))
    if not any(r.wins for r in records):
        content.append(blocks.section(HOW_TO_GET_ON_THE_BOARD))
    return blocks.message(
        f"Cost champions: {blocks.escape_mrkdwn(team)}, the last {len(records)} months", content
    )


def savings_alt_text(board: Leaderboard, currency: str) -> str:
    top = ", ".join(
        f"{e.name} {format_money(e.annual_micros, currency)}"
        for e in board.teams[:5]
        if e.annual_micros
    )
    return (
        f"Bar chart of savings a year by team, {month_name(board.month)}: "
        f"{top or 'no savings measured'}."
    )


def savings_chart(board: Leaderboard, currency: str) -> Chart:
    """Savings a year by team (run-rates × 12 plus one-off amounts)."""
    teams = [e for e in board.teams if e.annual_micros]
    png = ranking_bar_chart(
        [e.name for e in teams],
        [e.annual_micros for e in teams],
        f"Savings a year by team, {month_name(board.month)}",
        currency=currency,
    )
    return Chart(
        png=png,
        title=blocks.plain_safe(f"Savings a year by team, {month_name(board.month)}"),
        alt_text=savings_alt_text(board, currency),
        filename=f"champions-{board.month}.png",
    )
