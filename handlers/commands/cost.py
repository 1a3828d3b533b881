"""Slash command listeners: ack at once, answer in a lazy listener (Slack's 3-second rule),
upload the chart with the files v2 flow, reply through the command's response_url."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.answers.cost import Asker, answer_cost
from bot.context import AppContext
from bot.render.blocks import escape_mrkdwn
from bot.render.cost import Reply

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


def upload_chart(client: WebClient, reply: Reply, channel_id: str) -> list[dict[str, Any]]:
    """Upload the chart to the channel. Returns the payloads to try in order: the message
    showing the chart inline, then one linking to it (Slack may refuse a freshly uploaded
    file in an image block with `invalid_blocks` until it has processed it). If the upload
    fails, the only payload says why there is no chart."""
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
        return [reply.without_chart(f"📉 No chart: {reason}")]
    uploaded = response.get("file") or response["files"][0]
    link = f"📈 <{uploaded.get('permalink', '')}|{escape_mrkdwn(chart.title)}> (posted above)"
    return [reply.with_chart_file(uploaded["id"]), reply.without_chart(link)]


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
    payloads = [reply.payload]
    if reply.chart is not None and body.get("channel_id"):
        payloads = upload_chart(client, reply, body["channel_id"])
    for payload in payloads:
        sent = respond(
            text=payload["text"],
            blocks=payload["blocks"],
            response_type=payload.get("response_type", "ephemeral"),
        )
        if sent.status_code == 200:
            return
        log.warning("Slack refused the answer (%s): %s", sent.status_code, sent.body)


def register(app: App, context: AppContext) -> None:
    def answer(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        answer_cost_command(body, respond, client, context)

    app.command("/cost")(ack=acknowledge, lazy=[answer])
