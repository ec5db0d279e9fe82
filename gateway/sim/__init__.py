"""The simulated fleet: a pure motion/fuel/fault model (``fleet``) and its store writer (``writer``).

Used by ``gateway demo``, ``gateway simulate``, ``gateway initdb --sample-trucks`` and the
load tester. May import: gateway.core, gateway.store.
"""
