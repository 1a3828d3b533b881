"""The Claim modal for one inventory resource: its required tags, the values already in use
across the inventory, and the teams of the config for the team tag."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlite_utils

from bot.analytics.tag_compliance import missing_tags
from bot.config import Config, tag_key
from bot.render import blocks
from bot.render.claim import claim_modal
from bot.store import queries

NOT_IN_INVENTORY = (
    "This resource is not in the inventory (any more): it cannot be claimed from here. "
    "Run `costbot sync aws`, then `/untagged` again."
)


def claim_choices(
    db: sqlite_utils.Database, config: Config, required: Sequence[str]
) -> dict[str, list[str]]:
    """Required key -> values to offer: for the team tag the config's teams first, then
    the values the inventory already uses for that key (any spelling), most used first."""
    in_use: dict[str, dict[str, int]] = {}
    for key, counts in queries.inventory_tag_values(db).items():
        merged = in_use.setdefault(tag_key(key), {})
        for value, count in counts.items():
            merged[value] = merged.get(value, 0) + count
    team_keys = {tag_key(k) for k in config.tag_keys}
    choices = {}
    for key in required:
        offered = [t.name for t in config.teams] if tag_key(key) in team_keys else []
        counts = in_use.get(tag_key(key), {})
        offered += sorted(counts, key=lambda value: (-counts[value], value))
        choices[key] = list(dict.fromkeys(offered))
    return choices


def claim_form(
    db: sqlite_utils.Database, config: Config, arn: str, private_metadata: str
) -> dict[str, Any] | None:
    """The modal for `arn`, prefilled with its tags; None when the inventory lacks it."""
    resource = queries.inventory_resource(db, arn)
    if resource is None:
        return None
    required = tuple(config.tag_policy.required_tags)
    tags = resource["tags"]
    current = {}
    for key in required:
        value = next((v for k, v in tags.items() if tag_key(k) == tag_key(key)), None)
        if isinstance(value, str) and value.strip():
            current[key] = value.strip()
    missing = missing_tags(tags, required)
    description = " · ".join(
        blocks.escape_mrkdwn(blocks.shorten(str(part or "-"), 40))
        for part in (resource["resource_type"], resource["account_id"], resource["region"])
    )
    if missing:
        description += "\nMissing: " + ", ".join(blocks.code(k, 40) for k in missing)
    return claim_modal(
        resource_id=resource["resource_id"] or arn,
        description=description,
        required=required,
        choices=claim_choices(db, config, required),
        current=current,
        private_metadata=private_metadata,
    )
