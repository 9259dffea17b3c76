"""What a use case refuses, in words every adapter shows as they are: REST answers each kind with its
status, the dashboard shows the message, MCP returns it as a tool error.
Each message starts with the field it is about (``weights: unknown component 'x'``)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from nextread.store.unknown import UnknownIdError


class ServiceError(Exception):
    """A request the caller has to change; ``str(error)`` is the sentence to show."""


class AlreadyExistsError(ServiceError):
    """A create for an id the tenant already has."""


class InvalidError(ServiceError, ValueError):
    """An argument breaks a rule. ``errors``: pydantic's own list when a model refused the value, so
    REST can report every field as it reports a body it validated itself."""

    def __init__(self, field: str, reason: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason, self.errors = field, reason, errors

    @classmethod
    def worded(cls, message: str) -> InvalidError:
        """From a ``field: reason`` sentence a lower layer wrote (a ``ValueError``'s), kept as it is."""
        field, _, reason = message.partition(": ")
        error = cls(field, reason or field)
        error.args = (message,)
        return error

    @classmethod
    def of(cls, exc: ValidationError) -> InvalidError:
        errors = exc.errors(include_url=False)
        return cls(".".join(str(part) for part in errors[0]["loc"]), errors[0]["msg"], errors)


class NotAllowedError(ServiceError, PermissionError):
    """The caller's role may not make this change."""


class TooLargeError(ServiceError):
    """More at once than the configured limit."""


class NoCatalogError(ServiceError, LookupError):
    """The tenant has no books to recommend from yet."""

    def __init__(self, message: str = "the catalog is empty: add items before asking for recommendations"):
        super().__init__(message)


class UpstreamError(ServiceError):
    """An outside service the use case depends on (Open Library) failed."""


# Everything a use case refuses on purpose: adapters show these to the caller, never as a crash.
REFUSALS: tuple[type[Exception], ...] = (ServiceError, UnknownIdError)
