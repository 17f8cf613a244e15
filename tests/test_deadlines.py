"""Time limits (labels/deadlines.yaml) on the mainland's working calendar (chinesecalendar): holidays, adjusted
working weekends (调休), the years the package does not know, and the rules file's checks."""
from datetime import datetime

import pytest

from minsheng.core.clock import LOCAL_TZ
from minsheng.core.deadlines import (
    add_working_days,
    due_state,
    is_workday,
    load_deadlines,
)


def beijing(*args) -> datetime:
    return datetime(*args, tzinfo=LOCAL_TZ)


def test_working_days_skip_national_day_and_count_the_adjusted_saturday():
    # 2026: Oct 1-7 off, Sat Oct 10 worked (调休); the day the clock starts does not count
    assert add_working_days(beijing(2026, 9, 30, 10), 3) == beijing(2026, 10, 10, 23, 59, 59)
    assert add_working_days(beijing(2026, 9, 30, 10), 13) == beijing(2026, 10, 23, 23, 59, 59)
    # Mid-Autumn Festival, Fri Sep 25 2026, is off; so is the weekend after it
    assert add_working_days(beijing(2026, 9, 24, 9), 1) == beijing(2026, 9, 28, 23, 59, 59)
    # Sun Sep 20 2026 is worked
    assert add_working_days(beijing(2026, 9, 19, 9), 1) == beijing(2026, 9, 20, 23, 59, 59)
    # the Beijing day decides, not the UTC one: 2026-09-30 20:00 UTC is already Oct 1 in Beijing
    assert add_working_days(datetime.fromisoformat("2026-09-30T20:00:00+00:00"), 1) == beijing(2026, 10, 8, 23, 59, 59)


def test_a_year_the_calendar_does_not_know_counts_monday_to_friday():
    assert not is_workday(beijing(2027, 1, 9).date())  # a Saturday
    assert add_working_days(beijing(2027, 1, 8, 9), 1) == beijing(2027, 1, 11, 23, 59, 59)


def test_the_shipped_rules_follow_the_hotline_practice():
    rules = load_deadlines()
    start = beijing(2026, 12, 1, 9)

    def due(domain="城乡建设", appeal="投诉", urgent=False, cues=()):
        rule = rules.rule_for(domain, appeal, urgent, cues)
        return rule.id, rule.due(start)

    assert due(urgent=True, cues=["停水停电"]) == ("emergency", beijing(2026, 12, 1, 11))
    assert due(cues=["停水停电"]) == ("utilities", beijing(2026, 12, 2, 9))
    assert due(appeal="咨询") == ("consult", beijing(2026, 12, 4, 23, 59, 59))
    assert due(appeal="求助")[0] == "consult"
    assert due(appeal="举报") == ("complaint", beijing(2026, 12, 18, 23, 59, 59))
    assert due(appeal="建议") == ("general", beijing(2026, 12, 10, 23, 59, 59))


@pytest.mark.parametrize("rules,problem", [
    ("- {id: a, appeal: [抱怨], hours: 2}\n- {id: z, hours: 1}", "unknown appeal"),
    ("- {id: a, domain: [城乡建设], hours: 2}", "last rule must have no conditions"),
    ("- {id: a, hours: 2, working_days: 3}", "one of hours or working_days"),
    ("- {id: a, hours: 0}", "one of hours or working_days"),
    ("- {id: a, cues: [地震], hours: 2}\n- {id: z, hours: 1}", "unknown cues"),
    ("- {id: a, hours: 1}\n- {id: a, hours: 2}", "unique"),
])
def test_a_rules_file_that_cannot_be_used_is_refused_by_name(tmp_path, rules, problem):
    path = tmp_path / "deadlines.yaml"
    path.write_text("version: 1\nrules:\n" + "\n".join(f"  {line}" for line in rules.splitlines()), encoding="utf-8")
    with pytest.raises(ValueError, match=problem):
        load_deadlines(path)


def test_due_state():
    now = beijing(2026, 12, 7, 12)
    assert due_state(beijing(2026, 12, 7, 11), "open", now) == (True, False)
    assert due_state(beijing(2026, 12, 8, 11), "claimed", now) == (False, True)
    assert due_state(beijing(2026, 12, 9, 11), "open", now) == (False, False)
    assert due_state(beijing(2026, 12, 7, 11), "resolved", now) == (False, False)
    assert due_state(None, "open", now) == (False, False)
