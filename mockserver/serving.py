"""Serving an app on a real socket with uvicorn: from the command line, or in a background thread.

`in_thread` is for tests that need a real socket without a subprocess (the official client, a
reconciler end to end):

    with in_thread(create_app(MockConfig(), RealClock())) as url:
        ...   # url is http://127.0.0.1:PORT

Both ways listen on a socket made here, because asyncio turns on TCP_NODELAY only for sockets
created with IPPROTO_TCP; without it each answer waits ~40 ms for a delayed ACK.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

from mockserver.faults import ConnectionDropped


def listen(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket (port 0: a free one); raises OSError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # Listening before uvicorn starts: a client that connects as soon as the URL is printed
        # waits in the backlog instead of being refused.
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if sock.family == socket.AF_INET6 else host
    return f"http://{shown}:{port}"


def _quiet_drops(record: logging.LogRecord) -> bool:
    """Keep uvicorn from printing a traceback for every connection the fake drops on purpose."""
    return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


def server(app: ASGIApp, *, log_level: str = "warning") -> uvicorn.Server:
    # The app stamps its own Date from the fake's clock (mockserver.serverdate).
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off", ws="none", date_header=False)
    logging.getLogger("uvicorn.error").addFilter(_quiet_drops)
    return uvicorn.Server(config)


@contextmanager
def in_thread(app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "critical") -> Iterator[str]:
    """Serve `app` from a daemon thread; yields the base URL, stops the server on exit."""
    sock = listen(host, port)
    running = server(app, log_level=log_level)
    thread = threading.Thread(target=running.run, kwargs={"sockets": [sock]}, daemon=True, name="mockserver")
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not running.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.005)
        yield url_of(sock)
    finally:
        running.should_exit = True
        thread.join(timeout=10)
        sock.close()
