"""Who may press the buttons that change cloud resources (Approve termination, Stop): the
users and user groups of `tag_policy.approvers`. A user group's members are read from Slack
(`usergroups.users.list`, scope `usergroups:read`) at the click, so membership changes apply
at once; a group that cannot be read grants nothing (and says why in the log)."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.analytics.tag_ladder import is_approver
from bot.config import TagPolicySettings

log = logging.getLogger(__name__)

ONLY_APPROVERS_NOTE = (
    "Only approvers can do this (`tag_policy.approvers` in costbot.yml): nothing was changed."
)


def user_groups_of(client: WebClient, user_id: str, policy: TagPolicySettings) -> list[str]:
    """The approver user groups (S...) that `user_id` belongs to."""
    groups = [a.strip() for a in policy.approvers if a.strip().startswith("S")]
    found = []
    for group in groups:
        try:
            members = client.usergroups_users_list(usergroup=group).get("users") or []
        except SlackApiError as error:
            log.warning(
                "cannot read the members of user group %s (%s): it grants nothing",
                group,
                error.response.get("error", "error"),
            )
            continue
        if user_id in members:
            found.append(group)
    return found


def may_approve(client: WebClient, user_id: str | None, policy: TagPolicySettings) -> bool:
    """Whether the user is an approver, by id or through an approver user group."""
    if not user_id:
        return False
    if is_approver(user_id, (), policy):
        return True
    return is_approver(user_id, user_groups_of(client, user_id, policy), policy)
