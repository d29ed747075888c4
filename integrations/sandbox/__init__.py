"""A sandbox imitating the council's back-office systems at their real paths.

Each module in ``integrations.sandbox.systems`` is one system: it exposes
``router`` (a FastAPI ``APIRouter``), ``SCHEMA`` (SQLite DDL for its own
tables), ``seed(conn, world)`` to fill them with the demo council, and may
expose ``PATH_PREFIXES`` with ``error_body(status, message)`` so that bad
input gets that system's own error shape. Modules are discovered
automatically; nothing else needs editing to add a system.
"""
