"""The live path: one reader per watched truck, batched reads, the hub of subscriptions.

Data flows store → ``poller`` (with ``batch``) → ``gateway.core.stream`` (diff, seq, ring)
→ ``hub`` → each ``Subscriber`` (a socket in ``gateway.server.connection``).

May import: gateway.core, gateway.config, gateway.store. Never aiohttp or gateway.server:
the hub is driven in tests with no sockets at all.
"""
