"""Load tester for the fleet push gateway: WebSocket fan-out, REST polling, and a reference server.

Modes (``python -m loadtest MODE --help``):

- ``ws``: many WebSocket clients, spread over processes and loopback source addresses,
  subscribe to trucks and check every frame (order, seq gaps, resyncs, latency);
  optionally the load tester drives the database itself and checks that every write
  reached every subscriber.
- ``rest``: dashboards polling ``/v1/trucks/{id}/sensors``, for the database-load comparison.
- ``reference``: the same clients against a bare aiohttp broadcast server.
- ``compare``: gateway, reference (and REST) in turn on one load, with the ratios.

Layout: ``runner`` runs one bounded load from the parent; ``pool``/``worker`` are the
processes; ``wsworker``/``restworker`` the clients, ``wstrack`` their frame checks;
``driver``/``refdriver`` drive the data on a ``schedule``; ``procstats``, ``dbstats`` and
``promscrape`` measure the server; ``report``, ``table`` and ``plot`` present the result.
"""
