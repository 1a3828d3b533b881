"""What every slash-command answer shares: who asks, Slack's text decoding, usage errors, and
naming teams (aliases, `untagged`) and lists in a sentence."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.analytics import names
from bot.config import Config
from bot.render import blocks
from bot.store.queries import UNTAGGED

# How many candidates a "which one?" question lists before "and N more".
MAX_LISTED = 10


class UsageError(ValueError):
    """A problem with what the user typed; the message (mrkdwn, with everything the user
    typed or the data holds escaped) tells them what to type instead."""


@dataclass(frozen=True)
class Asker:
    user_id: str | None = None
    channel_id: str | None = None
    channel_name: str | None = None


NOBODY = Asker()  # asked from nowhere in particular (`costbot ask` without --user/--channel)


def decode_slack_text(text: str) -> str:
    """Command text as the user typed it: Slack sends `&`, `<`, `>` as entities.
    `&amp;` last, so that a typed `&lt;` (sent as `&amp;lt;`) stays `&lt;`."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def known_teams(config: Config, *stored: Iterable[str]) -> list[str]:
    """Configured teams and the teams the store has seen (each of `stored`)."""
    found = {t.name for t in config.teams}
    for values in stored:
        found.update(v for v in values if v)
    return sorted(found)


def canonical_team(config: Config, teams: set[str], name: str) -> str | None:
    """The team `name` means (aliases, any case; `untagged` is UNTAGGED), if it is known."""
    if name.strip().lower() in (UNTAGGED, "untagged"):
        return UNTAGGED
    canonical = config.canonical_team(name)
    return canonical if canonical in teams else None


def team_resolver(config: Config, teams: list[str]) -> Callable[[str], bool]:
    known = set(teams)

    def is_known(name: str) -> bool:
        return canonical_team(config, known, name) is not None

    return is_known


def listed(items: list[str]) -> str:
    """Already-escaped items joined for a sentence, at most MAX_LISTED of them."""
    shown = ", ".join(items[:MAX_LISTED])
    more = len(items) - MAX_LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def did_you_mean(kind: str, name: str, candidates: list[str]) -> UsageError:
    suggestions = names.closest(name, candidates)
    if suggestions:
        hint = "Did you mean " + " or ".join(blocks.code(s) for s in suggestions) + "?"
    elif candidates:
        hint = f"Known {kind}s: " + listed([blocks.code(c) for c in candidates])
    else:
        hint = "The store has none yet."
    return UsageError(f"I don't know the {kind} {blocks.code(name)}. {hint}")
