"""Run an aiohttp app on 127.0.0.1 in a thread with its own event loop.

Synchronous tests, asynchronous tests and CLI subprocesses can all talk to a
stand-in started here: it listens on a free port of the loopback interface
until `stop()`, which releases hanging requests and joins the thread.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from standins.records import RecordedRequest, RequestLog
from standins.replies import Error, Reply, audio
from standins.script import Script

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
OUTAGE_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Service unavailable</title></head>
<body>
<h1>This service is not available at the moment</h1>
<p>Please try again later.</p>
</body>
</html>
"""


def error_response(reply: Error, usual_body: Any) -> web.Response:
    """An error reply as HTTP: JSON for dicts and lists, text for strings.

    `usual_body` stands in when the reply has no body of its own.
    """
    body = usual_body if reply.body is None else reply.body
    if isinstance(body, str):
        return web.Response(status=reply.status, text=body, headers=reply.headers)
    return web.json_response(body, status=reply.status, headers=reply.headers)


def html_response(status: int) -> web.Response:
    """An HTML outage page with `text/html`."""
    return web.Response(status=status, text=OUTAGE_PAGE, content_type="text/html")


def drop_connection(request: web.Request, *, reset: bool = False) -> None:
    """Hang up on a request's client: a normal close, or a TCP reset."""
    transport = request.transport
    if transport is None:
        return
    if not reset:
        transport.close()
        return

    # Linger on, with a zero timeout, turns the close into a reset (RST).
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class StandInServer:
    """A local server that records requests and answers as its script says.

    Subclasses build the aiohttp app in `make_app()`. Use it as a context
    manager or call `start()` and `stop()`; `url` is its base URL.
    """

    def __init__(self, default: Reply | None = None) -> None:
        """Prepare a stopped server whose script answers `default` (healthy audio)."""
        self.script = Script(default or audio())
        self._log = RequestLog()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._port: int | None = None
        self._failure: BaseException | None = None

    def make_app(self) -> web.Application:
        """The aiohttp application to serve; subclasses provide it."""
        raise NotImplementedError

    @property
    def port(self) -> int:
        """The port the server listens on; only while it runs."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return self._port

    @property
    def url(self) -> str:
        """The base URL, such as `http://127.0.0.1:41234`, without a final slash."""
        return f"http://{HOST}:{self.port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        return self._log.all()

    @property
    def speech_requests(self) -> list[RecordedRequest]:
        """The requests that asked for speech, oldest first."""
        return [record for record in self._log.all() if record.number]

    def clear_requests(self) -> None:
        """Forget the requests received so far and restart their numbering."""
        self._log.clear()

    def start(self) -> Self:
        """Start serving in a background thread; return once the port is open."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        self._failure = None
        self._thread = threading.Thread(
            target=asyncio.run,
            args=(self._serve(ready),),
            name=f"standin-{type(self).__name__}",
            daemon=True,
        )
        self._thread.start()

        if not ready.wait(START_TIMEOUT) or self._failure is not None:
            self.stop()
            raise RuntimeError(f"{type(self).__name__} did not start") from (
                self._failure
            )
        return self

    def stop(self) -> None:
        """Release hanging requests, close the server and join its thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        thread.join(STOP_TIMEOUT)
        self._port = None
        if thread.is_alive():
            raise RuntimeError(f"{type(self).__name__} did not stop in time")

    def __enter__(self) -> Self:
        """Start the server."""
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    async def _serve(self, ready: threading.Event) -> None:
        """The thread's whole life: open the port, wait for `stop()`, clean up."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=1)
        try:
            await runner.setup()
            site = web.TCPSite(runner, HOST, 0)
            await site.start()
            self._port = runner.addresses[0][1]
        except BaseException as exc:
            self._failure = exc
            ready.set()
            await runner.cleanup()
            return

        ready.set()
        await self._stopping.wait()
        await runner.cleanup()

    @property
    def stopping(self) -> bool:
        """Whether `stop()` has been called; handlers check it between steps."""
        return self._stopping is not None and self._stopping.is_set()

    async def wait_for_stop(self, timeout: float | None = None) -> bool:
        """Sleep until the server stops or `timeout` passes; True if it stopped."""
        assert self._stopping is not None
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def record(self, request: RecordedRequest, *, speech: bool) -> RecordedRequest:
        """Keep a request in `requests`; speech requests are numbered."""
        return self._log.add(request, speech=speech)

    def amend(self, request: RecordedRequest, **changes: object) -> RecordedRequest:
        """Update a kept request once more is known about it (Edge's SSML)."""
        return self._log.amend(request, **changes)
