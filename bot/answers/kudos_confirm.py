"""Confirming a kudos (bot/answers/kudos.py): a team's leads, `champions.confirmers` and
`tag_policy.approvers` (users or user groups) confirm or decline a reported win with the
buttons of its message. Never the person thanked, nor anyone who reported it: confirming is
the second pair of eyes that makes a claimed saving count like a measured one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from bot.config import Config
from bot.render.kudos import kudos_message, mention
from bot.store import queries, writers

# A kudos message holds at most this many wins (one per person thanked).
MAX_WINS = 10

ONLY_CONFIRMERS_NOTE = (
    "Only the team's leads or approvers can confirm or decline a kudos (`teams[].leads`, "
    "`champions.confirmers`, `tag_policy.approvers` in costbot.yml): nothing was changed."
)
OWN_WIN_NOTE = (
    "This kudos is for you: a team lead or approver confirms it, not the person thanked. "
    "Nothing was changed."
)
GAVE_IT_NOTE = (
    "You gave this kudos: someone else (a team lead or approver) confirms it, so every "
    "confirmed saving has a second pair of eyes. Nothing was changed."
)


@dataclass(frozen=True)
class KudosDecision:
    """What a Confirm or Decline press did: the wins changed, the message as it now is (None
    when the kudos is gone), and a private note for the presser (None when all went well)."""

    changed: tuple[int, ...]
    message: dict[str, Any] | None
    note: str | None


def confirmers_for(config: Config, team: str | None) -> tuple[str, ...]:
    """Who may confirm a win of `team`: its leads, `champions.confirmers` and the tag-policy
    approvers (user ids, or user group ids resolved by the caller)."""
    configured = config.team(team) if team else None
    leads = configured.leads if configured else ()
    return tuple(
        dict.fromkeys([*leads, *config.champions.confirmers, *config.tag_policy.approvers])
    )


def win_ids_of(value: str | None) -> list[int]:
    """The win ids a button carries (`"12,13"`); nothing for a value that is not that."""
    ids = []
    for part in (value or "").split(","):
        if part.strip().isdigit():
            ids.append(int(part.strip()))
    return ids[:MAX_WINS]


def decide_kudos(
    db: sqlite_utils.Database,
    config: Config,
    win_ids: Sequence[int],
    user_id: str | None,
    *,
    confirm: bool,
    is_confirmer: Callable[[str, tuple[str, ...]], bool],
    now: datetime,
) -> KudosDecision:
    """Confirm (or decline) the wins of one kudos message that `user_id` may judge.
    `is_confirmer(user, allowed)` says whether the user is among `allowed` (user ids, or
    user groups it belongs to: read from Slack by the caller)."""
    wins = queries.kudos_wins(db, list(win_ids))
    if not wins:
        return KudosDecision((), None, "This kudos is no longer recorded: nothing was changed.")
    reporters = queries.win_reporters(db, [w["id"] for w in wins])
    waiting = [w for w in wins if w["status"] == "reported"]
    if not waiting:
        judged = wins[0]
        note = (
            f"This kudos was already {judged['status']} by {mention(judged['confirmed_by'])}: "
            "nothing was changed."
        )
        return KudosDecision((), kudos_message(wins, reporters), note)
    allowed_ids, reasons = [], []
    for win in waiting:
        if not user_id:
            reasons.append(ONLY_CONFIRMERS_NOTE)
        elif user_id == win["person"]:
            reasons.append(OWN_WIN_NOTE)
        elif user_id in reporters.get(win["id"], []) or user_id == win["reported_by"]:
            reasons.append(GAVE_IT_NOTE)
        elif not is_confirmer(user_id, confirmers_for(config, win["team"])):
            reasons.append(ONLY_CONFIRMERS_NOTE)
        else:
            allowed_ids.append(win["id"])
    if not allowed_ids:
        # The reason that says most: your own win, then yours to give, then not a confirmer.
        for note in (OWN_WIN_NOTE, GAVE_IT_NOTE, ONLY_CONFIRMERS_NOTE):
            if note in reasons:
                return KudosDecision((), None, note)
    status = "confirmed" if confirm else "declined"
    changed = writers.decide_kudos(db, allowed_ids, status, user_id or "", now)
    wins = queries.kudos_wins(db, [w["id"] for w in wins])
    note = None
    if not changed:
        note = "Someone judged this kudos just before you: nothing was changed."
    elif len(allowed_ids) < len(waiting):
        note = (
            f"{status.capitalize()} for the people you may judge; the others wait for their "
            "own team's lead."
        )
    return KudosDecision(tuple(changed), kudos_message(wins, reporters), note)
