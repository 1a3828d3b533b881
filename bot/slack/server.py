"""How the Bolt app meets Slack: a WSGI app served by waitress (HTTP mode), or Socket Mode.

HTTP routes: `POST /slack/events` (commands, interactivity and events), `GET /healthz` (for load
balancers and orchestrators), 404 for anything else.

Every request to `/slack/events` is checked here before Bolt sees it: body size (1 MiB at most),
signature and timestamp (Slack's v0 HMAC, any header shape), UTF-8. A request that fails gets
401, 413 or 400 and nothing else happens: no listener, no error handler, no outbound call, and
no log line carrying its body. Bolt would otherwise answer a non-numeric timestamp with a 500,
run the global error handler (which posts to the forger's `response_url`) and log whole bodies.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from slack_sdk.signature import SignatureVerifier
from waitress import create_server
from waitress.server import BaseWSGIServer, MultiSocketServer
from waitress.trigger import trigger

from bot.slack.client import MissingCredentialError

logger = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
DEFAULT_PORT = 3000
# A request thread is busy only until the listener has acked; the slow work runs on Bolt's
# executors, so a handful of request threads is plenty.
HTTP_THREADS = 8
# Slack's own payloads are a few KiB (a modal submission with big inputs stays far below this).
MAX_BODY_BYTES = 1024 * 1024
_READ_CHUNK = 64 * 1024
# Unix seconds as Slack sends them; anything else (empty, "abc", "1e3", " 1", "+1") is refused.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class RejectedRequest(Exception):
    """A request to /slack/events that must not reach Bolt; `status` is the HTTP answer."""

    def __init__(self, status: str, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


def signing_secret_from_env() -> str:
    secret = os.environ.get("SLACK_SIGNING_SECRET", "")
    if not secret.strip():
        raise MissingCredentialError(
            "SLACK_SIGNING_SECRET is not set (HTTP mode needs it to verify requests from Slack)"
        )
    return secret


def is_signed_by_slack(
    verifier: SignatureVerifier, body: str, timestamp: str | None, signature: str | None
) -> bool:
    """Slack's v0 signature over `v0:{timestamp}:{body}`, with a timestamp under 5 minutes old.

    SignatureVerifier assumes well-formed headers (it calls int() on the timestamp and compares
    the signature with hmac.compare_digest, which raises on non-ASCII text), so the header shapes
    are checked first: a malformed header is a failed verification, never an exception.
    """
    if timestamp is None or not _TIMESTAMP.fullmatch(timestamp):
        return False
    if not signature or not signature.isascii():
        return False
    return verifier.is_valid(body=body, timestamp=timestamp, signature=signature)


def read_capped_body(environ: dict[str, Any], limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refusing more than `limit` bytes without reading more than that: by the
    declared Content-Length when there is one, and by counting what arrives in any case (the
    header may be missing, as with chunked uploads, or wrong)."""
    declared = environ.get("CONTENT_LENGTH") or ""
    if declared:
        if not (declared.isascii() and declared.isdigit()):
            raise RejectedRequest("400 Bad Request", "bad_content_length")
        if int(declared) > limit:
            raise RejectedRequest("413 Content Too Large", "body_too_large")
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    chunks: list[bytes] = []
    received = 0
    while True:
        chunk = stream.read(min(_READ_CHUNK, limit + 1 - received))
        if not chunk:
            break
        received += len(chunk)
        if received > limit:
            raise RejectedRequest("413 Content Too Large", "body_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def _request_headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {}
    for key, value in environ.items():
        if key in ("CONTENT_LENGTH", "CONTENT_TYPE"):
            headers[key.lower().replace("_", "-")] = value
        elif key.startswith("HTTP_"):
            headers[key[len("HTTP_") :].lower().replace("_", "-")] = value
    return headers


def verified_slack_request(environ: dict[str, Any], verifier: SignatureVerifier) -> BoltRequest:
    """The request as Bolt should see it, or RejectedRequest (413, 401 or 400)."""
    raw = read_capped_body(environ)
    headers = _request_headers(environ)
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        # Slack always sends UTF-8; this cannot be a request from Slack, signed or not.
        raise RejectedRequest("400 Bad Request", "body_not_utf8") from None
    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if not is_signed_by_slack(verifier, body, timestamp, signature):
        raise RejectedRequest("401 Unauthorized", "invalid_request")
    return BoltRequest(body=body, query=environ.get("QUERY_STRING", ""), headers=headers)


def make_wsgi_app(app: App | None, signing_secret: str | None = None) -> WSGIApp:
    """The WSGI app: `/slack/events` for `app` (verified here first), `/healthz`, 404 otherwise.

    `app=None` serves the health check alone (Socket Mode, where Slack's requests arrive over the
    socket and `/slack/events` does not exist). `signing_secret` defaults to
    `$SLACK_SIGNING_SECRET`.
    """
    verifier = (
        SignatureVerifier(signing_secret or signing_secret_from_env()) if app is not None else None
    )

    def costbot_wsgi_app(
        environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        slack_request = path == SLACK_EVENTS_PATH and method == "POST"
        if slack_request and app is not None and verifier is not None:
            return _dispatch_to_bolt(app, verifier, environ, start_response)
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            return _json_response(start_response, "200 OK", {"ok": True})
        return _json_response(start_response, "404 Not Found", {"ok": False, "error": "not_found"})

    return costbot_wsgi_app


def _dispatch_to_bolt(
    app: App,
    verifier: SignatureVerifier,
    environ: dict[str, Any],
    start_response: Callable[..., Any],
) -> Iterable[bytes]:
    try:
        request = verified_slack_request(environ, verifier)
    except RejectedRequest as rejected:
        # Only the fact and the reason: the body, its response_url and the headers stay out.
        logger.info("Refused a request to %s: %s", SLACK_EVENTS_PATH, rejected.error)
        return _json_response(
            start_response, rejected.status, {"ok": False, "error": rejected.error}
        )
    bolt_response = app.dispatch(request)
    response = WsgiHttpResponse(
        status=bolt_response.status, headers=bolt_response.headers, body=bolt_response.body
    )
    start_response(response.status, response.get_headers())
    return response.get_body()


def _json_response(
    start_response: Callable[..., Any], status: str, payload: dict[str, Any]
) -> list[bytes]:
    body = json.dumps(payload).encode("utf-8")
    start_response(
        status,
        [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


def resolve_port(cli_port: int | None) -> int:
    """`--port`, else `$PORT`, else 3000."""
    if cli_port is not None:
        return cli_port
    from_env = os.environ.get("PORT", "").strip()
    if not from_env:
        return DEFAULT_PORT
    try:
        port = int(from_env)
    except ValueError:
        raise ValueError(f"PORT must be a number, got {from_env!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"PORT must be between 0 and 65535, got {port}")
    return port


def _create_waitress_server(
    wsgi_app: WSGIApp, port: int, host: str
) -> BaseWSGIServer | MultiSocketServer:
    # `ident` replaces waitress's default Server header, which names the server software.
    # `max_request_body_size`: waitress buffers a body before calling the app, so it must refuse
    # oversized bodies itself (413) instead of spooling them; read_capped_body checks again.
    # (waitress refuses a body of exactly its limit, hence the + 1.)
    return create_server(
        wsgi_app,
        host=host,
        port=port,
        threads=HTTP_THREADS,
        ident="costbot",
        max_request_body_size=MAX_BODY_BYTES + 1,
    )


def _bound_port(server: BaseWSGIServer | MultiSocketServer, requested: int) -> int:
    # A host that resolves to several addresses gives a MultiSocketServer, which has no single
    # effective_port; all its sockets share the requested one unless that was 0.
    if isinstance(server, BaseWSGIServer):
        return int(server.effective_port)
    return int(server.effective_listen[0][1]) if server.effective_listen else requested


def serve_http(
    app: App, port: int, host: str = "0.0.0.0", signing_secret: str | None = None
) -> None:
    """Serve Slack requests under waitress until interrupted."""
    server = _create_waitress_server(make_wsgi_app(app, signing_secret), port, host)
    bound = _bound_port(server, port)
    logger.info(
        "Costbot listening on http://%s:%d%s (health check: %s)",
        host,
        bound,
        SLACK_EVENTS_PATH,
        HEALTH_PATH,
    )
    server.run()  # returns on Ctrl+C or SystemExit, after closing down its worker threads


def serve_socket_mode(app: App, app_token: str, health_port: int, host: str = "0.0.0.0") -> None:
    """Connect to Slack over Socket Mode (no public URL needed) and block until interrupted.

    The container's health check still needs an answer, so `GET /healthz` is served on
    `health_port` meanwhile (only that: Slack's requests come over the socket). Uses the
    built-in WebSocket client, so no extra dependency; `apps.connections.open` goes through
    `app.client`, hence through `$SLACK_API_URL` too.
    """
    health, bound = start_http_in_thread(None, port=health_port, host=host)
    logger.info("Health check on http://%s:%d%s", host, bound, HEALTH_PATH)
    handler = SocketModeHandler(app, app_token=app_token)
    logger.info("Costbot connecting to Slack over Socket Mode")
    try:
        handler.start()
    finally:
        health.shutdown()


class BackgroundHttpServer:
    """A waitress server running in a daemon thread; `shutdown()` stops it and waits."""

    def __init__(self, server: BaseWSGIServer | MultiSocketServer, port: int, host: str) -> None:
        self.server = server
        self.port = port
        self.host = host
        self._thread = threading.Thread(target=server.run, name="costbot-http", daemon=True)

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321 (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def shutdown(self, timeout: float = 5.0) -> None:
        if not self._thread.is_alive():
            return
        # wasyncore is not thread-safe. The loop thread itself empties its map (a trigger runs the
        # callable there), which ends the loop; only then are the sockets closed. Closing them
        # from the callable instead races: the loop can run it before pull_trigger() has written
        # its wake-up byte to the trigger being closed, and worker threads pull that trigger
        # when they finish a response.
        socket_map = _socket_map(self.server)
        loop_trigger = next(d for d in list(socket_map.values()) if isinstance(d, trigger))
        dispatchers: list[Any] = []

        def stop_the_loop() -> None:
            dispatchers.extend(socket_map.values())
            socket_map.clear()

        loop_trigger.pull_trigger(stop_the_loop)
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("HTTP server loop did not stop within %.1f s", timeout)
        self.server.task_dispatcher.shutdown(timeout=timeout)
        for dispatcher in dispatchers:
            with contextlib.suppress(OSError):
                dispatcher.close()

    def __enter__(self) -> BackgroundHttpServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()


def _socket_map(server: BaseWSGIServer | MultiSocketServer) -> dict[int, Any]:
    return server.map if isinstance(server, MultiSocketServer) else server._map


def start_http_in_thread(
    app: App | None, port: int = 0, host: str = "127.0.0.1", signing_secret: str | None = None
) -> tuple[BackgroundHttpServer, int]:
    """Serve `app` like `serve_http` but in a daemon thread, for tests and embedding
    (`app=None`: the health check alone, as in Socket Mode).

    Port 0 picks a free port; the returned port is the one actually bound. The socket is bound
    before this returns, so requests can be sent straight away. Stop with `server.shutdown()`
    (or use the server as a context manager).
    """
    waitress_server = _create_waitress_server(make_wsgi_app(app, signing_secret), port, host)
    background = BackgroundHttpServer(waitress_server, _bound_port(waitress_server, port), host)
    background.start()
    return background, background.port
