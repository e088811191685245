"""The store: every SQL statement of the engine, by subject; group commit; pools; migrations.

Rules:
- Nothing outside this package writes SQL or holds a connection. Callers use the
  subject attributes of ``Store`` (``store.notifications``, ``store.callbacks``, ...) and
  the hot-path writes (``insert_notifications``, ``update_statuses``, ``apply_receipts``).
- The generic statement pipe (``engine.store._pipe``) is private to this package.
- Modules import nothing above the store (no ``engine.api``, no ``engine.actors``).
"""
