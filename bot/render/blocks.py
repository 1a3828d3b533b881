"""Block Kit builders: plain dicts that always respect Slack's limits, whatever the data size.

Slack rejects a whole message (`invalid_blocks`) when one text is a character too long, so every
builder clips its input here instead of trusting callers. Builders take mrkdwn that is already
safe: pass user-controlled text (team, service and resource names, tag values) through
`escape_mrkdwn` first. The list helpers (`bulleted_list`, `ranked_table`) escape for you.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

from bot.money import format_money

# Limits from https://docs.slack.dev/reference/block-kit/blocks and .../composition-objects.
HEADER_TEXT_MAX = 150
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
FIELD_TEXT_MAX = 2000
CONTEXT_ELEMENTS_MAX = 10
CONTEXT_TEXT_MAX = 3000
IMAGE_ALT_TEXT_MAX = 2000
IMAGE_TITLE_MAX = 2000
IMAGE_URL_MAX = 3000
ACTIONS_ELEMENTS_MAX = 25
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
ACTION_ID_MAX = 255
BLOCK_ID_MAX = 255
MESSAGE_BLOCKS_MAX = 50
# Slack accepts far longer top-level text, but it is only a notification/fallback: keep it short.
MESSAGE_TEXT_MAX = 3000

ELLIPSIS = "…"
# What a message may echo of a name or of what a user typed: enough to recognise it, never
# a 20,000-character argument repeated back.
ECHO_MAX = 60
EMPTY_LIST_TEXT = "_Nothing to show._"

Block = dict[str, Any]
ButtonStyle = Literal["primary", "danger"]

_WHITESPACE = re.compile(r"\s+")
_LONGEST_ENTITY = 10
_MIN_TABLE_LINE = len("1. - $0.00")


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as control characters in mrkdwn."""
    # "&" first, or the "&" of the other entities would be escaped again.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shorten(text: str, limit: int = ECHO_MAX) -> str:
    """One line of at most `limit` characters (plain text, not yet escaped), "…" if cut."""
    return truncate(_one_line(text), limit, mrkdwn=False)


def code(text: str, limit: int = ECHO_MAX) -> str:
    """Inline code of a name or of what a user typed: shortened and escaped. A backtick
    would end the code span early, so it is shown as a quote."""
    shown = shorten(text, limit).replace("`", "'")
    return f"`{escape_mrkdwn(shown)}`"


def plain_safe(text: str) -> str:
    """Plain text that may hold data, with `<` and `>` as look-alikes: plain_text fields are
    not mrkdwn, but an entity there would show as `&lt;`, and a `<!channel>` must never
    reach Slack raw in any field."""
    return text.replace("<", "‹").replace(">", "›")


def mrkdwn_link(url: str, label: str) -> str:
    """`<url|label>` with the label escaped, so a name containing `>` cannot break the link."""
    return f"<{escape_mrkdwn(url)}|{escape_mrkdwn(label)}>"


def truncate(text: str, limit: int, *, mrkdwn: bool = True) -> str:
    """Clip `text` to `limit` characters, ending with "…" when anything was cut.

    For mrkdwn the cut never splits an `&amp;`-style entity or a `<link|label>`, which Slack would
    otherwise show as garbage or reject.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(text) <= limit:
        return text
    head = text[: limit - len(ELLIPSIS)]
    if mrkdwn:
        # Entities are short (`&amp;`, `&#x1F4B8;`), so only the tail can hold a broken one.
        last_amp = head.rfind("&", max(0, len(head) - _LONGEST_ENTITY))
        if last_amp != -1 and ";" not in head[last_amp:]:
            head = head[:last_amp]
        last_open = head.rfind("<")
        if last_open > head.rfind(">"):
            head = head[:last_open]
    return head + ELLIPSIS


def _plain_text(text: str, limit: int, *, what: str) -> dict[str, Any]:
    if not text:
        raise ValueError(f"{what} text must not be empty")
    return {"type": "plain_text", "text": truncate(text, limit, mrkdwn=False), "emoji": True}


def _mrkdwn(text: str, limit: int, *, what: str) -> dict[str, Any]:
    if not text:
        raise ValueError(f"{what} text must not be empty")
    return {"type": "mrkdwn", "text": truncate(text, limit)}


def _with_block_id(block: Block, block_id: str | None) -> Block:
    if block_id is not None:
        block["block_id"] = block_id[:BLOCK_ID_MAX]
    return block


def _more_text(count: int) -> str:
    return f"_{ELLIPSIS}and {count:,} more_"


def header(text: str, *, block_id: str | None = None) -> Block:
    """A bold title line; plain text, so it needs no escaping (names from data: `plain_safe`)."""
    block = {"type": "header", "text": _plain_text(text, HEADER_TEXT_MAX, what="header")}
    return _with_block_id(block, block_id)


def divider() -> Block:
    return {"type": "divider"}


def section(
    text: str | None = None,
    *,
    fields: Sequence[str] = (),
    accessory: Block | None = None,
    block_id: str | None = None,
) -> Block:
    """A mrkdwn section with optional fields (a two-column grid) and accessory (image or button).

    More than 10 fields keep the first 9 and end with an "…and N more" field.
    """
    if not text and not fields:
        raise ValueError("a section needs text or fields")
    block: Block = {"type": "section"}
    if text:
        block["text"] = _mrkdwn(text, SECTION_TEXT_MAX, what="section")
    if fields:
        kept = list(fields)
        if len(kept) > SECTION_FIELDS_MAX:
            hidden = len(kept) - (SECTION_FIELDS_MAX - 1)
            kept = [*kept[: SECTION_FIELDS_MAX - 1], _more_text(hidden)]
        block["fields"] = [_mrkdwn(field, FIELD_TEXT_MAX, what="field") for field in kept]
    if accessory is not None:
        block["accessory"] = accessory
    return _with_block_id(block, block_id)


def _image_source(image_url: str | None, slack_file_id: str | None) -> dict[str, Any]:
    if (image_url is None) == (slack_file_id is None):
        raise ValueError("give exactly one of image_url or slack_file_id")
    if image_url is not None:
        if len(image_url) > IMAGE_URL_MAX:
            raise ValueError(f"image_url is longer than {IMAGE_URL_MAX} characters")
        return {"image_url": image_url}
    return {"slack_file": {"id": slack_file_id}}


def image_element(
    alt_text: str, *, image_url: str | None = None, slack_file_id: str | None = None
) -> Block:
    """A small image for a context block or a section accessory."""
    if not alt_text:
        raise ValueError("images need alt text")
    return {
        "type": "image",
        **_image_source(image_url, slack_file_id),
        "alt_text": truncate(alt_text, IMAGE_ALT_TEXT_MAX, mrkdwn=False),
    }


def image(
    alt_text: str,
    *,
    image_url: str | None = None,
    slack_file_id: str | None = None,
    title: str | None = None,
    block_id: str | None = None,
) -> Block:
    """A full-width image block from a public URL or an uploaded Slack file (`slack_file.id`).

    Alt text is mandatory: it is what screen readers and notifications show instead of a chart.
    """
    block = image_element(alt_text, image_url=image_url, slack_file_id=slack_file_id)
    if title:
        block["title"] = _plain_text(title, IMAGE_TITLE_MAX, what="image title")
    return _with_block_id(block, block_id)


def context(elements: Sequence[str | Block], *, block_id: str | None = None) -> Block:
    """Small grey text and images; strings are mrkdwn. More than 10 elements end with "…and N"."""
    if not elements:
        raise ValueError("a context block needs at least one element")
    kept: list[str | Block] = list(elements)
    if len(kept) > CONTEXT_ELEMENTS_MAX:
        hidden = len(kept) - (CONTEXT_ELEMENTS_MAX - 1)
        kept = [*kept[: CONTEXT_ELEMENTS_MAX - 1], _more_text(hidden)]
    rendered = [
        _mrkdwn(element, CONTEXT_TEXT_MAX, what="context") if isinstance(element, str) else element
        for element in kept
    ]
    return _with_block_id({"type": "context", "elements": rendered}, block_id)


def button(
    text: str,
    action_id: str,
    value: str | None = None,
    *,
    style: ButtonStyle | None = None,
    url: str | None = None,
) -> Block:
    """A button element; `value` comes back in the action payload, so keep ids in it, not names."""
    if not action_id or len(action_id) > ACTION_ID_MAX:
        raise ValueError(f"action_id must be 1 to {ACTION_ID_MAX} characters")
    if style not in (None, "primary", "danger"):
        raise ValueError(f"unknown button style {style!r}: use 'primary' or 'danger'")
    element: Block = {
        "type": "button",
        "text": _plain_text(text, BUTTON_TEXT_MAX, what="button"),
        "action_id": action_id,
    }
    if value is not None:
        if len(value) > BUTTON_VALUE_MAX:
            raise ValueError(f"button value is longer than {BUTTON_VALUE_MAX} characters")
        element["value"] = value
    if style is not None:
        element["style"] = style
    if url is not None:
        element["url"] = url
    return element


def actions(elements: Sequence[Block], *, block_id: str | None = None) -> Block:
    """A row of buttons; beyond Slack's 25 elements the rest are dropped (no room to say so)."""
    if not elements:
        raise ValueError("an actions block needs at least one element")
    block = {"type": "actions", "elements": list(elements[:ACTIONS_ELEMENTS_MAX])}
    return _with_block_id(block, block_id)


def _first_text(blocks: Sequence[Block]) -> str:
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict) and text.get("text"):
            # The fallback is mrkdwn: a plain_text header's `&`, `<`, `>` must become entities.
            if text.get("type") == "plain_text":
                return escape_mrkdwn(str(text["text"]))
            return str(text["text"])
    return ""


def message(
    text: str,
    blocks: Sequence[Block],
    response_type: Literal["ephemeral", "in_channel"] | None = None,
) -> dict[str, Any]:
    """The payload for chat.postMessage / respond(): at most 50 blocks and a fallback `text`.

    `text` is what notifications and screen readers show, so it is never empty: without one, the
    first header or section text stands in.
    """
    if response_type not in (None, "ephemeral", "in_channel"):
        raise ValueError(f"unknown response_type {response_type!r}")
    kept = list(blocks)
    if len(kept) > MESSAGE_BLOCKS_MAX:
        hidden = len(kept) - (MESSAGE_BLOCKS_MAX - 1)
        kept = [*kept[: MESSAGE_BLOCKS_MAX - 1], context([_more_text(hidden)])]
    fallback = text.strip() or _first_text(kept).strip() or "Costbot"
    payload: dict[str, Any] = {"text": truncate(fallback, MESSAGE_TEXT_MAX), "blocks": kept}
    if response_type is not None:
        payload["response_type"] = response_type
    return payload


def _fit_lines(
    lines: Sequence[str],
    max_chars: int,
    max_items: int | None,
    render: Callable[[str], str] = str,
    total: int | None = None,
) -> list[str]:
    """The longest prefix of `lines`, each passed through `render`, that newline-joined with an
    "…and N more" line (when some are left out) stays within `max_chars`.

    Lines are rendered only as they are examined, so 10,000 long lines cost no more than a few.
    A single over-long first line is clipped rather than dropped. `total` is the full count when
    `lines` is only the head of a longer list.
    """
    total = len(lines) if total is None else total
    limit = total if max_items is None else min(total, max(max_items, 0))
    # Reserve room for the widest possible "…and N more" line (and its newline) up front.
    reserve = len(_more_text(total)) + 1
    if max_chars < reserve + 2:
        raise ValueError(f"max_chars={max_chars} leaves no room for any line")
    kept: list[str] = []
    used = 0
    for index, raw_line in enumerate(lines[:limit]):
        line = render(raw_line)
        separator = 1 if kept else 0
        left_out_after = index + 1 < total
        budget = max_chars - used - separator - (reserve if left_out_after else 0)
        if len(line) <= budget:
            kept.append(line)
            used += separator + len(line)
            continue
        if not kept:
            # Always show something: clip the first line so it fits with the "more" line.
            kept.append(truncate(line, max_chars - reserve))
        break
    return kept


def _finish_list(kept: list[str], total: int) -> list[str]:
    hidden = total - len(kept)
    return [*kept, _more_text(hidden)] if hidden else kept


def _one_line(text: str) -> str:
    """Collapse newlines and runs of spaces: one item must stay one line in a list."""
    return _WHITESPACE.sub(" ", text).strip()


def bulleted_list(
    lines: Sequence[str],
    max_chars: int = SECTION_TEXT_MAX,
    max_items: int | None = None,
    *,
    escape: bool = True,
    empty_text: str = EMPTY_LIST_TEXT,
) -> str:
    """One section's text: a "• " line per item, cut with "_…and N more_" to fit `max_chars`.

    Lines are escaped for mrkdwn unless `escape=False` (when the caller already built mrkdwn).
    """
    if not lines:
        return empty_text

    def render(line: str) -> str:
        return f"• {escape_mrkdwn(_one_line(line)) if escape else line}"

    kept = _fit_lines(lines, max_chars, max_items, render)
    return "\n".join(_finish_list(kept, len(lines)))


def ranked_table(
    rows: Sequence[tuple[str, int, str]],
    *,
    max_chars: int = SECTION_TEXT_MAX,
    max_items: int | None = None,
    name_width: int = 28,
    change_width: int = 40,
    empty_text: str = EMPTY_LIST_TEXT,
    currency: str = "USD",
) -> str:
    """A numbered, column-aligned ranking of (name, amount_micros, change_text) rows, every
    amount in `currency`.

    Alignment only survives in Slack inside a code block, so the rows go in one; names longer
    than `name_width` end with "…". The result fits one section (`max_chars`).
    """
    if not rows:
        return empty_text
    # Every line is at least `N. $0.00`, so rows past this many can never be shown: skip them
    # before the per-row work, and size the columns for the rows that can appear.
    candidates = rows[: max_chars // _MIN_TABLE_LINE + 1]
    names = [
        truncate(_one_line(name) or "-", name_width, mrkdwn=False) for name, _, _ in candidates
    ]
    amounts = [format_money(amount, currency) for _, amount, _ in candidates]
    changes = [
        truncate(_one_line(change), change_width, mrkdwn=False) for _, _, change in candidates
    ]
    rank_width = len(str(len(candidates)))
    name_col = max(len(name) for name in names)
    amount_col = max(len(amount) for amount in amounts)
    # Pad first, escape after: padding counts the characters people see, not the entities.
    lines = [
        escape_mrkdwn(
            f"{rank:>{rank_width}}. {name:<{name_col}}  {amount:>{amount_col}}  {change}".rstrip()
        )
        for rank, (name, amount, change) in enumerate(
            zip(names, amounts, changes, strict=True), start=1
        )
    ]
    fence = "```"
    overhead = len(fence) * 2 + 2  # the opening and closing fences with their newlines
    kept = _fit_lines(lines, max_chars - overhead, max_items, total=len(rows))
    table = f"{fence}\n" + "\n".join(kept) + f"\n{fence}"
    hidden = len(rows) - len(kept)
    return f"{table}\n{_more_text(hidden)}" if hidden else table
