"""Progress reporting that library code can accept without knowing who watches: the CLI shows bars, Airflow
tasks and tests pass nothing and get :data:`NO_PROGRESS`.

A long step calls ``progress.start("fetching pages", total=len(claims))`` once, then ``progress.advance()`` per
item done (``advance(n)`` for several); starting a new step ends the previous one. ``total=None`` means the
amount is not known up front (a spinner). Implementations must be cheap and must never raise: progress is
decoration, not control flow.

    def assign_pending(..., progress: Progress = NO_PROGRESS) -> ...:
        progress.start("grouping stories", total=len(pending))
        for hit in pending:
            ...
            progress.advance()
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Progress(Protocol):
    """Receives the steps of a long operation and how far each has got."""

    def start(self, label: str, total: int | None = None) -> None:
        """A new step begins (``total`` items, or unknown); the previous step, if any, is complete."""

    def advance(self, n: int = 1) -> None:
        """``n`` more items of the current step are done."""


class NullProgress:
    """Reports nowhere (the default)."""

    def start(self, label: str, total: int | None = None) -> None:
        return None

    def advance(self, n: int = 1) -> None:
        return None


NO_PROGRESS: Progress = NullProgress()

__all__ = ["NO_PROGRESS", "NullProgress", "Progress"]
