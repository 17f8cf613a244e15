"""The overdue sweep in the background of the entry service: every MINSHENG_OVERDUE_SWEEP_SECONDS it records
"ticket.overdue" for the tickets whose due time has passed (store.sweep_overdue; replicas may all run it)."""
from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.orm import Session, sessionmaker

from minsheng.settings import settings
from minsheng.store import sweep_overdue

log = logging.getLogger("minsheng.overdue")


def start_sweep(sessions: sessionmaker[Session]) -> threading.Thread:
    interval = settings().overdue_sweep_seconds

    def run() -> None:
        while True:
            try:
                found = sweep_overdue(sessions)
                if found:
                    log.info("overdue: tickets %s", ", ".join(map(str, found)))
            except Exception as e:  # a database restart: the next round retries; the type only, never data
                log.warning("overdue sweep failed: %s", type(e).__name__)
            time.sleep(interval)

    thread = threading.Thread(target=run, name="overdue-sweep", daemon=True)
    thread.start()
    return thread
