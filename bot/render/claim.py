"""The Claim modal of `/untagged`: one field per required tag (as configured), each a menu of
the values already in use (teams from the config first for the team tag) and a free-text
field for any other value, prefilled with what the resource already carries.

Block ids name the required key's position (`claim_tag:<n>:choice` / `:text`), so the
submission is read back in the configured order (`submitted_values`), and errors are shown
under the text field of the key (`error_block_ids`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bot.render import blocks

CLAIM_CALLBACK_ID = "untagged_claim"
VALUE_ACTION_ID = "value"
OPTIONS_MAX = 100  # Slack's limit for a static_select
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
MODAL_TITLE_MAX = 24
PRIVATE_METADATA_MAX = 3000
TEXT_INPUT_MAX = 256  # AWS's tag value limit; longer values are refused before submitting


def _block_id(index: int, part: str) -> str:
    return f"claim_tag:{index}:{part}"


def _option(value: str) -> dict[str, Any]:
    return {
        "text": {
            "type": "plain_text",
            "text": blocks.truncate(blocks.plain_safe(value), OPTION_TEXT_MAX, mrkdwn=False),
        },
        "value": value,
    }


def claim_metadata(
    arn: str, response_url: str | None, answer_key: str | None, private: bool = True
) -> str | None:
    """What the submission needs to act and to update the message (`private`: the message
    pressed is the asker's private answer, which keeps its Share button); None when it
    cannot fit Slack's 3,000 characters (then the claim cannot be offered)."""
    text = json.dumps(
        {"arn": arn, "response_url": response_url, "key": answer_key, "private": private}
    )
    return text if len(text) <= PRIVATE_METADATA_MAX else None


def read_metadata(text: str | None) -> dict[str, str | bool | None]:
    try:
        found = json.loads(text or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def claim_modal(
    *,
    resource_id: str,
    description: str,
    required: Sequence[str],
    choices: Mapping[str, Sequence[str]],
    current: Mapping[str, str],
    private_metadata: str,
) -> dict[str, Any]:
    """The modal view for views.open. `description` is mrkdwn (escaped by the caller);
    `choices` maps a required key to the values offered; `current` to the resource's value."""
    content: list[dict[str, Any]] = [
        blocks.section(
            f"Tag {blocks.code(resource_id, 80)} with every required tag. The tags are written "
            "to the resource itself, and /untagged says who claimed it.\n" + description
        )
    ]
    for index, key in enumerate(required):
        label = blocks.truncate(blocks.plain_safe(key), 2000, mrkdwn=False)
        now = (current.get(key) or "").strip()
        offered = [v for v in choices.get(key, ()) if v and len(v) <= OPTION_VALUE_MAX]
        offered = offered[:OPTIONS_MAX]
        if offered:
            select: dict[str, Any] = {
                "type": "static_select",
                "action_id": VALUE_ACTION_ID,
                "placeholder": {"type": "plain_text", "text": f"Choose a {label}"[:150]},
                "options": [_option(v) for v in offered],
            }
            if now in offered:
                select["initial_option"] = _option(now)
            content.append(
                {
                    "type": "input",
                    "block_id": _block_id(index, "choice"),
                    "optional": True,
                    "label": {"type": "plain_text", "text": label},
                    "element": select,
                }
            )
        text_input: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": VALUE_ACTION_ID,
            "max_length": TEXT_INPUT_MAX,
        }
        hint = "Typed text wins over the menu." if offered else f"{label} is required."
        if now and now not in offered:
            text_input["initial_value"] = now[:TEXT_INPUT_MAX]
        content.append(
            {
                "type": "input",
                "block_id": _block_id(index, "text"),
                "optional": True,
                "label": {
                    "type": "plain_text",
                    "text": f"{label}: another value" if offered else label,
                },
                "hint": {"type": "plain_text", "text": hint},
                "element": text_input,
            }
        )
    return {
        "type": "modal",
        "callback_id": CLAIM_CALLBACK_ID,
        "title": {"type": "plain_text", "text": "Claim resource"[:MODAL_TITLE_MAX]},
        "submit": {"type": "plain_text", "text": "Tag it"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": private_metadata,
        "blocks": content[: blocks.MESSAGE_BLOCKS_MAX * 2],  # modals take 100 blocks
    }


def submitted_values(state_values: Mapping[str, Any], required: Sequence[str]) -> dict[str, str]:
    """Required key -> the value chosen (typed text first, else the menu's), trimmed."""
    found = {}
    for index, key in enumerate(required):
        typed = (state_values.get(_block_id(index, "text")) or {}).get(VALUE_ACTION_ID) or {}
        chosen = (state_values.get(_block_id(index, "choice")) or {}).get(VALUE_ACTION_ID) or {}
        value = (typed.get("value") or "").strip()
        if not value:
            value = ((chosen.get("selected_option") or {}).get("value") or "").strip()
        found[key] = value
    return found


def error_block_ids(problems: Mapping[str, str], required: Sequence[str]) -> dict[str, str]:
    """`response_action: errors` of a submission: each problem under its key's text field."""
    return {
        _block_id(index, "text"): problems[key][:150]
        for index, key in enumerate(required)
        if key in problems
    }
