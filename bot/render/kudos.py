"""The kudos message: who thanked whom for what, the saving per month and per year to the cent,
who else added their thanks, and Confirm / Decline buttons while a win awaits a lead's word.
Rendered from the `wins` rows each time (posted, confirmed, declined), so the message always
says what the store says."""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime
from typing import Any

from bot.money import format_money
from bot.periods import format_day
from bot.render import blocks

CONFIRM_ACTION_ID = "kudos_confirm"
DECLINE_ACTION_ID = "kudos_decline"
ACTIONS_BLOCK_ID = "kudos_actions"
# A user mention as stored in a win's `what` (the parser keeps only these Slack tokens).
_ESCAPED_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]{2,})&gt;")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def escape_what(text: str) -> str:
    """A win's `what` for mrkdwn: everything escaped, except the user mentions it holds, which
    stay mentions (`<@U123>`); no other Slack token (`<!channel>`, links) survives."""
    return _ESCAPED_MENTION.sub(r"<@\1>", blocks.escape_mrkdwn(text))


def mention(user_id: str | None) -> str:
    """`<@U123>` for a Slack user id; anything else shown as escaped text."""
    if user_id and _USER_ID.match(user_id):
        return f"<@{user_id}>"
    return blocks.escape_mrkdwn(user_id or "someone")


def month_label(month: str) -> str:
    """`2026-11` -> `November 2026`."""
    year, number = month.split("-")
    return f"{calendar.month_name[int(number)]} {year}"


def _joined(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + f" and {items[-1]}"


def _day(stamp: str | None) -> str:
    if not stamp:
        return ""
    return format_day(datetime.fromisoformat(stamp).date())


def savings_text(monthly_micros: int, currency: str) -> str:
    """`$1,200.00/month, $14,400.00/year`: a month's saving and twelve of them."""
    return (
        f"{format_money(monthly_micros, currency)}/month, "
        f"{format_money(monthly_micros * 12, currency)}/year"
    )


def _status_line(win: dict[str, Any]) -> str:
    who = mention(win["person"])
    if win["status"] == "confirmed":
        return (
            f"✅ {who}: confirmed by {mention(win['confirmed_by'])} on "
            f"{_day(win['confirmed_at'])}; it counts like a measured win."
        )
    if win["status"] == "declined":
        return (
            f"✖️ {who}: declined by {mention(win['confirmed_by'])} on "
            f"{_day(win['confirmed_at'])}; it does not count."
        )
    return f"⏳ {who}: waiting for a team lead or approver to confirm."


def kudos_message(wins: list[dict[str, Any]], reporters: dict[int, list[str]]) -> dict[str, Any]:
    """The message for the wins of one `/kudos` (one per person thanked, all with the same
    giver, what and month): `{"text", "blocks"}`."""
    if not wins:
        raise ValueError("a kudos message needs at least one win")
    first = wins[0]
    giver = mention(first["reported_by"])
    people = []
    for win in wins:
        who = mention(win["person"])
        people.append(f"{who} ({blocks.escape_mrkdwn(win['team'])})" if win["team"] else who)
    what = escape_what(first["what"])
    lines = [f"🎉 *Kudos!* {giver} thanks {_joined(people)} for: {what}"]
    amounts = [w for w in wins if w["monthly_savings_micros"] is not None]
    currency = first["currency"] or "USD"
    total = sum(w["monthly_savings_micros"] for w in amounts)
    if amounts:
        lines.append(f"💰 Saves *{savings_text(total, currency)}*.")
        if len(wins) > 1:
            shares = [
                f"{mention(w['person'])} {format_money(w['monthly_savings_micros'], currency)}"
                for w in amounts
            ]
            lines.append(f"Credited in equal shares a month: {', '.join(shares)}.")
    others = sorted(
        {u for w in wins for u in reporters.get(w["id"], []) if u != first["reported_by"]}
    )
    if others:
        lines.append(f"👏 Also thanked by {_joined([mention(u) for u in others])}.")
    content = [blocks.section(lines[0])]
    if lines[1:]:
        content.append(blocks.section("\n".join(lines[1:])))
    content.append(blocks.section("\n".join(_status_line(w) for w in wins)))
    ids = ",".join(str(w["id"]) for w in wins)
    content.append(
        blocks.context(
            [
                f"Given on {_day(first['reported_at'])} · counts for the "
                f"{month_label(first['month'])} cost champions (`/champions {first['month']}`)"
            ]
        )
    )
    if any(w["status"] == "reported" for w in wins):
        content.append(
            blocks.actions(
                [
                    blocks.button("Confirm", CONFIRM_ACTION_ID, ids, style="primary"),
                    blocks.button("Decline", DECLINE_ACTION_ID, ids, style="danger"),
                ],
                block_id=ACTIONS_BLOCK_ID,
            )
        )
    saved = f" ({format_money(total, currency)}/month)" if amounts else ""
    people_text = _joined([mention(w["person"]) for w in wins])
    fallback = f"Kudos: {giver} thanks {people_text} for: {what}{saved}"
    return blocks.message(fallback, content)


def kudos_month(today: date) -> str:
    """The month a kudos given on `today` counts for."""
    return f"{today.year:04d}-{today.month:02d}"
