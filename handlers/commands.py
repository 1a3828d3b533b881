"""Slash command listeners: ack at once, answer in a lazy listener (Slack's 3-second rule),
upload the chart with the files v2 flow, reply through the command's response_url."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.context import AppContext
from bot.cost_command import Asker, answer_cost
from bot.cost_render import Reply

log = logging.getLogger(__name__)

# Upload errors that mean "the bot cannot post files here", with what the user can do.
UPLOAD_PROBLEMS = {
    "not_in_channel": "Costbot is not a member of this channel: `/invite @Costbot` to get charts.",
    "channel_not_found": "Costbot cannot see this channel (private or DM): invite it for charts.",
    "not_allowed_token_type": "the app's token cannot upload files.",
    "missing_scope": "the app lacks the `files:write` scope: reinstall it from manifest.yml.",
}


def acknowledge(ack: Ack) -> None:
    ack()


def upload_chart(client: WebClient, reply: Reply, channel_id: str) -> dict[str, Any]:
    """Upload the chart to the channel and return the payload that shows it, or the payload
    with a note saying why there is no chart."""
    chart = reply.chart
    assert chart is not None
    try:
        response = client.files_upload_v2(
            channel=channel_id,
            file=chart.png,
            filename=chart.filename,
            title=chart.title,
            alt_txt=chart.alt_text,
        )
    except SlackApiError as error:
        code = error.response.get("error", "unknown_error")
        log.warning("chart upload to %s failed: %s", channel_id, code)
        reason = UPLOAD_PROBLEMS.get(code, f"Slack answered `{code}`.")
        return reply.without_chart(f"📉 No chart: {reason}")
    file_id = response.get("file", {}).get("id") or response["files"][0]["id"]
    return reply.with_chart_file(file_id)


def answer_cost_command(
    body: dict[str, Any], respond: Respond, client: WebClient, context: AppContext
) -> None:
    db = context.open_db()
    try:
        reply = answer_cost(
            body.get("text", ""),
            db=db,
            config=context.config,
            today=context.today(),
            asker=Asker(
                user_id=body.get("user_id"),
                channel_id=body.get("channel_id"),
                channel_name=body.get("channel_name"),
            ),
        )
    finally:
        db.close()
    payload = reply.payload
    if reply.chart is not None and body.get("channel_id"):
        payload = upload_chart(client, reply, body["channel_id"])
    respond(
        text=payload["text"],
        blocks=payload["blocks"],
        response_type=payload.get("response_type", "ephemeral"),
    )


def register(app: App, context: AppContext) -> None:
    def answer(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        answer_cost_command(body, respond, client, context)

    app.command("/cost")(ack=acknowledge, lazy=[answer])
