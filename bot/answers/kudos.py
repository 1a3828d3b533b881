"""`/kudos @someone <what they did> [$saved/month]`: a reported optimisation win, recorded for
the cost-champion leaderboard, then confirmed or declined by a team lead or approver.

Text. The command is declared with `should_escape: true`, so Slack sends the people picked
from the @ menu as `<@U0123ABC|name>` (or `<@U0123ABC>`), channels as `<#C0123|name>`, user
groups as `<!subteam^S0123|@name>`, and what was typed with `&`, `<`, `>` as entities. The
tokens are read from the raw text *before* the entities are decoded, so a typed `<@U1>`
(sent as `&lt;@U1&gt;`) never counts as a mention of someone.

- Who: the people mentioned at the start (`@a @b`, `@a and @b`). A user group, a channel,
  `@here`, a bot (`<@B...>` or Costbot itself) or yourself is refused, and nothing is written.
- What: the rest, trimmed, at most WHAT_MAX characters; mentions inside it stay mentions.
- Amount (optional, at the end): `$1,200`, `$1200.50`, `$1.2k` (k = thousand), in the
  config's currency (`$` for USD, else its ISO code: `EUR 1,200`), optionally followed by
  `/month`, `/mo`, `a month` or `per month`. Amounts are monthly run-rates, to the cent: a
  yearly, weekly or daily figure, a negative or zero amount, or a fraction of a cent is refused.
- Several people: one win each (each person is credited on the leaderboard), the amount
  split equally to the cent (the first named get the odd cents), so the saving is counted
  once in every total.

Duplicates. A win's `dedupe_key` is the month, the person and the normalised what (case,
spaces and punctuation folded). The same reporter again changes nothing ("already recorded");
another reporter adds a mention (and is listed on the message). An amount given for a kudos
recorded without one is taken while it still awaits confirmation; a recorded amount is never
changed by a later report (the answer says so).

Confirmation. A team's leads, `champions.confirmers` and `tag_policy.approvers` (users or
user groups) may confirm or decline. The person thanked may not confirm their own win, and
no one who reported it may either: confirming is the second pair of eyes that makes a claimed
saving count like a measured one, so it must come from someone other than the claimants.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlite_utils

from bot.answers.common import NOBODY, Asker, UsageError, decode_slack_text
from bot.answers.kudos_confirm import decide_kudos
from bot.config import Config
from bot.money import format_money, to_micros
from bot.periods import format_day
from bot.render import blocks
from bot.render.cost import Reply, render_notice
from bot.render.kudos import escape_what, kudos_message, kudos_month, mention
from bot.render.preview import PreviewMessage
from bot.store import queries, writers
from bot.store.schema import migrations

WHAT_MAX = 300
MAX_PEOPLE = 10
# No single kudos claims more than this a month: a typo guard (and far from int64 overflow).
MAX_MONTHLY = Decimal(100_000_000)
MICROS_PER_CENT = 10_000

USAGE = (
    "*`/kudos`*: thank someone for a cost win; it counts for the monthly cost champions.\n"
    "• `/kudos @someone <what they did> [$saved/month]`, e.g. "
    "`/kudos @maria moved the batch jobs to spot $1,200/month`\n"
    "• several people: `/kudos @a @b migrated search to Graviton $900/month` (the amount is "
    "shared equally)\n"
    "• amounts: `$1,200`, `$1200.50`, `$1.2k`, per month (`/month`, `/mo`, `a month`)\n"
    "A team lead or approver confirms a kudos with its button; then it counts like a "
    "measured saving."
)

SELF_KUDOS_NOTE = (
    "Kudos are for others: a win is recognised by someone else, so a kudos to yourself is not "
    "recorded. Thank a teammate instead, or ask them to thank you. Nothing was recorded."
)

# Slack's tokens in escaped command text: <@U..|name>, <#C..|name>, <!subteam^S..|@name>, ...
_TOKEN = re.compile(r"<([^<>]*)>")
_USER = re.compile(r"^@([UW][A-Z0-9]{2,})(?:\|.*)?$")
_BOT = re.compile(r"^@(B[A-Z0-9]{2,})(?:\|.*)?$")
_CHANNEL = re.compile(r"^#([CG][A-Z0-9]{2,})(?:\|(.*))?$")
_SUBTEAM = re.compile(r"^!subteam\^([A-Z0-9]+)(?:\|(.*))?$")
_SPECIAL = re.compile(r"^!(here|channel|everyone)(?:\|.*)?$")
_LINK = re.compile(r"^((?:https?|mailto|tel):[^|]*)(?:\|(.*))?$")
_SEPARATORS = {"and", "&amp;", ",", "+"}
_PER = {
    "month": "month",
    "mo": "month",
    "mth": "month",
    "months": "month",
    "monthly": "month",
    "year": "year",
    "yr": "year",
    "annually": "year",
    "week": "week",
    "wk": "week",
    "day": "day",
}
_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP"}
_NUMBER = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$|^\.\d+$")


@dataclass(frozen=True)
class KudosRequest:
    """A parsed `/kudos`: who (Slack user ids, in order), what, and the monthly saving."""

    people: tuple[str, ...]
    what: str
    monthly_micros: int | None


@dataclass(frozen=True)
class KudosAnswer:
    """What a `/kudos` did. `reply` is what the asker sees (or `costbot ask` prints): the
    kudos message itself when it recorded something new, else a private note. `new_win_ids`
    are the wins whose message must be posted to the channel (`message`)."""

    reply: Reply
    new_win_ids: tuple[int, ...] = ()
    message: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()  # what happened to the others, for the asker (mrkdwn)


# ---- parsing


def parse_kudos(text: str, currency: str = "USD") -> KudosRequest:
    """Parse the command text as Slack sends it (tokens raw, typed text entity-escaped).
    Raises UsageError (mrkdwn, escaped) for anything that cannot be recorded."""
    words = _words(text.strip())
    people: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word.startswith("<"):
            kind, value = _token(word)
            if kind != "user":
                _refuse_token(kind, value)
            if value not in people:
                people.append(value)
            index += 1
            continue
        following = words[index + 1] if index + 1 < len(words) else ""
        if people and word.lower() in _SEPARATORS and following.startswith("<@"):
            index += 1
            continue
        break
    rest = words[index:]
    if not people:
        for word in rest:  # a person named later, a group or a channel: say which
            if word.startswith("<"):
                kind, value = _token(word)
                if kind == "user":
                    raise UsageError("Start with who you thank: `/kudos @someone what they did`.")
                if kind != "text":
                    _refuse_token(kind, value)
        typed = next((w for w in rest if w.startswith("@")), None)
        if typed:
            raise UsageError(
                f"I can't tell who {blocks.code(decode_slack_text(typed))} is: pick the person "
                "from the @ menu, so Slack sends who they are."
            )
        raise UsageError("Who do you thank? Mention them: `/kudos @someone what they did`.")
    if len(people) > MAX_PEOPLE:
        raise UsageError(f"At most {MAX_PEOPLE} people in one kudos.")
    rest, monthly = _amount(rest, currency)
    what = _what(rest)
    if not what:
        raise UsageError("What did they do? `/kudos @someone what they did [$saved/month]`.")
    if len(what) > WHAT_MAX:
        raise UsageError(
            f"Please say it in at most {WHAT_MAX} characters (this was {len(what):,})."
        )
    return KudosRequest(tuple(people), what, monthly)


def _words(text: str) -> list[str]:
    """Whitespace-separated words, a Slack token (`<@U1|Ann Lee>`, with spaces in its label)
    kept whole, and tokens glued to words (`<@U1>,<@U2>`) split off."""
    pieces: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        pieces.extend(text[position : match.start()].split())
        pieces.append(match.group(0))
        position = match.end()
    pieces.extend(text[position:].split())
    return pieces


def _token(word: str) -> tuple[str, str]:
    """(kind, value) of a Slack token: user, bot, channel, group, special, link, or text."""
    inner = word[1:-1]
    if match := _USER.match(inner):
        return "user", match.group(1)
    if match := _BOT.match(inner):
        return "bot", match.group(1)
    if match := _CHANNEL.match(inner):
        return "channel", match.group(2) or match.group(1)
    if match := _SUBTEAM.match(inner):
        return "group", match.group(2) or match.group(1)
    if match := _SPECIAL.match(inner):
        return "special", match.group(1)
    if match := _LINK.match(inner):
        return "link", match.group(2) or match.group(1)
    return "text", inner


def _refuse_token(kind: str, value: str) -> None:
    shown = blocks.code(decode_slack_text(value))
    if kind == "bot":
        raise UsageError("Kudos are for people, not bots.")
    if kind == "group":
        raise UsageError(
            f"{shown} is a user group: kudos go to people. Mention each person who did it."
        )
    if kind == "channel":
        raise UsageError(f"{shown} is a channel: kudos go to people. Mention who did it.")
    if kind == "special":
        raise UsageError(f"@{blocks.escape_mrkdwn(value)} is everyone: mention who did it.")
    raise UsageError("Start with who you thank: `/kudos @someone what they did`.")


def _amount(words: list[str], currency: str) -> tuple[list[str], int | None]:
    """The trailing amount, if any: (the words before it, micros a month)."""
    words = list(words)
    if not words:
        return words, None
    last = words[-1].rstrip(".!)").lstrip("(")
    per = None
    # "... $900 a month", "... $900 per month", "... $900 /month", "... $900/month"
    if len(words) >= 3 and words[-2].lower() in ("a", "per", "every") and last.lower() in _PER:
        per, words = _PER[last.lower()], words[:-2]
    elif last.startswith("/") and last[1:].lower() in _PER and len(words) >= 2:
        per, words = _PER[last[1:].lower()], words[:-1]
    elif "/" in last:
        figure, _, unit = last.rpartition("/")
        if unit.lower() in _PER and _looks_like_money(figure, currency):
            per, words = _PER[unit.lower()], [*words[:-1], figure]
        elif unit.lower() in _PER and _NUMBER.match(figure.rstrip("kK")):
            # "EUR 1,200/month", or "1200/month": an amount without its currency
            per, words = _PER[unit.lower()], [*words[:-1], figure]
    figure = words[-1].rstrip(".!)").lstrip("(") if words else ""
    code_words = 1
    if len(words) >= 2 and words[-2].lstrip("(").upper() == currency.upper():
        figure, code_words = f"{currency.upper()}{figure}", 2  # "EUR 1,200"
    if not _looks_like_money(figure, currency):
        if per is not None:
            raise UsageError(
                f"Give the amount with its currency: "
                f"{blocks.code(_example(currency))} (a month's saving)."
            )
        return words, None
    monthly = _money(figure, currency)
    if per is not None and per != "month":
        raise UsageError(
            f"Amounts are monthly run-rates: give what it saves a month, e.g. "
            f"{blocks.code(_example(currency))} (a year's saving divided by 12)."
        )
    return words[:-code_words], monthly


def _example(currency: str) -> str:
    prefix = "$" if currency.upper() == "USD" else f"{currency.upper()} "
    return f"{prefix}1,200/month"


def _looks_like_money(word: str, currency: str) -> bool:
    """Whether `word` is meant as an amount: a currency symbol or code, maybe signed."""
    bare = word.lstrip("-−+")
    return bool(bare) and (
        bare[0] in _SYMBOLS or (bare.upper().startswith(currency.upper()) and len(bare) > 3)
    )


def _money(word: str, currency: str) -> int:
    """Micros of a typed amount, or UsageError saying what is wrong with it."""
    shown = blocks.code(decode_slack_text(word))
    sign_free = word.lstrip("+")
    negative = sign_free.startswith(("-", "−"))
    bare = sign_free.lstrip("-−")
    if bare[0] in _SYMBOLS:
        given, bare = _SYMBOLS[bare[0]], bare[1:]
    else:
        given, bare = currency.upper(), bare[len(currency) :]
    if bare.startswith(("-", "−")):
        negative, bare = True, bare[1:]
    if given != currency.upper():
        raise UsageError(
            f"{shown}: amounts are in {currency.upper()}, the config's currency, e.g. "
            f"{blocks.code(_example(currency))}."
        )
    thousands = bare[-1:].lower() == "k"
    number = bare[:-1] if thousands else bare
    if not _NUMBER.match(number):
        raise UsageError(
            f"{shown} is not an amount I can read: e.g. "
            f"{blocks.code(_example(currency).replace('/month', ''))}, `1200.50` or `1.2k`."
        )
    try:
        value = Decimal(number.replace(",", "")) * (1000 if thousands else 1)
    except InvalidOperation:
        raise UsageError(f"{shown} is not an amount I can read.") from None
    if negative:
        raise UsageError(f"{shown}: a saving is a positive amount a month.")
    if value == 0:
        raise UsageError(f"{shown}: leave the amount out when nothing was saved in money.")
    if value > MAX_MONTHLY:
        raise UsageError(f"{shown} a month is more than any one kudos can claim.")
    micros = to_micros(value)
    if micros % MICROS_PER_CENT:
        raise UsageError(f"{shown}: amounts are to the cent.")
    return micros


def _what(words: list[str]) -> str:
    """The description as typed: tokens made plain (mentions kept as `<@U..>`), entities
    decoded, whitespace collapsed, a trailing connector (`,`, `-`, `saving`) dropped."""
    parts = []
    for word in words:
        if word.startswith("<") and word.endswith(">"):
            kind, value = _token(word)
            if kind == "user":
                parts.append(f"<@{value}>")
                continue
            prefix = {"channel": "#", "special": "@"}.get(kind, "")
            parts.append(prefix + decode_slack_text(value))
            continue
        parts.append(decode_slack_text(word))
    while parts and parts[-1].lower().strip(",;:") in ("", "-", "—", "–", "saving", "saves"):
        parts.pop()
    return " ".join(" ".join(parts).split()).rstrip(",;:")


def normalised_what(what: str) -> str:
    """What a kudos is about, for spotting duplicates: case, spaces and punctuation folded."""
    return " ".join(re.sub(r"[^\w\s@]", " ", what.lower()).split())


def split_evenly(total: int, parts: int) -> list[int]:
    """`total` micros in `parts` shares to the cent, summing exactly; the first get the odd
    cents."""
    cents_total = total // MICROS_PER_CENT
    share, odd = divmod(cents_total, parts)
    return [(share + (1 if i < odd else 0)) * MICROS_PER_CENT for i in range(parts)]


# ---- recording


def answer_kudos(
    text: str,
    *,
    db: sqlite_utils.Database,
    config: Config,
    today: date,
    asker: Asker = NOBODY,
    bot_user_id: str | None = None,
    now: datetime | None = None,
) -> KudosAnswer:
    """Parse and record one `/kudos` (db: a write connection). Bad input, self-kudos and
    bots get a one-line notice and write nothing."""
    stripped = decode_slack_text(text).strip().lower()
    if stripped in ("", "help", "-h", "--help", "?"):
        return KudosAnswer(Reply(render_notice(USAGE, title="Costbot: /kudos")))
    try:
        request = parse_kudos(text, config.currency)
        if not asker.user_id:
            raise UsageError(
                "Who gives this kudos? (`costbot ask --user U...`: your Slack user id)"
            )
        if asker.user_id in request.people:
            return KudosAnswer(_notice(SELF_KUDOS_NOTE))
        if bot_user_id and bot_user_id in request.people:
            raise UsageError("Kudos are for people, not bots: thank the people who did it.")
    except UsageError as problem:
        return KudosAnswer(_notice(f"{problem}\nType `/kudos help` for usage."))
    month = kudos_month(today)
    amounts: list[int | None] = (
        list(split_evenly(request.monthly_micros, len(request.people)))
        if request.monthly_micros is not None
        else [None] * len(request.people)
    )
    channel_team = config.team_for_channel(asker.channel_id, asker.channel_name)
    entries = []
    for person, amount in zip(request.people, amounts, strict=True):
        teams = config.teams_of_user(person)
        team = teams[0].name if teams else channel_team.name if channel_team else None
        entries.append(
            writers.KudosEntry(
                month=month,
                person=person,
                team=team,
                what=request.what,
                monthly_savings_micros=amount,
                currency=config.currency,
                dedupe_key=f"kudos:{month}:{person}:{normalised_what(request.what)}",
                channel=asker.channel_id or asker.channel_name,
            )
        )
    recorded = writers.record_kudos(db, entries, asker.user_id, now or datetime.now(UTC))
    return _answer(db, recorded)


def kudos_reply(
    text: str,
    *,
    db: sqlite_utils.Database,
    config: Config,
    today: date,
    asker: Asker = NOBODY,
    with_chart: bool = False,
) -> Reply:
    """`answer_kudos` as `costbot ask` runs every command (`with_chart` unused: a kudos has
    none): the kudos message when something new was recorded, with what happened to the
    rest under it; else the note."""
    answer = answer_kudos(text, db=db, config=config, today=today, asker=asker)
    if not answer.new_win_ids or not answer.notes:
        return answer.reply
    payload = answer.reply.payload
    notes = blocks.context(["\n".join(answer.notes)])
    return Reply({**payload, "blocks": [*payload["blocks"], notes]})


def _notice(text: str) -> Reply:
    return Reply(render_notice(text), is_error=True)


def _answer(db: sqlite_utils.Database, recorded: list[writers.KudosRecorded]) -> KudosAnswer:
    new = [r.win for r in recorded if r.outcome == "new"]
    notes = tuple(_note(r) for r in recorded if r.outcome != "new")
    if not new:
        text = "\n".join(notes)
        return KudosAnswer(Reply(render_notice(text)), notes=notes)
    ids = [w["id"] for w in new]
    message = kudos_message(new, queries.win_reporters(db, ids))
    reply = Reply({"response_type": "in_channel", **message})
    return KudosAnswer(reply, tuple(ids), message, notes)


def _note(result: writers.KudosRecorded) -> str:
    win = result.win
    about = (
        f"the kudos {mention(win['reported_by'])} gave {mention(win['person'])} on "
        f"{_day(win['reported_at'])} for: {escape_what(win['what'])}"
    )
    currency = win["currency"] or "USD"
    if result.outcome == "repeated":
        note = f"You already gave {about}. Nothing changed."
    elif result.outcome == "amount_added":
        amount = format_money(win["monthly_savings_micros"], currency)
        note = f"Added {amount}/month to {about}."
    else:
        count = win["mentions"]
        note = f"Added your thanks to {about} (thanked {count} times now)."
    if result.amount_kept and win["monthly_savings_micros"] is not None:
        kept = format_money(win["monthly_savings_micros"], currency)
        note += f" It keeps the {kept}/month recorded first."
    if win["status"] != "reported" and result.outcome != "repeated":
        note += f" It was already {win['status']} by {mention(win['confirmed_by'])}."
    return note


def _day(stamp: str | None) -> str:
    return format_day(datetime.fromisoformat(stamp).date()) if stamp else "an earlier day"


# ---- the demo's preview


def preview_kudos(config: Config, today: date) -> list[PreviewMessage]:
    """`/kudos` for the demo preview (bot/demo.py): a kudos, one shared by two people, a
    second reporter, a self-kudos, and a kudos confirmed by a lead. Recorded in a throwaway
    in-memory store, so the demo's own store (reused between runs) stays as it was."""
    db = sqlite_utils.Database(memory=True)
    migrations.apply(db)
    team = config.teams[0] if config.teams else None
    channel = team.channel if team and team.channel else "#general"
    giver, maria, omar, lead = "U0DEMOGIVER", "U0DEMOMARIA", "U0DEMOOMAR", "U0DEMOLEAD"
    at = datetime(today.year, today.month, today.day, 10, tzinfo=UTC)

    def asked(text: str, user: str) -> KudosAnswer:
        asker = Asker(user_id=user, channel_name=channel.lstrip("#"))
        return answer_kudos(text, db=db, config=config, today=today, asker=asker, now=at)

    first = asked(f"<@{maria}|maria> moved the batch jobs to spot $1,200/month", giver)
    shared = asked(
        f"<@{maria}|maria> <@{omar}|omar> migrated search to Graviton $900.01/month", lead
    )
    again = asked(f"<@{maria}|maria> moved the batch jobs to Spot!", omar)
    selfish = asked(f"<@{giver}|me> cleaned up my old snapshots $40/month", giver)
    confirmed = decide_kudos(
        db,
        config,
        first.new_win_ids,
        lead,
        confirm=True,
        is_confirmer=lambda user, allowed: True,  # the demo's lead is taken as one
        now=at,
    )
    db.close()
    in_channel = "in_channel"
    return [
        PreviewMessage(
            "/kudos @maria moved the batch jobs to spot $1,200/month",
            "a kudos, celebrated in the channel, waiting for a lead's Confirm",
            first.reply.payload,
        ),
        PreviewMessage(
            "/kudos @maria @omar migrated search to Graviton $900.01/month",
            "several people: one win each, the amount shared to the cent",
            shared.reply.payload,
        ),
        PreviewMessage(
            "/kudos @maria moved the batch jobs to Spot! (another person)",
            "a duplicate: merged into the first kudos, privately",
            again.reply.payload,
        ),
        PreviewMessage(
            "/kudos @me cleaned up my old snapshots",
            "a self-kudos: not recorded, and why",
            selfish.reply.payload,
        ),
        PreviewMessage(
            "Confirm (pressed by a team lead)",
            "the kudos message updated in place: it now counts like a measured saving",
            {"response_type": in_channel, **(confirmed.message or {})},
        ),
    ]
