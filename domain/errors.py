"""The domain's error tree; the API maps each base class to one HTTP status in one place.

    GaiaError                 base: a stable ``code``, a message and ``details``
    ├── NotFound              unknown, or the caller may not learn that it exists   (404)
    ├── Forbidden             the caller is known but may not do this             (403)
    ├── Conflict              the command lost a race with another writer         (409)
    ├── RuleViolation         the command breaks a rule of the session            (422)
    ├── Throttled             a cap is reached for now; try again later           (429)
    └── StoreUnavailable      the event store cannot be reached right now         (503)

Concrete errors live beside the code that raises them and carry their own fields.
"""

from __future__ import annotations

from typing import Any


class GaiaError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(GaiaError):
    code = "not_found"


class Forbidden(GaiaError):
    code = "forbidden"


class Conflict(GaiaError):
    code = "conflict"


class RuleViolation(GaiaError):
    code = "rule_violation"


class Throttled(GaiaError):
    """A cap that frees itself with time is reached; ``retry_after_s`` says when to retry."""

    code = "rate_limited"
    retry_after_s = 5


class StoreUnavailable(GaiaError):
    code = "store_unavailable"


class VersionConflict(Conflict):
    """Other writers kept appending to the stream while the command was retried."""

    code = "version_conflict"
