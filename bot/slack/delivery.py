"""Delivering messages to Slack, for handlers and jobs alike: post to a channel or through a
response_url, with the chart uploaded privately and shown in the message, falling back to text
when the upload fails or Slack refuses the image, and each delivery recorded in the store.

Charts. A chart is uploaded with the files v2 flow *without* a channel, which leaves the file
private (shared nowhere; Slack posts no message for it), and the message shows it in an image
block (`slack_file: {id}`). So each message shows its chart once, and the chart reaches exactly
the people who see the message: the asker for an ephemeral answer, the channel for a post.
Completing the upload with `channel_id` would instead share the PNG as a message of its own.

Keys. Every delivery has a key (`answer:<uuid>`, `weekly-digest:payments:2026-W48`, ...) and is
recorded in `deliveries`; a key already sent is not delivered again, so a job that restarts
never posts twice. The recorded payload is the message as Slack accepted it, which is what the
"Share in channel" button posts.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlite_utils
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.render import blocks
from bot.render.cost import CHART_PLACEHOLDER, Chart
from bot.slack.client import build_retry_handlers
from bot.store import queries, writers

log = logging.getLogger(__name__)

OpenWriter = Callable[[], sqlite_utils.Database]
Message = dict[str, Any]  # {"text": ..., "blocks": [...]}: what the renderers build

RESPONSE_URL_TIMEOUT_SECONDS = 10
# Slack's answers when a message's image block cannot be shown (yet): a fresh upload can take a
# moment before Slack accepts it in a block.
IMAGE_REFUSALS = {"invalid_blocks", "invalid_blocks_format", "invalid_slack_file"}
# Upload errors that mean "the bot cannot post files", with what an admin can do.
UPLOAD_PROBLEMS = {
    "not_allowed_token_type": "the app's token cannot upload files.",
    "missing_scope": "the app lacks the `files:write` scope: reinstall it from manifest.yml.",
}
CHART_REFUSED_NOTE = "📉 No chart: Slack did not accept the image this time."


@dataclass(frozen=True)
class Delivered:
    """What became of one delivery."""

    key: str
    status: str  # sent | duplicate (key already delivered) | failed
    chart: str = "none"  # inline | refused | failed | none (no chart to show)
    ts: str | None = None
    file_id: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "sent"


def new_answer_key() -> str:
    return f"answer:{uuid.uuid4().hex}"


class Delivery:
    """Sends messages through one WebClient and records them through `open_writer` (a function
    returning a write connection to the store, closed after each use)."""

    def __init__(
        self,
        client: WebClient,
        open_writer: OpenWriter,
        *,
        response_url_timeout: float = RESPONSE_URL_TIMEOUT_SECONDS,
    ) -> None:
        self._client = client
        self._open_writer = open_writer
        self._response_url_timeout = response_url_timeout

    # ---- the two ways a message reaches Slack

    def post(
        self,
        channel: str,
        message: Message,
        chart: Chart | None = None,
        *,
        key: str,
        kind: str = "message",
        thread_ts: str | None = None,
    ) -> Delivered:
        """Post `message` (with `chart`, if any) to `channel` once per `key`; with `thread_ts`,
        as a reply in that message's thread."""
        if not self._claim(key, kind=kind, channel=channel):
            log.info("Delivery %s was already made; not posting it again", key)
            return Delivered(key, "duplicate")
        prepared, chart_state, file_id = self._with_chart(message, chart)
        try:
            sent, chart_state = self._post_falling_back(channel, prepared, chart_state, thread_ts)
        except Exception as error:
            code = _error_code(error)
            log.warning("Posting %s to %s failed: %s", key, channel, code)
            self._record(key, status="failed", error=code, file_id=file_id)
            return Delivered(key, "failed", chart_state, file_id=file_id, error=code)
        ts = sent.get("ts")
        self._record(
            key,
            status="sent",
            ts=ts,
            file_id=file_id,
            chart=chart_state,
            payload=json.dumps(prepared if chart_state != "refused" else _without_images(prepared)),
        )
        return Delivered(key, "sent", chart_state, ts=ts, file_id=file_id)

    def respond(
        self,
        response_url: str,
        message: Message,
        chart: Chart | None = None,
        *,
        key: str,
        response_type: str = "ephemeral",
        kind: str = "answer",
        user_id: str | None = None,
        channel_id: str | None = None,
        extra_blocks: Sequence[blocks.Block] = (),
    ) -> Delivered:
        """Answer through a slash command's or an action's `response_url`. `extra_blocks` (such
        as the Share button) are shown but not recorded: a shared copy leaves them out."""
        self._claim(key, kind=kind, channel=channel_id, user_id=user_id)
        prepared, chart_state, file_id = self._with_chart(message, chart)
        attempts = [(prepared, chart_state)]
        if chart_state == "inline":
            attempts.append((_without_images(prepared), "refused"))
        error = "no_attempt"
        for attempt, state in attempts:
            # Recorded before sending: the asker may click Share before Slack's 200 is back here.
            self._record(key, file_id=file_id, chart=state, payload=json.dumps(attempt))
            shown = {
                **attempt,
                "blocks": _with_blocks_within_limit(attempt["blocks"], extra_blocks),
                "response_type": response_type,
            }
            error = self.send_to_response_url(response_url, shown)
            if error is None:
                self._record(key, status="sent")
                return Delivered(key, "sent", state, file_id=file_id)
        self._record(key, status="failed", error=error, file_id=file_id)
        return Delivered(key, "failed", chart_state, file_id=file_id, error=error)

    def send_to_response_url(self, response_url: str, body: dict[str, Any]) -> str | None:
        """POST `body` to a response_url; None when Slack took it, else a short error (never
        the URL: it is a credential for the conversation)."""
        webhook = WebhookClient(
            url=response_url,
            timeout=int(self._response_url_timeout),
            retry_handlers=build_retry_handlers(),
        )
        try:
            response = webhook.send_dict(body)
        except Exception as error:
            log.warning("Sending to a response_url failed: %s", _error_code(error))
            return _error_code(error)
        if response.status_code == 200:
            return None
        log.warning("Slack refused a response_url message: HTTP %s", response.status_code)
        return f"http_{response.status_code}"

    def tell(self, response_url: str | None, note: str) -> None:
        """A private note to whoever pressed a button, the message itself left as it is."""
        if response_url:
            self.send_to_response_url(
                response_url,
                {"response_type": "ephemeral", "replace_original": False, "text": note},
            )

    # ---- charts

    def upload_chart(self, chart: Chart) -> tuple[str | None, str | None]:
        """Upload the PNG privately (no channel). (file id, None), or (None, error code) when
        the upload failed in any way: Slack's errors, HTTP errors, timeouts, refused
        connections. The answer is delivered either way."""
        try:
            response = self._client.files_upload_v2(
                file=chart.png, filename=chart.filename, title=chart.title, alt_txt=chart.alt_text
            )
            uploaded = response.get("file") or response["files"][0]
            return str(uploaded["id"]), None
        except Exception as error:
            code = _error_code(error)
            log.warning("Chart upload failed: %s", code)
            return None, code

    def _with_chart(self, message: Message, chart: Chart | None) -> tuple[Message, str, str | None]:
        if chart is None:
            return _drop_placeholder(message), "none", None
        file_id, error = self.upload_chart(chart)
        if file_id is None:
            reason = UPLOAD_PROBLEMS.get(error or "", "the upload to Slack failed.")
            note = blocks.context([f"📉 No chart: {reason}"])
            return _put_chart_block(message, note), "failed", None
        image = blocks.image(chart.alt_text, slack_file_id=file_id, title=chart.title)
        return _put_chart_block(message, image), "inline", file_id

    def _post_falling_back(
        self, channel: str, message: Message, chart_state: str, thread_ts: str | None = None
    ) -> tuple[dict[str, Any], str]:
        threading = {"thread_ts": thread_ts} if thread_ts else {}
        try:
            response = self._client.chat_postMessage(
                channel=channel, text=message["text"], blocks=message["blocks"], **threading
            )
            return response.data if isinstance(response.data, dict) else {}, chart_state
        except SlackApiError as error:
            if _error_code(error) not in IMAGE_REFUSALS or not _has_images(message):
                raise
            log.warning("Slack refused the chart in a message to %s; posting without it", channel)
        response = self._client.chat_postMessage(
            channel=channel,
            text=message["text"],
            blocks=_without_images(message)["blocks"],
            **threading,
        )
        return response.data if isinstance(response.data, dict) else {}, "refused"

    # ---- the record

    def _claim(self, key: str, **fields: object) -> bool:
        db = self._open_writer()
        try:
            return writers.claim_delivery(db, key, **fields)
        finally:
            db.close()

    def _record(self, key: str, **fields: object) -> None:
        db = self._open_writer()
        try:
            writers.update_delivery(db, key, **fields)
        finally:
            db.close()

    def recorded(self, key: str) -> dict[str, Any] | None:
        db = self._open_writer()
        try:
            return queries.delivery(db, key)
        finally:
            db.close()


# ---- sharing an answer in its channel


@dataclass(frozen=True)
class ShareOutcome:
    shared: bool
    note: str  # what the person who clicked is told


def share_answer(
    delivery: Delivery, answer_key: str, clicked_by: str, response_url: str
) -> ShareOutcome:
    """Post a recorded ephemeral answer to its channel, as it was shown (chart included, same
    file: no new upload), once; only the asker may. The ephemeral copy is then replaced by a note
    saying who shared it."""
    answer = delivery.recorded(answer_key)
    # "pending": shown to the asker, who clicked before Slack's 200 for it was recorded.
    shown = answer is not None and answer["status"] in ("sent", "pending") and answer["payload"]
    if not shown or answer["kind"] != "answer":
        return _tell(delivery, response_url, "This answer can no longer be shared; ask again.")
    if answer["user_id"] != clicked_by:
        return _tell(delivery, response_url, "Only the person who asked can share this answer.")
    if not answer["channel"]:
        return _tell(delivery, response_url, "This answer has no channel to be shared in.")
    message = json.loads(answer["payload"])
    posted = delivery.post(answer["channel"], message, key=f"share:{answer_key}", kind="share")
    if posted.status == "duplicate":
        return _tell(delivery, response_url, "This answer is already shared in the channel.")
    if not posted.ok:
        reason = {
            "not_in_channel": "Costbot is not in this channel: `/invite @Costbot`, then share.",
            "channel_not_found": "Costbot cannot post here (a private channel or a DM).",
        }.get(posted.error or "", "Slack did not take the message; try again.")
        return _tell(delivery, response_url, f"Not shared: {reason}")
    note = f"Shared in the channel by <@{blocks.escape_mrkdwn(clicked_by)}>."
    delivery.send_to_response_url(
        response_url,
        {"replace_original": True, "text": note, "blocks": [blocks.context([note])]},
    )
    return ShareOutcome(True, note)


def _tell(delivery: Delivery, response_url: str, note: str) -> ShareOutcome:
    delivery.tell(response_url, note)
    return ShareOutcome(False, note)


# ---- message surgery


def _is_placeholder(block: blocks.Block) -> bool:
    return (
        block.get("type") == "image" and block.get("slack_file", {}).get("id") == CHART_PLACEHOLDER
    )


def _has_placeholder(message: Message) -> bool:
    return any(_is_placeholder(b) for b in message.get("blocks", []))


def _replace_placeholder(message: Message, replacement: blocks.Block) -> Message:
    return {
        **message,
        "blocks": [replacement if _is_placeholder(b) else b for b in message.get("blocks", [])],
    }


def _put_chart_block(message: Message, block: blocks.Block) -> Message:
    """`block` (the chart, or a note saying why there is none) where the renderer left the
    chart's placeholder, else at the end."""
    if _has_placeholder(message):
        return _replace_placeholder(message, block)
    return {**message, "blocks": _with_blocks_within_limit(message["blocks"], [block])}


def _drop_placeholder(message: Message) -> Message:
    return {**message, "blocks": [b for b in message.get("blocks", []) if not _is_placeholder(b)]}


def _with_blocks_within_limit(
    content: Sequence[blocks.Block], extra: Sequence[blocks.Block]
) -> list[blocks.Block]:
    """`content` then `extra`, within Slack's 50 blocks (a message over the limit is refused
    whole): the last content blocks give way, except the chart."""
    kept = list(content)
    while kept and len(kept) + len(extra) > blocks.MESSAGE_BLOCKS_MAX:
        not_images = [i for i, block in enumerate(kept) if block.get("type") != "image"]
        del kept[not_images[-1] if not_images else -1]
    return [*kept, *extra]


def _has_images(message: Message) -> bool:
    return any(b.get("type") == "image" and "slack_file" in b for b in message.get("blocks", []))


def _without_images(message: Message) -> Message:
    """The message with its uploaded-file images replaced by a note saying why."""
    note = blocks.context([CHART_REFUSED_NOTE])
    return {
        **message,
        "blocks": [
            note if b.get("type") == "image" and "slack_file" in b else b
            for b in message.get("blocks", [])
        ],
    }


def _error_code(error: Exception) -> str:
    """Slack's error code, or the exception's type: short, and never a URL, token or body."""
    if isinstance(error, SlackApiError):
        response = error.response
        code = response.get("error") if hasattr(response, "get") else None
        status = getattr(response, "status_code", None)
        return str(code or f"http_{status}")
    return type(error).__name__
