"""Pure core: diffs, channel names, protocol frames, statuses and the decisions of the live path.

Nothing in this package does I/O or imports asyncio, aiohttp or a database driver, so
every rule of the wire protocol can be tested with plain function calls
(tests/test_layout.py holds every package to its import rules).

May import: the standard library's pure modules, orjson, and gateway.core itself.
"""
