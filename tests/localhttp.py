"""A real aiohttp server on 127.0.0.1 for tests: webhook receivers, Alertmanager's receiver, proxies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class LocalServer:
    """Serves `routes` ((method, path, handler), aiohttp path syntax) on 127.0.0.1.

    Port 0 (the default) takes a free port when it starts, without the race of picking one first;
    `url` is known once `start()` returned.
    """

    def __init__(self, routes: Sequence[tuple[str, str, Handler]], port: int = 0,
                 client_max_size: int = 1024**2, shutdown_timeout: float = 60.0) -> None:
        self.port = port
        self._routes = list(routes)
        self._client_max_size = client_max_size
        self._shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port> (no trailing slash)."""
        if self._runner is None:
            raise RuntimeError("LocalServer.url read before start()")
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen; raises OSError when the port is taken."""
        app = web.Application(client_max_size=self._client_max_size)
        for method, path, handler in self._routes:
            app.router.add_route(method, path, handler)
        runner = web.AppRunner(app, shutdown_timeout=self._shutdown_timeout)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
        except OSError:
            await runner.cleanup()
            raise
        self.port = int(runner.addresses[0][1])
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
