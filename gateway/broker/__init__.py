"""Cluster broker: many gateway processes serving as one (docs/PROTOCOL.md §19, docs/DEPLOY.md).

Model. Processes that share a broker URL and key prefix are one cluster; each has a
random ``node_id``. For each truck at most one process, the *reader*, holds a lease and
publishes every frame of ``truck:<id>`` through the broker; every process (the reader
too) relays the published frames to its own sockets. ``open_broker`` picks
``MemoryBroker`` (``memory://``, one process) or ``RedisBroker`` (``redis://``); both obey
``Broker`` (``base.py``) and one shared test suite.

Key layout (``{p}`` = prefix, default ``gateway``; ``{t}`` = truck id):

==========================  ========  ==================================================
``{p}:lease:{t}``           STRING    ``<node_id>|<token>``, PX = lease TTL
``{p}:fence:{t}``           STRING    counter INCRed per acquisition (the token)
``{p}:interest:{t}``        ZSET      member node_id, score = expiry ms (server clock)
``{p}:watched``             ZSET      member truck id, score = latest interest expiry of
                                      any node (the binlog reader's list of trucks)
``{p}:state:{t}``           HASH      ``epoch``, ``seq``, ``ts``, ``row`` (JSON),
                                      ``status`` (last status frame of the epoch)
``{p}:hist:{t}``            STREAM    diffs of the current epoch, id ``0-<seq>``, field
                                      ``d`` = diff frame JSON, MAXLEN = ring size (exact)
``{p}:ch:{t}``              channel   Pub/Sub: ``<k>|<epoch>|<seq>|<frame JSON>``,
                                      ``k`` = ``s`` snapshot, ``d`` diff, ``t`` status
``{p}:ctl:{node_id}``       channel   a node's own channel, keeps its relay subscribed
==========================  ========  ==================================================

``state``, ``hist`` and ``fence`` expire after ``keep_ms`` (default 1 h) without a
publish or a renew, so abandoned trucks clean up after themselves.

Rules the Lua scripts (``lua.py``) enforce, each in one atomic call:

- ``acquire``: per truck, a free lease is taken (``INCR`` fence, ``SET PX``) and one
  already ours keeps its token with a fresh TTL; others are left alone.
- ``renew`` / ``release`` act only on a lease whose value is still exactly
  ``<our node_id>|<token>``: a lease that expired and was taken by another node (or
  re-taken by us under a new token) is neither extended nor deleted.
- ``publish_*`` first compare the lease value with ``<node_id>|<token>``; a stale
  holder (e.g. SIGSTOPped past its TTL) gets False and nothing is written or published.
  ``publish_snapshot`` then refuses the stored epoch (epochs are never reused), replaces
  the state (seq 0, status cleared) and deletes the history. ``publish_diff`` requires
  the stored (epoch, seq) to be (epoch, seq - 1), then updates row/seq/ts, ``XADD``s
  and publishes. ``publish_status`` requires the stored epoch and publishes with its seq.
- Interest scripts use the server's ``TIME``, purge expired members, and let the key
  expire with its latest member.

Relay. Only trucks with local subscribers are subscribed. Pub/Sub drops what is
published while a subscriber reconnects, so the handler's ``on_reconnect`` must gap-fill
every channel from ``history`` (or resync from ``latest``); ``RelayCursor`` judges each
incoming message against the last (epoch, seq) passed on.
"""

from gateway.broker.base import (
    DIFF,
    SNAPSHOT,
    STATUS,
    Broker,
    BrokerUnavailable,
    ChannelState,
    RelayHandler,
)
from gateway.broker.cursor import RelayCursor, Verdict
from gateway.broker.factory import open_broker
from gateway.broker.keys import DEFAULT_PREFIX, KeyLayout
from gateway.broker.memory import MemoryBroker

__all__ = [
    "DEFAULT_PREFIX",
    "DIFF",
    "SNAPSHOT",
    "STATUS",
    "Broker",
    "BrokerUnavailable",
    "ChannelState",
    "KeyLayout",
    "MemoryBroker",
    "RelayCursor",
    "RelayHandler",
    "Verdict",
    "open_broker",
]
