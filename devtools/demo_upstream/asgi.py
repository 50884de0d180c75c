"""ASGI plumbing of the demo upstream: one request/response exchange, routing, OpenAI error answers.

Dropping a connection on purpose (``reset``, ``truncate``) relies on uvicorn: returning a non-None value
from an ASGI app makes uvicorn close the transport without writing anything more. ``DROP_CONNECTION`` is
that value; a log filter keeps uvicorn from reporting it as an application error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from . import payloads
from .payloads import error_body

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

JSON = b"application/json"
EVENT_STREAM = b"text/event-stream; charset=utf-8"


class _DropConnection:
    """Returned to uvicorn to make it close the connection; repr keeps uvicorn's log line readable."""

    def __repr__(self) -> str:
        return "tokenwise demo upstream: connection dropped on purpose (fake fault)"


DROP_CONNECTION = _DropConnection()


class _QuietDrops(logging.Filter):
    """Hide uvicorn's error log for connections we dropped on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.args, tuple) and DROP_CONNECTION in record.args)


_QUIET_DROPS = _QuietDrops()


def quiet_uvicorn_drops() -> None:
    """Install (once) the filter that hides uvicorn's error line for ``DROP_CONNECTION``."""
    logging.getLogger("uvicorn.error").addFilter(_QUIET_DROPS)


class ApiError(Exception):
    """An OpenAI-shaped error answer."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_body(message=message, type=type, param=param, code=code)
        self.headers = headers or []


class Exchange:
    """One HTTP request/response, with a lazy watcher that notices the client going away."""

    __slots__ = ("receive", "send", "request_id", "watcher")

    def __init__(self, receive: Receive, send: Send, request_id: str) -> None:
        self.receive = receive
        self.send = send
        self.request_id = request_id
        self.watcher: asyncio.Task[None] | None = None

    async def read_body(self) -> bytes:
        chunks = []
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                return b""
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                return b"".join(chunks)

    def watch(self) -> asyncio.Task[None]:
        if self.watcher is None:
            self.watcher = asyncio.ensure_future(self._wait_disconnect())
        return self.watcher

    async def _wait_disconnect(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass

    @property
    def client_gone(self) -> bool:
        return self.watcher is not None and self.watcher.done()

    async def pause(self, milliseconds: float) -> bool:
        """Wait, yielding to the loop; return False if the client went away meanwhile."""
        watcher = self.watch()
        if milliseconds > 0:
            await asyncio.wait({watcher}, timeout=milliseconds / 1000)
        else:
            await asyncio.sleep(0)
        return not watcher.done()

    def close(self) -> None:
        if self.watcher is not None and not self.watcher.done():
            self.watcher.cancel()

    async def start(
        self, status: int, content_type: bytes, extra: Iterable[tuple[bytes, bytes]] = (), *, length: int | None = None
    ) -> None:
        headers = [
            (b"content-type", content_type),
            (b"x-request-id", self.request_id.encode()),
            (b"x-tokenwise-demo-upstream", b"synthetic"),
            *extra,
        ]
        if length is not None:
            headers.append((b"content-length", str(length).encode()))
        else:
            headers.append((b"cache-control", b"no-cache"))
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def body(self, data: bytes, *, more: bool = False) -> None:
        await self.send({"type": "http.response.body", "body": data, "more_body": more})

    async def json(self, status: int, value: Any, extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
        data = payloads.dumps(value)
        await self.start(status, JSON, extra, length=len(data))
        await self.body(data)


def route_of(scope: Scope) -> str:
    """Return the route of a request: the path after the last ``/v1`` (``/_fake/...`` kept whole)."""
    path = scope.get("path") or "/"
    root_path = scope.get("root_path") or ""
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    path = path.rstrip("/") or "/"
    marker = path.rfind("/_fake/")
    if marker >= 0:
        return path[marker:]
    marker = path.rfind("/v1/")
    return path[marker + 3 :] if marker >= 0 else path


def headers_of(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def missing_parameter(name: str) -> ApiError:
    return ApiError(400, f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter")


def integer_parameter(payload: dict[str, Any], name: str, *, minimum: int) -> int | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError(400, f"Invalid type for '{name}': expected an integer.", param=name, code="invalid_type")
    if value < minimum:
        message = f"Invalid '{name}': integer below minimum value. Expected a value >= {minimum}, but got {value}."
        raise ApiError(400, message, param=name, code="integer_below_min_value")
    return value
