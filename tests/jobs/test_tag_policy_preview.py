"""The demo's preview of the ladder: the real job walked over simulated days in the in-memory
cloud, one message per step, and an approval that terminates."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from bot.config import parse_config
from bot.render import blocks
from jobs.tag_policy import DEMO_APPROVER, preview_ladder


def test_each_step_of_the_ladder_is_previewed(tmp_path: Path):
    config = parse_config({"teams": [{"name": "payments", "channel": "#payments"}]}, "demo.yml")
    previews = preview_ladder(config, date(2026, 11, 29), tmp_path)
    assert [title for title, _, _ in previews] == [
        "Tag policy in #payments, day 0",
        "Tag policy in #payments, day 2",
        "Tag policy in #payments, day 7",
        "Tag policy in #payments, approved",
        "Tag policy in #payments, day 2",
    ]
    texts = [message["text"] for _, _, message in previews]
    assert texts == [
        "Tagging policy, Nov 21, 2026: 4 reported",
        "Tagging policy, Nov 23, 2026: 3 stopped",
        "Tagging policy, Nov 28, 2026: 3 awaiting approval",
        "Tagging policy, Nov 28, 2026: 3 awaiting approval",
        "Tagging policy, Nov 23, 2026: 3 would stop",
    ]
    asked, approved = previews[2][2], previews[3][2]
    assert sum("accessory" in b for b in asked["blocks"]) == 3
    assert sum("accessory" in b for b in approved["blocks"]) == 2
    assert (
        f"💥 `i-0f1e2d3c4b5a69788`: Approved by <@{DEMO_APPROVER}> on Nov 28, 2026 11:00 UTC;"
        " terminated." in json.dumps(approved, ensure_ascii=False)
    )
    for _, _, message in previews:
        assert len(message["blocks"]) <= blocks.MESSAGE_BLOCKS_MAX
