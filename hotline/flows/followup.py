"""The call back's side of the engine: what it asks the database (a port the voice views
implement) and what it keeps in the call's flags.

The engine stays pure: a followup step checks a tip number and PIN and reads messages only
through a FollowupPort, which the view builds on the request's database session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# A call back's progress, in CallState.flags (see the followup step).
CB_REPORT = "cb_report"  # the earlier report the call now belongs to (its id)
CB_MODE = "cb_mode"  # "messages" (tip number and PIN), "add" (no PIN), "blind" (no PIN, no match)
CB_HEARD = "cb_heard"  # ids of the messages read in this call, for "press 2"
CB_TRIES = "cb_tries"  # refusals so far in this call
CB_ADDED = "cb_added"  # recordings added on this call back


@dataclass(frozen=True)
class Opened:
    """What a tip number (and PIN) opened: the report, and whether its messages may be heard."""

    report_id: int
    messages: bool


@dataclass(frozen=True)
class Note:
    """A message the investigators wrote for the tipster, to be read out."""

    id: int
    language: str
    body: str


class FollowupPort(Protocol):
    """What a call back needs from the database; the voice views implement it."""

    def check(self, tip_number: str, pin: str | None) -> Opened | None:
        """Check a tip number and PIN (None: the caller chose none) with the same work on every path."""

    def unheard(self, report_id: int) -> list[Note]:
        """The report's messages to the tipster not heard or read yet, oldest first."""

    def messages(self, report_id: int, ids: Sequence[int]) -> list[Note]:
        """The report's messages with these ids, oldest first (to hear them again)."""

    def closed(self, report_id: int) -> bool:
        """Whether the report is closed (the one thing about its status a caller hears)."""


class NoFollowup:
    """A line without a database behind it: nothing opens."""

    def check(self, tip_number: str, pin: str | None) -> Opened | None:
        return None

    def unheard(self, report_id: int) -> list[Note]:
        return []

    def messages(self, report_id: int, ids: Sequence[int]) -> list[Note]:
        return []

    def closed(self, report_id: int) -> bool:
        return False
