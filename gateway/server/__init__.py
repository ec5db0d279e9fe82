"""The thin aiohttp layer: app factory, WebSocket handler and per-client send path, REST, metrics.

May import anything in the package except gateway.cli; the decisions it applies live in
gateway.core and gateway.live.
"""
