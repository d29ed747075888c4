"""Typed async clients for the council's back-office systems.

One module per system; all share the request pipeline in ``integrations.http``
(timeouts, retries, error translation) and read their configuration from
``integrations.settings``. Clients take an injected ``httpx.AsyncClient``.
"""
