"""The ladder's channel message within Slack's limits for any number of resources, with
everything from data escaped, and the update an approval makes to it."""

from __future__ import annotations

import json
from datetime import date

from bot.config import TagPolicySettings
from bot.render import blocks
from bot.render.tag_policy import (
    APPROVE_ACTION_ID,
    Notice,
    approve_block_id,
    ladder_message,
    with_approval,
)

DAY = date(2026, 12, 14)
POLICY = TagPolicySettings(enforce=True)


def notice(number: int, step: str, *, dry: bool = False, outcome: str = "done", **extra) -> Notice:
    fields = {
        "audit_id": number,
        "arn": f"arn:aws:ec2:us-east-1:123456789012:instance/i-{number:017x}",
        "resource_id": f"i-{number:017x}",
        "resource_type": "ec2:instance",
        "account": "123456789012",
        "region": "us-east-1",
        "step": step,
        "dry": dry,
        "outcome": outcome,
        "reason": "Missing required tags: Product, CostCenter. " + "Long reason. " * 20,
    }
    return Notice(**(fields | extra))


def sections(message: dict) -> list[str]:
    return [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]


def test_thousands_of_resources_fit_with_and_n_more():
    notices = (
        [notice(n, "notify") for n in range(3000)]
        + [notice(3000 + n, "stop") for n in range(2000)]
        + [notice(5000 + n, "stop", dry=True) for n in range(500)]
        + [notice(6000 + n, "terminate") for n in range(700)]
        + [notice(7000 + n, "stop", outcome="failed") for n in range(300)]
        + [notice(8000 + n, "await-approval") for n in range(1000)]
    )
    message, told = ladder_message(notices, DAY, POLICY)
    assert len(message["blocks"]) <= blocks.MESSAGE_BLOCKS_MAX
    assert all(len(text) <= blocks.SECTION_TEXT_MAX for text in sections(message))
    assert len(message["text"]) <= blocks.MESSAGE_TEXT_MAX
    shown = json.dumps(message)
    assert "and 2,9" in shown  # the reported list is cut with "and N more"
    buttons = [b["accessory"] for b in message["blocks"] if "accessory" in b]
    assert 0 < len(buttons) < 1000
    assert all(b["action_id"] == APPROVE_ACTION_ID and len(b["value"]) <= 2000 for b in buttons)
    assert f"and {1000 - len(buttons):,} more awaiting approval" in shown
    # Told: everything but the requests for approval with no room for their button.
    assert len(told) == len(notices) - (1000 - len(buttons))
    assert message["text"] == (
        "Tagging policy, Dec 14, 2026: 300 failed, 700 terminated, 2,000 stopped,"
        " 500 would stop, 3,000 reported, 1,000 awaiting approval"
    )


def test_everything_from_data_is_escaped():
    evil = notice(
        1,
        "await-approval",
        resource_id="<!channel>",
        account="<@U123>",
        reason="tags & <https://evil.example|click>",
        owner_note="Owner guessed: team <!here>",
    )
    message, _ = ladder_message([evil, notice(2, "notify", resource_id="a>b")], DAY, POLICY)
    shown = json.dumps(message)
    for raw in ("<!channel>", "<@U123>", "<https://evil", "<!here>", "a>b"):
        assert raw not in shown
    assert "&lt;!channel&gt;" in shown


def test_an_approval_replaces_only_that_resources_button():
    first, second = notice(1, "await-approval"), notice(2, "await-approval")
    message, _ = ladder_message([first, second], DAY, POLICY)
    updated = with_approval(message["blocks"], first.arn, "Approved by <@U1>; terminated.")
    (line,) = [b for b in updated if b.get("block_id") == approve_block_id(first.arn)]
    assert line == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "Approved by <@U1>; terminated."},
        "block_id": approve_block_id(first.arn),
    }
    assert [b["accessory"]["value"] for b in updated if "accessory" in b] == [second.arn]
    assert len(updated) == len(message["blocks"])
