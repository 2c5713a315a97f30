"""The client's status (contract C-STATUS-1, C-STATUS-2): `starting` until a call reaches the
service, then `ready` while the last call reached it (a refusal counts), `stale` while the last
call could not (the codes of C-STALE-1) or the breaker held it back. Each change is one event to
every listener, called synchronously where the call's outcome is recorded."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Status:
    """`state`; `since`: when it began (`time.time()` seconds; for `stale`, when the first
    failed call of that run failed; None while `starting`); `why`: for `stale`, the kind of
    failure (timed out, unreachable, circuit open), never an address."""

    state: Literal["starting", "ready", "stale"]
    since: float | None = None
    why: str | None = None


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """One change of status: `ready` (first reached), `stale` (`since`, `why`), `recovered`
    (`stale_for`: seconds it was stale; the status is `ready` again). `since` is when the new
    status began."""

    type: Literal["ready", "stale", "recovered"]
    since: float
    why: str | None = None
    stale_for: float | None = None


StatusListener = Callable[[StatusEvent], None]


class StatusKeeper:
    """Records each call's outcome and tells the listeners when the status changes."""

    def __init__(self) -> None:
        self.status = Status("starting")
        self._listeners: list[StatusListener] = []

    def subscribe(self, listener: StatusListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def reached(self) -> None:
        """A call reached the service (answered or refused)."""
        state, since = self.status.state, self.status.since
        if state == "ready":
            return
        now = time.time()
        self.status = Status("ready", now)
        if state == "starting":
            self._tell(StatusEvent("ready", now))
        else:
            self._tell(StatusEvent("recovered", now, stale_for=max(0.0, now - (since or now))))

    def unreached(self, why: str) -> None:
        """A call could not reach the service, or the breaker held it back. A run of failures
        keeps the first one's time and reason."""
        if self.status.state == "stale":
            return
        now = time.time()
        self.status = Status("stale", now, why)
        self._tell(StatusEvent("stale", now, why))

    def _tell(self, event: StatusEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("a status listener failed on %s", event)
