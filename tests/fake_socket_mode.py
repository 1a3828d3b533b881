"""A fake of Slack's Socket Mode WebSocket endpoint, spoken to over a real WebSocket.

Point FakeSlack's `socket_mode_url` at `FakeSocketMode.url`: `apps.connections.open` hands it
to the app, which connects here. Each connection is greeted with `hello` (as Slack does); then
`send(envelope)` delivers an envelope to the connected app and `wait_for_ack(envelope_id)`
returns the app's acknowledgement (`{"envelope_id": ...}`, with an optional `payload`).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve


class FakeSocketMode:
    def __init__(self) -> None:
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._changed = threading.Condition()
        self._outbox: list[dict[str, Any]] = []
        self._acks: list[dict[str, Any]] = []
        self.connections = 0

    def start(self) -> FakeSocketMode:
        self._server = serve(self._serve_connection, "127.0.0.1", 0)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-socket-mode", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> FakeSocketMode:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/link/?ticket=fake-ticket"

    def send(self, envelope: dict[str, Any]) -> None:
        with self._changed:
            self._outbox.append(envelope)
            self._changed.notify_all()

    def wait_for_connection(self, timeout: float = 10.0) -> None:
        self._wait(lambda: self.connections > 0, timeout, "no app connected")

    def wait_for_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def acked() -> bool:
            found[:] = [a for a in self._acks if a.get("envelope_id") == envelope_id]
            return bool(found)

        self._wait(acked, timeout, f"no ack for envelope {envelope_id}; got {self._acks}")
        return found[0]

    def _wait(self, condition, timeout: float, failure: str) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(failure)
                self._changed.wait(remaining)

    def _serve_connection(self, connection: ServerConnection) -> None:
        connection.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "fake-socket-mode", "approximate_connection_time": 3600},
                    "connection_info": {"app_id": "A000COSTBOT"},
                }
            )
        )
        with self._changed:
            self.connections += 1
            self._changed.notify_all()
        try:
            while True:
                with self._changed:
                    outgoing, self._outbox = self._outbox, []
                for envelope in outgoing:
                    connection.send(json.dumps(envelope))
                try:
                    message = connection.recv(timeout=0.05)
                except TimeoutError:
                    continue
                with self._changed:
                    self._acks.append(json.loads(message))
                    self._changed.notify_all()
        except ConnectionClosed:
            pass


def slash_command_envelope(envelope_id: str, form: dict[str, str]) -> dict[str, Any]:
    """A slash command as Socket Mode delivers it: the same fields as the HTTP form, in JSON."""
    return {
        "envelope_id": envelope_id,
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": form,
    }
