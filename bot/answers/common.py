"""What every slash-command answer shares: who asks, Slack's text decoding, usage errors, and
naming teams (aliases, `untagged`) and lists in a sentence."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bot.analytics import names
from bot.config import Config
from bot.periods import PERIOD_HELP, looks_like_period
from bot.render import blocks
from bot.store.queries import UNTAGGED

# The most words a team, service or account name is looked up with, before the period.
MAX_NAME_WORDS = 12
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


def subject_and_period(
    words: list[str], what: str, is_known: Callable[[str], bool], command: str = "/cost"
) -> tuple[str, str | None]:
    """Split `<name words> [period]`. Names may hold spaces; a known name followed by words
    that are not a period is an error that names those words, not an unknown name."""
    if not words or (len(words) == 1 and looks_like_period(words[0])):
        raise UsageError(f"Which {what}? e.g. `{command} {what} &lt;{what} name&gt; [period]`.")
    body, period_text = words, None
    if len(words) > 1 and looks_like_period(words[-1]):
        body, period_text = words[:-1], words[-1]
    name = " ".join(body)
    if is_known(name):
        return name, period_text
    # Names are a few words: trying only short heads keeps a 20,000-character argument cheap.
    for cut in range(min(len(body) - 1, MAX_NAME_WORDS), 0, -1):
        head = " ".join(body[:cut])
        if is_known(head):
            _explain_extra_words(command, what, head, body[cut:], period_text)
    return name, period_text  # an unknown name: the answer says so, with suggestions


def _explain_extra_words(
    command: str, what: str, name: str, extra: list[str], period_text: str | None
) -> None:
    periods = [w for w in extra if looks_like_period(w)]
    others = [w for w in extra if not looks_like_period(w)]
    if period_text is None and len(extra) == 1:
        raise UsageError(f"{blocks.code(extra[0])} is not a period. Periods: {PERIOD_HELP}.")
    understood = f"{command} {what} {name}"
    if period_text is None and len(periods) == 1:
        understood += f" {periods[0]}"
    elif period_text is not None:
        understood += f" {period_text}"
    joined = "-".join(extra).lower()
    if period_text is None and not periods and looks_like_period(joined):
        raise UsageError(
            f"I understood {blocks.code(understood)} but not {blocks.code(' '.join(extra))}: "
            f"periods are one word, e.g. {blocks.code(f'{command} {what} {name} {joined}')}."
        )
    not_understood = " ".join(others if others and len(periods) <= 1 else extra)
    raise UsageError(
        f"I understood {blocks.code(understood)} but not {blocks.code(not_understood)}. "
        f"Usage: `{command} {what} &lt;{what}&gt; [period]`; periods: {PERIOD_HELP}."
    )


def preview_answers(
    command: str,
    answerer: Callable[..., Any],
    examples: Iterable[tuple[str, str]],
    *,
    db: Any,
    config: Config,
    today: Any,
) -> list[Any]:
    """The demo preview's messages for a slash command: each (text, description) answered as
    Slack would show it (notices private; answers as the config says), its chart keyed by its
    file name, as bot/render/preview.py expects."""
    from bot.render.preview import PreviewMessage

    messages = []
    for text, description in examples:
        reply = answerer(text, db=db, config=config, today=today)
        payload, images = reply.payload, {}
        if reply.chart is not None:
            payload = reply.with_chart_file(reply.chart.filename)
            images[reply.chart.filename] = reply.chart.png
        response_type = "ephemeral" if reply.is_error else config.slack.answer_response_type
        messages.append(
            PreviewMessage(
                title=f"{command} {text}".strip(),
                description=description,
                payload={**payload, "response_type": response_type},
                images=images,
            )
        )
    return messages
