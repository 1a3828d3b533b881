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

Exactly once. Slack has no idempotency key, and a process can die after Slack took a message
but before the record says so. So a post is recorded as `pending` first (with this process as
its owner), and the message carries `metadata` naming its key. A delivery found unfinished (its
owner died, or it went stale) or whose outcome is unknown (the connection broke after the
request was sent) is first looked for in the channel's history (conversations.history with
metadata): found, it is recorded as sent and not posted again. That is also why posts are not
retried on connection errors or 5xx by the HTTP client (which cannot know whether Slack took
them) but here, after the history says Slack did not; 429s are retried (Slack took nothing).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlite_utils
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
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
# Why a history search failed, with what an admin can do (appended to the warning).
HISTORY_PROBLEMS = {
    "missing_scope": ": the app lacks the `channels:history` / `groups:history` scope;"
    " reinstall it from manifest.yml",
    "not_in_channel": ": Costbot is not in the channel (`/invite @Costbot`)",
}
CHART_REFUSED_NOTE = "📉 No chart: Slack did not accept the image this time."
# The message metadata every post carries: the key it was delivered under.
METADATA_EVENT_TYPE = "costbot_delivery"
METADATA_KEY_FIELD = "costbot_delivery_key"
# How far back (before the first attempt) and how deep a history search for a key goes.
HISTORY_SLACK_SECONDS = 120
HISTORY_PAGES = 5
HISTORY_PAGE_SIZE = 200
# A channel given as an id (not a #name): conversations.history takes it as it is.
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")


@dataclass(frozen=True)
class Delivered:
    """What became of one delivery."""

    key: str
    status: str  # sent | duplicate (key already delivered) | failed
    chart: str = "none"  # inline | refused | failed | none (no chart to show)
    ts: str | None = None
    file_id: str | None = None
    error: str | None = None
    # True when an earlier attempt's message was found in the channel's history (not posted
    # again); `ts` is then that message's.
    recovered: bool = False

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
        # Posts go through a client that retries rate limits only (see the module docstring).
        self._poster = WebClient(
            token=client.token,
            base_url=client.base_url,
            timeout=client.timeout,
            logger=client.logger,
            retry_handlers=[
                h for h in client.retry_handlers if isinstance(h, RateLimitErrorRetryHandler)
            ],
        )

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
        job: str | None = None,
        period: str | None = None,
    ) -> Delivered:
        """Post `message` (with `chart`, if any) to `channel` once per `key`; with `thread_ts`,
        as a reply in that message's thread. `job` and `period` say what a scheduled delivery
        was for."""
        claim = self._claim_once(key, kind=kind, channel=channel, job=job, period=period)
        if claim is None:
            log.info("Delivery %s was already made; not posting it again", key)
            return Delivered(key, "duplicate")
        if claim.may_be_in_slack:
            found_ts = self._find_in_history(channel, key, claim.before)
            if found_ts is not None:  # an earlier attempt's message
                return Delivered(key, "sent", ts=found_ts, recovered=True)
        prepared, chart_state, file_id = self._with_chart(message, chart)
        prepared = with_delivery_key(prepared, key)
        try:
            sent, chart_state = self._post_falling_back(channel, prepared, chart_state, thread_ts)
        except Exception as error:
            code = _error_code(error)
            if not _slack_refused(error):
                # Sent, but no answer: the message may be in the channel.
                self._record(key, uncertain=1, error=code, file_id=file_id)
                found_ts = self._find_in_history(channel, key, None)
                if found_ts is not None:  # this post's own message
                    return Delivered(key, "sent", chart_state, ts=found_ts, file_id=file_id)
                log.warning(
                    "Posting %s to %s: no answer (%s); posting once more", key, channel, code
                )
                try:
                    sent, chart_state = self._post_falling_back(
                        channel, prepared, chart_state, thread_ts
                    )
                except Exception as again:
                    return self._failed(key, channel, again, file_id, chart_state)
            else:
                return self._failed(key, channel, error, file_id, chart_state)
        ts = sent.get("ts")
        channel_id = sent.get("channel")
        self._record(
            key,
            status="sent",
            ts=ts,
            file_id=file_id,
            chart=chart_state,
            uncertain=0,
            error=None,
            channel_id=channel_id,
            payload=json.dumps(prepared if chart_state != "refused" else _without_images(prepared)),
        )
        if channel_id and channel.startswith("#"):
            self._remember_channel(channel, str(channel_id))
        return Delivered(key, "sent", chart_state, ts=ts, file_id=file_id)

    def _failed(
        self, key: str, channel: str, error: Exception, file_id: str | None, chart_state: str
    ) -> Delivered:
        code = _error_code(error)
        log.warning("Posting %s to %s failed: %s", key, channel, code)
        self._record(
            key,
            status="failed",
            error=code,
            file_id=file_id,
            uncertain=0 if _slack_refused(error) else 1,
        )
        return Delivered(key, "failed", chart_state, file_id=file_id, error=code)

    # ---- finding an earlier attempt in the channel

    def _find_in_history(self, channel: str, key: str, before: dict[str, Any] | None) -> str | None:
        """The ts of the message an attempt at `key` left in `channel`, recorded as sent; None
        when the history shows none (or cannot be read: then posting is the lesser evil, and
        the log says so)."""
        channel_id = (before or {}).get("channel_id") or self.channel_id(channel)
        if channel_id is None:
            log.warning("No channel id for %s: cannot look for %s in its history", channel, key)
            return None
        recorded = self.recorded(key) or {}
        started = recorded.get("created_at") or (before or {}).get("created_at")
        oldest = _epoch(started) - HISTORY_SLACK_SECONDS if started else 0
        cursor = None
        try:
            for _ in range(HISTORY_PAGES):
                response = self._client.conversations_history(
                    channel=channel_id,
                    oldest=f"{max(oldest, 0):.6f}",
                    include_all_metadata=True,
                    limit=HISTORY_PAGE_SIZE,
                    **({"cursor": cursor} if cursor else {}),
                )
                for message in response.get("messages") or []:
                    payload = (message.get("metadata") or {}).get("event_payload") or {}
                    if payload.get(METADATA_KEY_FIELD) == key:
                        ts = message.get("ts")
                        log.info(
                            "Delivery %s was already in %s (ts %s): recorded", key, channel, ts
                        )
                        self._record(
                            key,
                            status="sent",
                            ts=ts,
                            uncertain=0,
                            error=None,
                            channel_id=channel_id,
                        )
                        return ts
                cursor = (response.get("response_metadata") or {}).get("next_cursor")
                if not response.get("has_more") or not cursor:
                    return None
        except Exception as error:
            # Posting anyway is the lesser evil: an unreadable history is a standing problem
            # (a scope missing from an old install), and refusing to post would silently drop
            # every delivery left unfinished, while the message may well not be in the channel
            # (a process killed before Slack had it). At worst the channel sees one message
            # twice; the warning says what to fix so that it cannot happen again.
            code = _error_code(error)
            log.warning(
                "Could not read %s's history to look for %s (%s), so it is posted without "
                "knowing whether an earlier attempt reached the channel%s",
                channel,
                key,
                code,
                HISTORY_PROBLEMS.get(code, ""),
            )
        return None

    def channel_id(self, channel: str) -> str | None:
        """`channel` as an id: as given, from the ids Slack answered before, else from
        conversations.list (needs channels:read and groups:read)."""
        if _CHANNEL_ID.match(channel):
            return channel
        db = self._open_writer()
        try:
            known = queries.channel_id(db, channel)
        finally:
            db.close()
        if known:
            return known
        wanted = channel.lstrip("#").lower()
        try:
            for page in self._client.conversations_list(
                types="public_channel,private_channel", exclude_archived=True, limit=200
            ):
                for listed in page.get("channels") or []:
                    if str(listed.get("name", "")).lower() == wanted:
                        self._remember_channel(channel, listed["id"])
                        return str(listed["id"])
        except Exception as error:
            log.warning("Could not list channels to find %s: %s", channel, _error_code(error))
        return None

    def _remember_channel(self, channel: str, channel_id: str) -> None:
        db = self._open_writer()
        try:
            writers.remember_channel_id(db, channel, channel_id)
        finally:
            db.close()

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
        extra = {"metadata": message["metadata"]} if message.get("metadata") else {}
        try:
            response = self._poster.chat_postMessage(
                channel=channel,
                text=message["text"],
                blocks=message["blocks"],
                **threading,
                **extra,
            )
            return response.data if isinstance(response.data, dict) else {}, chart_state
        except SlackApiError as error:
            if _error_code(error) not in IMAGE_REFUSALS or not _has_images(message):
                raise
            log.warning("Slack refused the chart in a message to %s; posting without it", channel)
        response = self._poster.chat_postMessage(
            channel=channel,
            text=message["text"],
            blocks=_without_images(message)["blocks"],
            **threading,
            **extra,
        )
        return response.data if isinstance(response.data, dict) else {}, "refused"

    # ---- the record

    def _claim_once(self, key: str, **fields: object) -> writers.DeliveryClaim | None:
        db = self._open_writer()
        try:
            return writers.claim_delivery_once(
                db, key, **{k: v for k, v in fields.items() if v is not None}
            )
        finally:
            db.close()

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


def with_chart_note(message: Message, note: str) -> Message:
    """The message with `note` (a context line) where its chart would have been: for a job
    whose chart could not be drawn."""
    return _put_chart_block(message, blocks.context([note]))


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


def with_delivery_key(message: Message, key: str) -> Message:
    """The message with metadata naming its delivery key; metadata it already carries (the
    figures of an answer) keeps its event type, the key added to its payload."""
    metadata = dict(message.get("metadata") or {})
    payload = {**(metadata.get("event_payload") or {}), METADATA_KEY_FIELD: key}
    return {
        **message,
        "metadata": {"event_type": metadata.get("event_type") or METADATA_EVENT_TYPE}
        | {"event_payload": payload},
    }


def _slack_refused(error: Exception) -> bool:
    """True when Slack answered that it did not take the message (ok: false with HTTP 200, or
    a 429 after the retries): then it is certainly not in the channel."""
    if not isinstance(error, SlackApiError):
        return False
    status = getattr(error.response, "status_code", None)
    return status in (200, 429)


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp).timestamp()


def _error_code(error: Exception) -> str:
    """Slack's error code, or the exception's type: short, and never a URL, token or body."""
    if isinstance(error, SlackApiError):
        response = error.response
        code = response.get("error") if hasattr(response, "get") else None
        status = getattr(response, "status_code", None)
        return str(code or f"http_{status}")
    return type(error).__name__
