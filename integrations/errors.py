"""The small error hierarchy every client raises.

Actions turn these into honest messages for residents; none of them carries
personal data or secrets in its text.
"""

from __future__ import annotations


class IntegrationError(Exception):
    """A back-office call did not give the answer asked for."""

    #: Whether trying the same call again later could succeed.
    retryable: bool = False

    def __init__(self, message: str, *, system: str = "", status: int | None = None):
        super().__init__(message)
        self.system = system
        self.status = status

    def __str__(self) -> str:  # e.g. "koha: not found (404)"
        text = super().__str__()
        prefix = f"{self.system}: " if self.system else ""
        suffix = f" ({self.status})" if self.status else ""
        return f"{prefix}{text}{suffix}"


class NotFound(IntegrationError):
    """The thing asked for does not exist in that system."""


class Rejected(IntegrationError):
    """The system understood the request and refused it, saying why.

    ``reason`` is the system's own reason, short and free of personal data
    (for example ``on_reserve`` or ``OpportunityIsFullError``).
    """

    def __init__(self, message: str, *, reason: str = "", system: str = "", status: int | None = None):
        super().__init__(message, system=system, status=status)
        self.reason = reason or message


class AuthFailed(IntegrationError):
    """Our credentials were refused: a configuration problem, not the resident's."""


class Unavailable(IntegrationError):
    """The system is down, overloaded or erroring (5xx, 429, connection refused)."""

    retryable = True


class TimedOut(Unavailable):
    """The system did not answer in time."""
