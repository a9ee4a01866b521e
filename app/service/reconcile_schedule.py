"""Reconciliation on a schedule inside ``ledger project`` (``LEDGER_RECONCILE_EVERY``, off
by default): every so many seconds, the one process that leads ``reconcile`` (like a
projection's leader, ``adapters.leadership``) asks iDenfy about what is due, at the
configured rate. A refused credential ends the schedule with one logged line; nothing
else does.
"""

from __future__ import annotations

import logging
import threading

from adapters.idenfy_api import AuthenticationError, IdenfyStatusApi
from adapters.leadership import Leadership, leadership_for
from adapters.rate_limit import RateLimiter
from app.service.reconcile import reconcile
from app.service.services import Services

log = logging.getLogger("ledger.reconcile")
LEADERSHIP = "reconcile"


class ScheduledReconcile:
    """Runs ``reconcile`` every ``settings.completeness.reconcile_every`` seconds while it
    leads; ``stop`` ends it between runs."""

    def __init__(self, services: Services, api: IdenfyStatusApi, lead: Leadership | None = None):
        completeness = services.settings.completeness
        self.services = services
        self.api = api
        self.every = completeness.reconcile_every
        self.limiter = RateLimiter(completeness.reconcile_rate)
        self.lead = lead or leadership_for(services.settings.store, LEADERSHIP)
        self.stopping = threading.Event()
        self.runs = 0
        self.thread = threading.Thread(target=self._loop, name="reconcile", daemon=True)

    def start(self) -> ScheduledReconcile:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.lead.release()

    def _loop(self) -> None:
        while not self.stopping.is_set():
            if self.lead.try_acquire() or self.lead.still_held():
                try:
                    summary = reconcile(self.services, self.api, self.limiter)
                except AuthenticationError as error:
                    log.error("reconciliation stops: iDenfy refused the credentials (%s)", error)
                    return
                except Exception as error:  # the store or the network; the next run retries
                    log.warning("reconciliation run failed: %s", type(error).__name__)
                else:
                    self.runs += 1
                    log.info("reconciliation: %s", summary.line())
            self.stopping.wait(self.every)
