"""Starting the aiohttp site and settling the process once it serves (used by serve and demo)."""

from __future__ import annotations

import errno
import gc

from aiohttp import web

from gateway.server.keys import GUARD, SETTINGS


class PortInUse(Exception):
    """The address to listen on is taken by another process."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"{host}:{port} is already in use")
        self.host, self.port = host, port


async def start_site(
    app: web.Application, host: str, port: int, *, reuse_port: bool = False
) -> tuple[web.AppRunner, int]:
    """Start serving ``app``; returns the runner and the bound port (port 0 picks one).

    Raises:
        PortInUse: the address is taken (the caller reports it in one line).
    """
    # aiohttp's own keep-alive default is 3,630 s; the guard bounds it too, this keeps them in step.
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=3.0,
                           keepalive_timeout=app[SETTINGS].keepalive_timeout)
    await runner.setup()
    assert runner.server is not None
    app[GUARD].install(runner.server)
    site = web.TCPSite(runner, host, port, backlog=4096, reuse_address=True, reuse_port=reuse_port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(host, port) from None
        raise
    sockets = site._server.sockets if site._server else []  # the only way to learn the port picked for 0
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, bound


def settle_gc() -> None:
    """Keep the cyclic GC off the hot path once the process is up.

    Start-up objects live forever, so they are frozen out of every collection. With
    thousands of sockets the heap is large and a full (generation 2) collection walks all
    of it, pausing the loop for hundreds of milliseconds; fewer, later full collections
    (the third threshold) and larger young generations keep those pauses rare. Garbage
    without cycles is freed by reference counting as before.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)
