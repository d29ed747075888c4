from tests.support.backoffice import backoffice, memory_outbox  # noqa: F401  (fixtures)
