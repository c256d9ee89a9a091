"""The loader's domain errors; each message says what is wrong and where."""

from __future__ import annotations


class LoaderError(Exception):
    """A load that cannot go ahead; the invocation fails with this message."""


class SettingsError(LoaderError):
    """The function's environment variables are missing or invalid."""


class EventError(LoaderError):
    """The invocation event is not one the loader understands."""


class InvalidSource(LoaderError):
    """The source object is not a loadable CSV; nothing was written."""

    def __init__(self, message: str, problems: list[str], total: int):
        super().__init__(message)
        self.problems = problems
        self.total = total


class MassDeletionRefused(LoaderError):
    """The load would delete more of the existing keys than the guard allows; nothing was written."""


class LeaseHeld(LoaderError):
    """Another invocation holds the load lease; this one gives up so it can be retried."""


class StoreError(LoaderError):
    """An S3 or DynamoDB call failed in a way retrying here will not fix."""


class WritesIncomplete(StoreError):
    """Some items could not be written or deleted after every retry."""
