"""Time limits (办理时限): the rules of labels/deadlines.yaml, and due times on the mainland's working calendar.

Working days come from `chinesecalendar` (public holidays and the adjusted working weekends, 调休, as the State
Council publishes them each year). For a year it does not know yet, a day is a working day from Monday to Friday
(a warning is logged once per year): update the package when the next year's schedule is out."""
from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache, lru_cache
from pathlib import Path

import chinese_calendar
import yaml

from minsheng.core.clock import LOCAL_TZ
from minsheng.core.labels import LABELS_DIR, LabelSet, load_labels

log = logging.getLogger("minsheng.deadlines")
DUE_SOON = timedelta(hours=24)  # a ticket due within this is shown as due soon (临期)
END_OF_DAY = time(23, 59, 59)
CONDITIONS = ("urgent", "appeal", "domain", "cues")


@cache
def _unknown_year(year: int) -> None:
    log.warning("chinesecalendar has no holidays for %s: counting Monday to Friday as working days", year)


def is_workday(day: date) -> bool:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:  # a year the package does not cover
        _unknown_year(day.year)
        return day.weekday() < 5


def add_working_days(start: datetime, days: int) -> datetime:
    """The end (23:59:59 Beijing time) of the `days`-th working day after start's day: the day the clock starts
    does not count (nor do weekends and holidays); an adjusted working weekend does."""
    day = start.astimezone(LOCAL_TZ).date()
    while days:
        day += timedelta(days=1)
        days -= is_workday(day)
    return datetime.combine(day, END_OF_DAY, LOCAL_TZ)


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    when: dict[str, frozenset]  # condition -> the values that match
    hours: int | None = None
    working_days: int | None = None

    def matches(self, facts: dict[str, object]) -> bool:
        for key, values in self.when.items():
            fact = facts[key]
            if key == "cues" and not values & set(fact):
                return False
            if key != "cues" and fact not in values:
                return False
        return True

    def due(self, start: datetime) -> datetime:
        if self.hours is not None:
            return start + timedelta(hours=self.hours)
        return add_working_days(start, self.working_days)


@dataclass(frozen=True)
class Deadlines:
    rules: tuple[Rule, ...]

    def rule_for(self, domain: str, appeal: str, urgent: bool, cues: Collection[str] = ()) -> Rule:
        facts = {"domain": domain, "appeal": appeal, "urgent": urgent, "cues": cues}
        return next(r for r in self.rules if r.matches(facts))  # the last rule matches everything


def _rule(raw: dict, labels: LabelSet) -> Rule:
    rid = raw.get("id")
    known = {"urgent": {True, False}, "appeal": set(labels.values["appeal"]), "domain": set(labels.domains),
             "cues": set(labels.possible_emergency)}
    unknown_keys = set(raw) - {"id", "name", "hours", "working_days", *CONDITIONS}
    if not rid or unknown_keys:
        raise ValueError(f"deadlines.yaml rule {rid!r}: needs an id; unknown keys {sorted(unknown_keys)}")
    when = {}
    for key in CONDITIONS:
        if key in raw:
            values = frozenset(raw[key] if isinstance(raw[key], list) else [raw[key]])
            if not values or values - known[key]:
                raise ValueError(f"deadlines.yaml rule {rid!r}: unknown {key} {sorted(map(str, values - known[key]))}")
            when[key] = values
    limits = {k: raw[k] for k in ("hours", "working_days") if k in raw}
    if len(limits) != 1 or not all(isinstance(v, int) and v > 0 for v in limits.values()):
        raise ValueError(f"deadlines.yaml rule {rid!r}: give one of hours or working_days, a positive integer")
    return Rule(id=str(rid), name=str(raw.get("name", rid)), when=when, **limits)


@lru_cache(maxsize=4)
def load_deadlines(path: Path | str = LABELS_DIR / "deadlines.yaml", labels: LabelSet | None = None) -> Deadlines:
    """The rules of `path`, checked against the label sets; a ValueError naming the rule that cannot be used."""
    labels = labels or load_labels()
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    rules = tuple(_rule(r, labels) for r in raw["rules"])
    if not rules or rules[-1].when:
        raise ValueError("deadlines.yaml: the last rule must have no conditions, so that every ticket gets a due time")
    if len({r.id for r in rules}) != len(rules):
        raise ValueError("deadlines.yaml: rule ids must be unique")
    return Deadlines(rules)


def due_state(due_at: datetime | None, status: str, now: datetime) -> tuple[bool, bool]:
    """(overdue, due soon) of an unresolved ticket due at `due_at`; a resolved one is neither."""
    if due_at is None or status == "resolved":
        return False, False
    return due_at < now, now <= due_at < now + DUE_SOON
