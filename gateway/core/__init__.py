"""Pure protocol core: diffs, channel names and WebSocket frames.

Nothing in this package does I/O or imports asyncio, aiohttp or a database driver, so
every rule of the wire protocol can be tested without an event loop.
"""
