"""The service's clock. Every time the store records (created, resolved, due, overdue ...) comes from `now()`, so
tests can move time for a running server: MINSHENG_CLOCK_OFFSET_FILE names a file holding seconds to add (read on
each call; a missing or empty file is no offset). Production leaves it unset: the system's UTC time."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from minsheng.settings import settings

LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # the hotline's days and weeks


def now() -> datetime:
    """UTC now, timezone-aware, plus the offset of MINSHENG_CLOCK_OFFSET_FILE where it is set."""
    path = settings().clock_offset_file
    if path is None:
        return datetime.now(UTC)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        text = ""
    try:
        offset = float(text or 0)
    except ValueError:
        raise ValueError(f"MINSHENG_CLOCK_OFFSET_FILE ({path}) must hold a number of seconds, not {text[:40]!r}") from None
    return datetime.now(UTC) + timedelta(seconds=offset)
