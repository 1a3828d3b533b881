"""The Claim modal within Slack's limits whatever the inventory holds, read back in the
configured order, and the /untagged message after a claim."""

from __future__ import annotations

import json

from bot.cloud.claim import claim_problems
from bot.render.claim import (
    claim_metadata,
    claim_modal,
    error_block_ids,
    read_metadata,
    submitted_values,
)
from bot.render.untagged import (
    CLAIM_ACTION_ID,
    answer_key_of,
    claimed_text,
    mark_claimed,
    with_answer_key,
)

REQUIRED = ("Team", "Product", "Environment", "CostCenter")
HOSTILE = "<!channel> *x* & y"


def test_the_modal_stays_within_limits_with_thousands_of_values() -> None:
    choices = {
        "Team": [f"team-{n}" for n in range(5_000)],
        "Product": [HOSTILE, "p" * 151, "x" * 140],
        "Environment": [],
    }
    view = claim_modal(
        resource_id="i-" + "0" * 500,
        description="ec2:instance",
        required=REQUIRED,
        choices=choices,
        current={"Team": "team-4999", "Product": HOSTILE, "Environment": "e" * 300},
        private_metadata=claim_metadata("arn:aws:ec2:us-east-1:1:instance/i-1", "https://x/r", "k"),
    )
    assert len(view["title"]["text"]) <= 24 and len(view["blocks"]) <= 100
    menus = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    team = menus["claim_tag:0:choice"]
    assert len(team["options"]) == 100
    # The current value beyond the first 100 is typed instead of picked.
    assert "initial_option" not in team
    assert menus["claim_tag:0:text"]["initial_value"] == "team-4999"
    product = menus["claim_tag:1:choice"]
    assert [o["value"] for o in product["options"]] == [HOSTILE, "x" * 140]  # 151: too long
    assert all(len(o["text"]["text"]) <= 75 for o in product["options"])
    assert "<!channel>" not in json.dumps([o["text"] for o in product["options"]])
    assert product["initial_option"]["value"] == HOSTILE
    # No values in use: only the text field, prefilled (cut to AWS's 256).
    assert "claim_tag:2:choice" not in menus
    assert len(menus["claim_tag:2:text"]["initial_value"]) == 256
    for block in view["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000


def test_typed_text_wins_over_the_menu_and_errors_go_under_their_field() -> None:
    state = {
        "claim_tag:0:choice": {"value": {"selected_option": {"value": "payments"}}},
        "claim_tag:0:text": {"value": {"value": None}},
        "claim_tag:1:choice": {"value": {"selected_option": {"value": "a"}}},
        "claim_tag:1:text": {"value": {"value": "  typed  "}},
        "claim_tag:2:text": {"value": {"value": "aws:prod"}},
        "claim_tag:3:text": {"value": {"value": "v" * 257}},
    }
    values = submitted_values(state, REQUIRED)
    assert values == {
        "Team": "payments",
        "Product": "typed",
        "Environment": "aws:prod",
        "CostCenter": "v" * 257,
    }
    problems = claim_problems(values, REQUIRED)
    assert error_block_ids(problems, REQUIRED) == {
        "claim_tag:2:text": "Tags starting with `aws:` are reserved by AWS.",
        "claim_tag:3:text": "At most 256 characters (257 given).",
    }
    assert claim_problems({"Team": " "}, REQUIRED) == {
        key: f"{key} is required." for key in REQUIRED
    }


def test_metadata_round_trips_and_refuses_what_does_not_fit() -> None:
    text = claim_metadata("arn:aws:ec2:r:1:instance/i-1", "https://hooks/x", "answer:abc")
    assert read_metadata(text) == {
        "arn": "arn:aws:ec2:r:1:instance/i-1",
        "response_url": "https://hooks/x",
        "key": "answer:abc",
        "private": True,
    }
    assert claim_metadata("arn:" + "x" * 3000, "https://hooks/x", None) is None
    assert read_metadata("not json") == {}


def test_a_claim_replaces_only_its_resource_line() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "t"}},
        {
            "type": "section",
            "block_id": "untagged_claim:0",
            "text": {"type": "mrkdwn", "text": "a"},
            "accessory": {"type": "button", "action_id": CLAIM_ACTION_ID, "value": "arn:a"},
        },
        {
            "type": "section",
            "block_id": "untagged_claim:1",
            "text": {"type": "mrkdwn", "text": "b"},
            "accessory": {"type": "button", "action_id": CLAIM_ACTION_ID, "value": "arn:b"},
        },
    ]
    keyed = with_answer_key({"text": "t", "blocks": blocks}, "answer:k1")["blocks"]
    keys = [answer_key_of(b.get("block_id", "")) for b in keyed]
    assert keys == [None, "answer:k1", "answer:k1"]
    note = claimed_text("U1", "i-<b>", "pay&ments", {"Team": HOSTILE})
    assert note == (
        "✅ <@U1> claimed `i-&lt;b&gt;` for `pay&amp;ments` (Team=&lt;!channel&gt; *x* &amp; y)"
    )
    after = mark_claimed(keyed, "arn:b", note)
    assert after[1] == keyed[1]
    assert "accessory" not in after[2] and after[2]["text"]["text"] == note
