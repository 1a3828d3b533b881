"""An in-process fake of the Slack Web API, spoken to over real HTTP.

Modelled on slackapi/bolt-python's tests/mock_web_api_server: a ThreadingHTTPServer in a daemon
thread. Point a WebClient at `FakeSlack.url` (the `fake_slack` fixture sets `SLACK_API_URL`), give
payloads a `response_url(name)` on the fake, and every request is recorded for assertions. The
fake also serves the upload URLs that `files.getUploadURLExternal` hands out, so
`files_upload_v2` runs its three real steps against it.

What the tests rely on about Slack, modelled here (docs.slack.dev):
  - `files.completeUploadExternal` without `channel_id`/`channels` leaves the file private: shared
    nowhere and no message posted. With a channel it shares the file there, as a message of its
    own (`channel_messages()` lists it).
  - An image block's `slack_file.id` must name a completed upload, and a message has at most 50
    blocks, else the message is refused with `invalid_blocks` (HTTP 200 `ok: false` from chat.*,
    HTTP 400 from a response_url).
  - `apps.connections.open` (app-level token, xapp-) returns the Socket Mode WebSocket URL:
    set `socket_mode_url`.

Wait for asynchronous effects with `wait_for(...)`, never with sleep.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from slack_sdk.signature import SignatureVerifier

BOT_TOKEN = "xoxb-test"
SIGNING_SECRET = "test-secret"
TEAM_ID = "T000TEST"
TEAM_DOMAIN = "costbot-test"
BOT_USER_ID = "U000BOT"
BOT_ID = "B000BOT"
API_APP_ID = "A000COSTBOT"

MESSAGE_BLOCKS_MAX = 50  # Slack refuses a message with more blocks (invalid_blocks)

# Methods recorded for requests that are not Web API calls.
RESPONSE_URL = "response_url"
UPLOAD = "upload"


@dataclass(frozen=True)
class RecordedCall:
    """One request the fake received, whatever it answered (failed attempts are recorded too)."""

    method: str  # a Web API method such as "chat.postMessage", or RESPONSE_URL / UPLOAD
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any]  # parsed form fields (one value each) or JSON; {} for raw uploads
    raw: bytes
    status: int  # the HTTP status the fake answered with
    target: str = ""  # the response_url name or the upload's file id


@dataclass
class UploadedFile:
    """A file going through files_upload_v2's steps: announced, uploaded, completed."""

    file_id: str
    filename: str
    length: int
    alt_txt: str | None = None
    snippet_type: str | None = None
    data: bytes | None = None  # set once bytes arrive at the upload URL
    title: str | None = None  # set by files.completeUploadExternal
    channel_id: str | None = None
    initial_comment: str | None = None
    thread_ts: str | None = None
    completed: bool = False
    # Conversations the file is shared in (channel or user ids); empty: private to the uploader.
    shared_to: list[str] = field(default_factory=list)

    @property
    def is_private(self) -> bool:
        return not self.shared_to

    def as_slack_file(self, base_url: str) -> dict[str, Any]:
        return {
            "id": self.file_id,
            "name": self.filename,
            "title": self.title or self.filename,
            "size": len(self.data or b""),
            "alt_txt": self.alt_txt,
            "permalink": f"{base_url}files/{self.file_id}",
            "channels": list(self.shared_to),
        }


@dataclass(frozen=True)
class ChannelMessage:
    """A message that appeared in a conversation: posted, or a file shared as its own message."""

    channel: str
    ts: str
    kind: str  # message | ephemeral | file_share
    text: str
    blocks: list[dict[str, Any]]
    user: str | None = None  # for ephemeral messages: the one person who sees it
    file_ids: tuple[str, ...] = ()
    metadata: dict[str, Any] | None = None  # the message's `metadata` (event_type, payload)


@dataclass
class _Failure:
    status: int
    retry_after: int | None
    times: int
    error: str | None = None  # set for ok:false answers (HTTP 200)


@dataclass
class _Answer:
    status: int
    payload: dict[str, Any] | str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def payload_ok(self) -> bool:
        return isinstance(self.payload, dict) and bool(self.payload.get("ok"))


class FakeSlack:
    """The fake server. Use as a context manager, or `start()` / `stop()`.

    Configure before or during a test:
      - `channel_names[channel_id] = name` for conversations.info
      - `not_in_channel.add(channel_id)`: posting or sharing a file there fails with not_in_channel
      - `fail_next(method, status=429, retry_after=0, times=1)` / `fail_next(method, status=500)`
      - `error_next(method, "channel_not_found")` for an HTTP 200 `{"ok": false}` answer
      - `set_reply(method, payload)` to answer a method with a fixed payload
      - `stall_next(method, seconds)`: answer the next call only after `seconds` (timeouts)
      - `refuse_upload_connections()`: upload URLs point at a closed port (connection refused)
      - `socket_mode_url`: what apps.connections.open returns
      - `user_groups[group_id] = [user ids]` for usergroups.users.list (unknown groups:
        no_such_subteam)
      - `missing_channels` / `archived_channels`: posting there fails with channel_not_found /
        is_archived
      - `post_interval_per_channel = 1.0`: Slack's limit for chat.postMessage, about one message
        a second per channel; a post sooner than that after the last one to the same channel is
        answered 429 with `Retry-After` (`rate_limited_posts` counts them)
      - `drop_post_responses(n)`: the next n chat.postMessage calls are *taken* (the message
        appears in the channel) but the connection is closed before the answer: the client sees
        an error and cannot know whether the message went out
      - `hold_post_responses(n, after=k)`: after k more posts answered normally, the next n are
        taken, but answered only at stop(): kill the client meanwhile to test a process dying
        between "Slack took it" and "we recorded it"
      - `hold_requests(method, n, after=k)`: after k more calls of `method`, the next n are
        recorded (status 0) but neither taken nor answered until stop(): a client killed
        meanwhile died before Slack had its request

    Channels: posts may name a channel by id or by `#name`; a `#name` that `channel_names` maps
    to an id is answered (and listed by conversations.history) under that id, like Slack.
    conversations.list lists `channel_names`; conversations.history returns a channel's messages
    newest first with their metadata (include_all_metadata), honouring oldest/limit/cursor.
    views.publish records App Home views in `published_views`.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.channel_names: dict[str, str] = {}
        self.not_in_channel: set[str] = set()
        self.socket_mode_url: str | None = None
        self.user_groups: dict[str, list[str]] = {}
        self.opened_views: list[dict[str, Any]] = []  # views.open: the view, its trigger_id
        self.published_views: list[dict[str, Any]] = []  # views.publish: user_id, view
        self.missing_channels: set[str] = set()
        self.archived_channels: set[str] = set()
        self.post_interval_per_channel: float | None = None
        self.rate_limited_posts = 0
        self._last_post_at: dict[str, float] = {}
        self._dropped_posts = 0
        self._held_posts = 0
        self._posts_before_hold = 0
        self._held_requests: dict[str, list[int]] = {}  # method -> [calls to let by, to hold]
        self._release_held = threading.Event()
        self._messages: list[ChannelMessage] = []
        self._stalls: dict[str, list[float]] = {}
        self._upload_base: str | None = None
        self._host = host
        self._calls: list[RecordedCall] = []
        self._files: dict[str, UploadedFile] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._fixed_replies: dict[str, dict[str, Any]] = {}
        self._changed = threading.Condition()
        self._file_numbers = itertools.count(1)
        self._message_numbers = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle

    def start(self) -> FakeSlack:
        handler = type("BoundFakeSlackHandler", (_FakeSlackHandler,), {"fake": self})
        self._server = ThreadingHTTPServer((self._host, 0), handler)
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for the loop's next poll.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-slack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release_held.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT/ (with trailing slash)."""
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    @property
    def url(self) -> str:
        """The Web API base URL, for SLACK_API_URL / WebClient(base_url=...)."""
        return self.base_url + "api/"

    def response_url(self, name: str = "default") -> str:
        """A response_url for a payload; what `respond()` posts there is recorded under `name`."""
        return f"{self.base_url}response/{name}"

    # ---- configuration

    def fail_next(
        self, method: str, status: int = 429, retry_after: int | None = 0, times: int = 1
    ) -> None:
        """Answer the next `times` calls of `method` with HTTP `status` (429 carries
        `Retry-After: retry_after`; keep it 0 so clients do not sleep). `method` may also be
        UPLOAD or RESPONSE_URL."""
        with self._changed:
            self._failures.setdefault(method, []).append(
                _Failure(status=status, retry_after=retry_after, times=times)
            )

    def error_next(self, method: str, error: str, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with HTTP 200 `{"ok": false, "error": ...}`."""
        with self._changed:
            self._failures.setdefault(method, []).append(
                _Failure(status=200, retry_after=None, times=times, error=error)
            )

    def set_reply(self, method: str, payload: dict[str, Any]) -> None:
        """Answer every later call of `method` with `payload` (HTTP 200)."""
        with self._changed:
            self._fixed_replies[method] = payload

    def stall_next(self, method: str, seconds: float) -> None:
        """Hold the next call of `method` (or UPLOAD, RESPONSE_URL) for `seconds` before
        answering, so that a client with a shorter timeout gives up."""
        with self._changed:
            self._stalls.setdefault(method, []).append(seconds)

    def refuse_upload_connections(self) -> None:
        """Hand out upload URLs on a port nobody listens on."""
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        self._upload_base = f"http://127.0.0.1:{closed_port}/"

    # ---- inspection

    def channel_messages(self, channel: str | None = None) -> list[ChannelMessage]:
        """Messages that appeared in conversations (not response_url answers), oldest first."""
        with self._changed:
            return [m for m in self._messages if channel is None or m.channel == channel]

    def files(self) -> list[UploadedFile]:
        """Every announced file, uploaded or not."""
        with self._changed:
            return list(self._files.values())

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        with self._changed:
            return [c for c in self._calls if method is None or c.method == method]

    def wait_for(
        self,
        predicate_or_method: str | Callable[[RecordedCall], bool],
        timeout: float = 10.0,
    ) -> RecordedCall:
        """The first recorded call matching a method name or a predicate, waiting for it to
        arrive for up to `timeout` seconds; AssertionError naming what did arrive otherwise."""
        return self.wait_for_count(predicate_or_method, 1, timeout)[0]

    def wait_for_count(
        self,
        predicate_or_method: str | Callable[[RecordedCall], bool],
        count: int,
        timeout: float = 10.0,
    ) -> list[RecordedCall]:
        """Like `wait_for`, until at least `count` matching calls have arrived; returns them."""
        if isinstance(predicate_or_method, str):
            method = predicate_or_method

            def matches(call: RecordedCall) -> bool:
                return call.method == method

            wanted = f"{method} call(s)"
        else:
            matches = predicate_or_method
            wanted = f"call(s) matching {getattr(matches, '__name__', matches)!r}"

        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [c for c in self._calls if matches(c)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [f"{c.method} {c.target}".strip() for c in self._calls]
                    raise AssertionError(
                        f"{len(found)} of {count} {wanted} within {timeout}s; received: {seen}"
                    )
                self._changed.wait(remaining)

    def responses_posted(self, name: str | None = None) -> list[dict[str, Any]]:
        """Bodies posted to response URLs (by `respond()`), oldest first, optionally for one
        name; failed attempts are left out."""
        return [
            c.body
            for c in self.calls(RESPONSE_URL)
            if c.status == 200 and (name is None or c.target == name)
        ]

    def uploaded_files(self) -> list[UploadedFile]:
        """Files whose bytes reached their upload URL, in the order they were announced."""
        with self._changed:
            return [f for f in self._files.values() if f.data is not None]

    # ---- request handling (called on the server's threads)

    def _handle(self, request: BaseHTTPRequestHandler, raw: bytes) -> None:
        path = urlsplit(request.path).path
        headers = {k.lower(): v for k, v in request.headers.items()}
        if path.startswith("/api/"):
            method, target = path[len("/api/") :], ""
        elif path.startswith("/response/"):
            method, target = RESPONSE_URL, path[len("/response/") :]
        elif path.startswith("/upload/"):
            method, target = UPLOAD, path[len("/upload/") :]
        else:
            method, target = "unknown", path
        body = {} if method == UPLOAD else _parse_body(headers.get("content-type", ""), raw)

        if self._hold_request(method, path, headers, body, raw, target):
            # Recorded, never taken: wait for stop(), then close the connection unanswered.
            self._release_held.wait(timeout=120)
            return
        with self._changed:
            stalls = self._stalls.get(method)
            stall = stalls.pop(0) if stalls else 0.0
        if stall:
            time.sleep(stall)  # the far side being slow; the client's timeout is under test
        with self._changed:
            answer = self._injected_failure(method) or self._answer(
                method, target, headers, body, raw
            )
            self._calls.append(
                RecordedCall(method, path, headers, body, raw, answer.status, target)
            )
            self._changed.notify_all()
            took_post = method == "chat.postMessage" and answer.status == 200 and answer.payload_ok
            drop = took_post and self._dropped_posts > 0
            hold = False
            if took_post and not drop and self._held_posts > 0:
                if self._posts_before_hold > 0:
                    self._posts_before_hold -= 1
                else:
                    hold = True
                    self._held_posts -= 1
            if drop:
                self._dropped_posts -= 1
        if drop:
            return  # the message is in the channel; the connection closes with no answer
        if hold:
            # The message is in the channel; the answer waits (for a test to kill the client).
            self._release_held.wait(timeout=120)
        _send(request, answer)

    def _injected_failure(self, method: str) -> _Answer | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.pop(0)
        if failure.error is not None:
            return _Answer(200, {"ok": False, "error": failure.error})
        headers = {}
        if failure.status == 429:
            headers["Retry-After"] = str(failure.retry_after or 0)
            return _Answer(429, {"ok": False, "error": "ratelimited"}, headers)
        return _Answer(failure.status, {"ok": False, "error": "fatal_error"}, headers)

    def _answer(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: dict[str, Any],
        raw: bytes,
    ) -> _Answer:
        if method == RESPONSE_URL:
            if self._unknown_slack_files(body):
                return _Answer(400, "invalid_blocks")
            return _Answer(200, "ok")
        if method == UPLOAD:
            uploaded = self._files.get(target)
            if uploaded is None:
                return _Answer(404, "unknown upload")
            uploaded.data = raw
            return _Answer(200, f"OK - {len(raw)}")
        if method == "unknown":
            return _Answer(404, {"ok": False, "error": "not_found"})
        if not headers.get("authorization", "").startswith("Bearer ") and not body.get("token"):
            return _Answer(200, {"ok": False, "error": "not_authed"})
        if method == "apps.connections.open":
            return _Answer(200, self._apps_connections_open(headers))
        if method in self._fixed_replies:
            return _Answer(200, self._fixed_replies[method])
        if method == "chat.postMessage":
            limited = self._rate_limited(body)
            if limited is not None:
                return limited
        api_method = _API_METHODS.get(method)
        if api_method is None:
            return _Answer(200, {"ok": False, "error": "unknown_method"})
        return _Answer(200, api_method(self, body))

    # ---- the Web API methods (called with the lock held)

    def _auth_test(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "Costbot Test",
            "user": "costbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _next_ts(self) -> str:
        # Like Slack's: epoch seconds, then a counter that keeps ts unique and increasing.
        return f"{int(time.time())}.{next(self._message_numbers):06d}"

    def _unknown_slack_files(self, body: dict[str, Any]) -> list[str]:
        """Why Slack would refuse the message's blocks: slack_file ids in image blocks that name
        no completed upload, or more blocks than Slack takes."""
        blocks = body.get("blocks") or []
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                return ["(unparseable blocks)"]
        if len(blocks) > MESSAGE_BLOCKS_MAX:
            return ["(more than 50 blocks)"]
        unknown = []
        for block in blocks:
            file_id = (
                (block.get("slack_file") or {}).get("id") if block.get("type") == "image" else None
            )
            if block.get("type") == "image" and "slack_file" in block:
                uploaded = self._files.get(file_id or "")
                if uploaded is None or not uploaded.completed:
                    unknown.append(str(file_id))
        return unknown

    def _record_message(self, channel: str, kind: str, body: dict[str, Any], **extra: Any) -> str:
        blocks = body.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        metadata = body.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        ts = self._next_ts()
        self._messages.append(
            ChannelMessage(
                channel, ts, kind, body.get("text", ""), blocks, metadata=metadata, **extra
            )
        )
        return ts

    def channel_id(self, channel: str) -> str:
        """The id Slack answers for `channel` (an id, or a `#name` known to channel_names)."""
        if channel.startswith("#"):
            name = channel[1:]
            for channel_id, known in self.channel_names.items():
                if known == name:
                    return channel_id
        return channel

    def _same_channel(self, posted_to: str, channel_id: str) -> bool:
        return self.channel_id(posted_to) == channel_id

    def drop_post_responses(self, times: int = 1) -> None:
        with self._changed:
            self._dropped_posts += times

    def hold_post_responses(self, times: int = 1, after: int = 0) -> None:
        """After `after` more posts taken and answered, the next `times` chat.postMessage calls
        are taken, but answered only at stop(): a client waiting for the answer can be killed
        after Slack took its message."""
        with self._changed:
            self._held_posts += times
            self._posts_before_hold = after

    def hold_requests(self, method: str, times: int = 1, after: int = 0) -> None:
        """After `after` more calls of `method`, the next `times` are recorded (status 0) but
        not taken (no message appears) and not answered until stop()."""
        with self._changed:
            self._held_requests[method] = [after, times]

    def _hold_request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: dict[str, Any],
        raw: bytes,
        target: str,
    ) -> bool:
        with self._changed:
            counts = self._held_requests.get(method)
            if not counts or counts[1] <= 0:
                return False
            if counts[0] > 0:
                counts[0] -= 1
                return False
            counts[1] -= 1
            self._calls.append(RecordedCall(method, path, headers, body, raw, 0, target))
            self._changed.notify_all()
            return True

    def _rate_limited(self, body: dict[str, Any]) -> _Answer | None:
        """429 with Retry-After when a post comes sooner than post_interval_per_channel after
        the last one to the same channel."""
        if self.post_interval_per_channel is None or not body.get("channel"):
            return None
        channel = self.channel_id(str(body["channel"]))
        now = time.monotonic()
        last = self._last_post_at.get(channel)
        if last is not None and now - last < self.post_interval_per_channel:
            self.rate_limited_posts += 1
            wait = max(1, math.ceil(self.post_interval_per_channel - (now - last)))
            return _Answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(wait)})
        self._last_post_at[channel] = now
        return None

    def _apps_connections_open(self, headers: dict[str, str]) -> dict[str, Any]:
        if not headers.get("authorization", "").startswith("Bearer xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        if self.socket_mode_url is None:
            return {"ok": False, "error": "socket_mode_not_enabled"}
        return {"ok": True, "url": self.socket_mode_url}

    def _chat_post_message(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = body.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        # A channel may be configured by #name or by id, and posted to by either.
        names = {channel, self.channel_id(channel)}
        if names & self.missing_channels:
            return {"ok": False, "error": "channel_not_found"}
        if names & self.archived_channels:
            return {"ok": False, "error": "is_archived"}
        if names & self.not_in_channel:
            return {"ok": False, "error": "not_in_channel"}
        if self._unknown_slack_files(body):
            return {"ok": False, "error": "invalid_blocks"}
        ts = self._record_message(channel, "message", body)
        message = {k: body[k] for k in ("text", "blocks", "attachments", "metadata") if k in body}
        return {
            "ok": True,
            "channel": self.channel_id(channel),
            "ts": ts,
            "message": {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "ts": ts}
            | message,
        }

    def _chat_post_ephemeral(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = body.get("channel")
        if not channel or not body.get("user"):
            return {"ok": False, "error": "channel_not_found" if not channel else "user_not_found"}
        if channel in self.not_in_channel:
            return {"ok": False, "error": "not_in_channel"}
        if self._unknown_slack_files(body):
            return {"ok": False, "error": "invalid_blocks"}
        ts = self._record_message(channel, "ephemeral", body, user=body["user"])
        return {"ok": True, "message_ts": ts}

    def _conversations_info(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = body.get("channel")
        if channel not in self.channel_names:
            return {"ok": False, "error": "channel_not_found"}
        return {
            "ok": True,
            "channel": {
                "id": channel,
                "name": self.channel_names[channel],
                "is_channel": True,
                "is_member": channel not in self.not_in_channel,
            },
        }

    def _conversations_list(self, body: dict[str, Any]) -> dict[str, Any]:
        ids = sorted(self.channel_names)
        start = int(body.get("cursor") or 0)
        limit = int(body.get("limit") or 100)
        page = ids[start : start + limit]
        following = start + limit if start + limit < len(ids) else ""
        return {
            "ok": True,
            "channels": [
                {"id": i, "name": self.channel_names[i], "is_channel": True} for i in page
            ],
            "response_metadata": {"next_cursor": str(following)},
        }

    def _conversations_history(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = str(body.get("channel") or "")
        if not channel or channel.startswith("#"):
            return {"ok": False, "error": "channel_not_found"}  # Slack wants an id here
        if channel in self.not_in_channel:
            return {"ok": False, "error": "not_in_channel"}
        oldest = float(body.get("oldest") or 0)
        shown = [
            m
            for m in reversed(self._messages)
            if m.kind == "message"
            and self._same_channel(m.channel, channel)
            and float(m.ts) > oldest
        ]
        start = int(body.get("cursor") or 0)
        limit = int(body.get("limit") or 100)
        page = shown[start : start + limit]
        with_metadata = str(body.get("include_all_metadata", "")).lower() in ("1", "true")
        messages = []
        for m in page:
            message = {"type": "message", "ts": m.ts, "text": m.text, "bot_id": BOT_ID}
            if with_metadata and m.metadata is not None:
                message["metadata"] = m.metadata
            messages.append(message)
        more = start + limit < len(shown)
        return {
            "ok": True,
            "messages": messages,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _views_publish(self, body: dict[str, Any]) -> dict[str, Any]:
        view = body.get("view") or {}
        if isinstance(view, str):
            view = json.loads(view)
        if not body.get("user_id"):
            return {"ok": False, "error": "invalid_arguments"}
        if view.get("type") != "home" or len(view.get("blocks") or []) > 100:
            return {"ok": False, "error": "invalid_arguments"}
        self.published_views.append({"user_id": body["user_id"], "view": view})
        return {"ok": True, "view": {"id": f"V{len(self.published_views):08d}", **view}}

    def _files_get_upload_url_external(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("filename") or not str(body.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._file_numbers):06d}"
        self._files[file_id] = UploadedFile(
            file_id=file_id,
            filename=body["filename"],
            length=int(body["length"]),
            alt_txt=body.get("alt_txt"),
            snippet_type=body.get("snippet_type"),
        )
        upload_base = self._upload_base or self.base_url
        return {"ok": True, "upload_url": f"{upload_base}upload/{file_id}", "file_id": file_id}

    def _files_complete_upload_external(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            announced = json.loads(body.get("files", ""))
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        channel = body.get("channel_id")
        targets = [channel] if channel else []
        targets += [c for c in str(body.get("channels") or "").split(",") if c]
        if any(target in self.not_in_channel for target in targets):
            return {"ok": False, "error": "not_in_channel"}
        completed = []
        for item in announced:
            uploaded = self._files.get(item.get("id", ""))
            if uploaded is None or uploaded.data is None:
                return {"ok": False, "error": "file_not_found"}
            uploaded.title = item.get("title") or uploaded.filename
            uploaded.channel_id = channel
            uploaded.initial_comment = body.get("initial_comment")
            uploaded.thread_ts = body.get("thread_ts")
            uploaded.completed = True
            uploaded.shared_to.extend(targets)
            completed.append(uploaded.as_slack_file(self.base_url))
        file_ids = tuple(item["id"] for item in announced)
        for target in targets:  # sharing a file posts it as a message of its own
            share = {"text": body.get("initial_comment", ""), "blocks": []}
            self._record_message(target, "file_share", share, file_ids=file_ids)
        return {"ok": True, "files": completed}

    def _usergroups_users_list(self, body: dict[str, Any]) -> dict[str, Any]:
        group = body.get("usergroup", "")
        if group not in self.user_groups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.user_groups[group])}

    def _files_info(self, body: dict[str, Any]) -> dict[str, Any]:
        uploaded = self._files.get(body.get("file", ""))
        if uploaded is None or not uploaded.completed:
            return {"ok": False, "error": "file_not_found"}
        return {"ok": True, "file": uploaded.as_slack_file(self.base_url)}

    def _views_open(self, body: dict[str, Any]) -> dict[str, Any]:
        """A modal opened for a trigger_id; refused as Slack would when the view breaks its
        limits (title 24 characters, 100 blocks, private_metadata 3,000 characters)."""
        if not body.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = body.get("view") or {}
        if isinstance(view, str):
            view = json.loads(view)
        title = (view.get("title") or {}).get("text", "")
        if (
            view.get("type") != "modal"
            or not 0 < len(title) <= 24
            or len(view.get("blocks") or []) > 100
            or len(view.get("private_metadata") or "") > 3000
        ):
            return {"ok": False, "error": "invalid_arguments"}
        view_id = f"V{len(self.opened_views) + 1:08d}"
        self.opened_views.append({"id": view_id, "trigger_id": body["trigger_id"], **view})
        return {"ok": True, "view": {"id": view_id, **view}}


_API_METHODS: dict[str, Callable[[FakeSlack, dict[str, Any]], dict[str, Any]]] = {
    "auth.test": FakeSlack._auth_test,
    "chat.postMessage": FakeSlack._chat_post_message,
    "chat.postEphemeral": FakeSlack._chat_post_ephemeral,
    "conversations.info": FakeSlack._conversations_info,
    "conversations.list": FakeSlack._conversations_list,
    "conversations.history": FakeSlack._conversations_history,
    "views.publish": FakeSlack._views_publish,
    "files.getUploadURLExternal": FakeSlack._files_get_upload_url_external,
    "files.completeUploadExternal": FakeSlack._files_complete_upload_external,
    "files.info": FakeSlack._files_info,
    "usergroups.users.list": FakeSlack._usergroups_users_list,
    "views.open": FakeSlack._views_open,
}


class _FakeSlackHandler(BaseHTTPRequestHandler):
    fake: FakeSlack  # set on the per-server subclass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        # A client that went away (a test killed it) is not answered.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.fake._handle(self, self.rfile.read(length))

    # slack_sdk only POSTs, but a GET should be recorded rather than answered with a 501 page.
    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet; every request is in FakeSlack.calls()


def _parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        if content_type.startswith("application/json"):
            return json.loads(raw)
        if content_type.startswith("application/x-www-form-urlencoded"):
            fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
            return {k: v[0] if len(v) == 1 else v for k, v in fields.items()}
    except ValueError:
        pass  # recorded with an empty body; the raw bytes are still there to inspect
    return {}


def _send(request: BaseHTTPRequestHandler, answer: _Answer) -> None:
    if isinstance(answer.payload, str):
        data, content_type = answer.payload.encode("utf-8"), "text/plain; charset=utf-8"
    else:
        data, content_type = json.dumps(answer.payload).encode("utf-8"), "application/json"
    request.send_response(answer.status)
    request.send_header("Content-Type", content_type)
    request.send_header("Content-Length", str(len(data)))
    for name, value in answer.headers.items():
        request.send_header(name, value)
    request.end_headers()
    request.wfile.write(data)


# ---- building requests the way Slack sends them


def signed_request_headers(body: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack puts on a request: the v0 HMAC signature over `v0:{timestamp}:{body}`."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature,
    }


def slash_command_body(
    command: str,
    text: str,
    user_id: str,
    channel_id: str,
    response_url: str,
    *,
    user_name: str = "alice",
    channel_name: str = "general",
    team_id: str = TEAM_ID,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = API_APP_ID,
    trigger_id: str = "1000000000.1000000000.0123456789abcdef0123456789abcdef",
    token: str = "legacy-verification-token",
) -> str:
    """The urlencoded form Slack POSTs for a slash command."""
    return urlencode(
        {
            "token": token,
            "team_id": team_id,
            "team_domain": team_domain,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    )


def block_actions_body(
    user_id: str,
    channel_id: str,
    response_url: str,
    action_id: str,
    value: str,
    *,
    block_id: str = "costbot_share",
    message_ts: str = "1700000000.000001",
    is_ephemeral: bool = True,
    team_id: str = TEAM_ID,
    api_app_id: str = API_APP_ID,
) -> str:
    """The urlencoded form Slack POSTs when someone clicks a button (`payload=<json>`)."""
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower(), "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": is_ephemeral,
        },
        "trigger_id": "1000000000.1000000000.fedcba9876543210fedcba9876543210",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "channel": {"id": channel_id, "name": "team-payments"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "value": value,
                "type": "button",
                "text": {"type": "plain_text", "text": "Share in channel"},
                "action_ts": "1700000001.000000",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def message_action_body(
    message: ChannelMessage,
    user_id: str,
    response_url: str,
    action: dict[str, Any],
    *,
    blocks: list[dict[str, Any]] | None = None,
    channel_name: str = "team-payments",
) -> str:
    """The urlencoded form Slack POSTs when `user_id` uses a button or menu of a message posted
    in a channel. `action`: the element's part of `actions` (action_id, block_id, type, and
    value and text, or selected_user); `blocks`: the message's blocks as Slack sends them back
    (default: as posted)."""
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower(), "team_id": TEAM_ID},
        "api_app_id": API_APP_ID,
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": False,
        },
        "trigger_id": "1000000000.1000000000.fedcba9876543210fedcba9876543210",
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "channel": {"id": message.channel, "name": channel_name},
        "message": {
            "type": "message",
            "ts": message.ts,
            "text": message.text,
            "blocks": message.blocks if blocks is None else blocks,
        },
        "response_url": response_url,
        "actions": [{**action, "action_ts": "1700000100.000000"}],
    }
    return urlencode({"payload": json.dumps(payload)})


def view_submission_body(
    user_id: str,
    view: dict[str, Any],
    values: dict[str, dict[str, dict[str, Any]]],
    *,
    view_id: str = "V00000001",
    team_id: str = TEAM_ID,
    api_app_id: str = API_APP_ID,
) -> str:
    """The urlencoded form Slack POSTs when a modal is submitted: the view as opened, with
    `state.values` (block_id -> action_id -> the element's value)."""
    submitted = {k: v for k, v in view.items() if k not in ("trigger_id",)}
    submitted.update({"id": view_id, "state": {"values": values}, "team_id": team_id})
    payload = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": {"id": user_id, "username": user_id.lower(), "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "legacy-verification-token",
        "trigger_id": "1000000000.1000000000.0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f",
        "view": submitted,
        "response_urls": [],
    }
    return urlencode({"payload": json.dumps(payload)})
