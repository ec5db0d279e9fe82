"""The thin aiohttp layer: app factory, WebSocket and REST handlers, metrics."""
