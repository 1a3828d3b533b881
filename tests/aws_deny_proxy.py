"""An HTTP proxy in front of moto's server that answers chosen AWS calls with AWS's own error
responses (AccessDenied, UnauthorizedOperation, ExpiredToken ...), as IAM would, and forwards
everything else. moto does not enforce IAM by default, and its IAM enforcement knows nothing
of member accounts; this gives a test "no ec2:DescribeInstances in account 111111111111" with
the exact bytes AWS sends back, over real HTTP.

Point one service at it with the standard variable (`AWS_ENDPOINT_URL_EC2`), or all of them
with `AWS_ENDPOINT_URL`. A rule sees the call's action (`DescribeInstances`,
`GetResources`, `AssumeRole`, ...), the access key that signed it and the request body.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Call:
    action: str
    access_key: str
    body: str


# An error for a call, or None to forward it: (HTTP status, AWS error code, message).
Rule = Callable[[Call], tuple[int, str, str] | None]

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
_TARGET_PREFIX = re.compile(r"^[^.]+\.")
_CBOR_OPERATION = re.compile(r"/operation/([A-Za-z]+)$")


def access_denied(action: str) -> tuple[int, str, str]:
    """What IAM answers a query-protocol service (RDS, STS, ElastiCache) or the tagging API."""
    return (403, "AccessDenied", f"User is not authorized to perform: {action}")


def unauthorized_operation() -> tuple[int, str, str]:
    """What EC2 answers instead of AccessDenied."""
    return (403, "UnauthorizedOperation", "You are not authorized to perform this operation.")


class DenyProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.rules: list[Rule] = []
        self.denied: list[Call] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                call = Call(
                    action=_action(self.path, self.headers, body),
                    access_key=_access_key(self.headers.get("Authorization", "")),
                    body=body.decode("utf-8", "replace"),
                )
                for rule in proxy.rules:
                    answer = rule(call)
                    if answer is not None:
                        proxy.denied.append(call)
                        self._send(*_error_response(self.headers, body, *answer))
                        return
                status, headers, payload = proxy._forward(self.command, self.path, self, body)
                self._send(status, headers, payload)

            def _send(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _forward(
        self, method: str, path: str, request: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(
            self.upstream.hostname, self.upstream.port, timeout=60
        )
        try:
            headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
            headers["Host"] = self.upstream.netloc
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def __enter__(self) -> DenyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _access_key(authorization: str) -> str:
    found = _CREDENTIAL.search(authorization)
    return found.group(1) if found else ""


def _action(path: str, headers, body: bytes) -> str:
    target = headers.get("X-Amz-Target")
    if target:  # JSON protocol: "ResourceGroupsTaggingAPI_20170126.GetResources"
        return _TARGET_PREFIX.sub("", target)
    found = _CBOR_OPERATION.search(urllib.parse.urlsplit(path).path)
    if found:  # Smithy RPC v2 CBOR (CloudWatch): /service/<name>/operation/<Operation>
        return found.group(1)
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    return form.get("Action", [""])[0]  # query protocol: EC2, RDS, ElastiCache, STS


def _error_response(headers, body: bytes, status: int, code: str, message: str):
    is_ec2 = b"Version=2016-11-15" in body
    request_id = "c0575c51-6fc9-4a8a-9d0c-8fd1b6b3e3a5"
    if headers.get("X-Amz-Target"):
        payload = json.dumps({"__type": code, "Message": message}).encode()
        return status, [("Content-Type", "application/x-amz-json-1.1")], payload
    if "application/cbor" in headers.get("Content-Type", ""):
        raise NotImplementedError("CBOR error bodies (CloudWatch) are not written by this proxy")
    if is_ec2:  # EC2's own error envelope
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
    else:
        xml = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    return status, [("Content-Type", "text/xml")], xml.encode()
