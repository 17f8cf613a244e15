"""The review page in real headless Chromium: Debian's `chromium` package driven by Playwright (Playwright's own
browser download does not work here). Screenshots go to $MINSHENG_TEST_OUTPUT, else the test's tmp dir."""
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from minsheng.core.clock import LOCAL_TZ
from tests.conftest import served
from tests.test_review_api import ENVIRONMENT, PHONE, URBAN, Api


@pytest.fixture(scope="module")
def server(tmp_path_factory, bentoml_home):
    """A server of this module's own: the queue page shows 20 tickets, oldest first, and the tickets other
    modules leave in the shared server's queues would push this module's off the first page. Its clock can be
    moved (MINSHENG_CLOCK_OFFSET_FILE; no file: no offset) and it sweeps for overdue tickets every second."""
    env = {"MINSHENG_CLOCK_OFFSET_FILE": str(tmp_path_factory.mktemp("clock") / "offset"),
           "MINSHENG_OVERDUE_SWEEP_SECONDS": "1"}
    with served(tmp_path_factory, bentoml_home, env=env) as proc:
        yield proc


def test_sign_in_open_queue_relabel_and_see_ticket_leave(server, signed_in, tmp_path):
    out = Path(os.environ.get("MINSHENG_TEST_OUTPUT", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    api = Api(server)
    moving = api.ticket_in(URBAN)
    api.ticket_in(URBAN, urgent=True)
    api.submit("垃圾站臭气熏天，污水直排河道，附近居民苦不堪言。")  # something for the charts
    page, errors = signed_in(server.url, api.tokens["urban"])
    page.wait_for_selector(".queue-card[data-queue=urban]")
    page.screenshot(path=out / "queues.png")
    page.click(".queue-card[data-queue=urban]")
    page.wait_for_selector(f'tr[data-ticket="{moving}"]')
    assert page.locator("tr.urgent .tag.urgent").first.inner_text() == "加急"
    page.screenshot(path=out / "queue.png")

    page.click(f'tr[data-ticket="{moving}"] td a')
    page.wait_for_selector("form#relabel")
    assert PHONE not in page.inner_text("#ticket-text")  # masked until claimed
    page.select_option("form#relabel select[name=domain]", ENVIRONMENT)
    page.fill("form#relabel input[name=reason]", "反映的是河道污染")
    page.screenshot(path=out / "ticket.png")
    page.click("form#relabel button[type=submit]")

    page.wait_for_selector("#notice:not([hidden])")
    assert "已改派至 生态环境局" in page.inner_text("#notice")
    page.wait_for_selector("table#tickets")
    assert page.url.endswith("#/queue/urban")
    assert page.locator(f'tr[data-ticket="{moving}"]').count() == 0
    page.screenshot(path=out / "after-relabel.png")
    moved = api("admin", "GET", f"/api/tickets/{moving}").json()
    assert (moved["queue"], moved["domain"]) == ("environment", ENVIRONMENT)

    page.click("#sign-out")
    page.fill("#token", api.tokens["admin"])
    page.click("button[type=submit]")
    page.wait_for_selector(".queue-card")
    page.click("[data-nav=analytics]")
    page.wait_for_selector("#chart-weekly svg rect")
    page.wait_for_selector("#chart-sentiment svg rect")
    page.screenshot(path=out / "analytics.png", full_page=True)
    assert errors == []


def test_confirm_labels_and_an_admin_reassigns_a_claim(server, signed_in, tmp_path):
    out = Path(os.environ.get("MINSHENG_TEST_OUTPUT", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    api = Api(server)
    ticket_id = api.ticket_in(URBAN)
    page, errors = signed_in(server.url, api.tokens["urban"])
    page.wait_for_selector(".queue-card")
    page.goto(f"{server.url}/ui/#/ticket/{ticket_id}")
    page.wait_for_selector("form#confirm")
    assert page.locator("form#assign").count() == 0  # assigning is for admins
    page.check("form#confirm input[value=sentiment]")  # ticket_in's relabel set domain and urgent
    page.check("form#confirm input[value=appeal]")
    page.screenshot(path=out / "confirm.png")
    page.click("form#confirm button[type=submit]")
    page.wait_for_selector("#notice:not([hidden])")
    assert "已确认标签" in page.inner_text("#notice")
    page.wait_for_selector(".history li:has-text('确认标签')")
    assert "（已核实）" in page.inner_text("form#confirm label:has(input[value=sentiment])")
    page.click("#claim")
    page.wait_for_selector("#unclaim")  # one's own claim can be released

    page.click("#sign-out")
    page.fill("#token", api.tokens["admin"])
    page.click("button[type=submit]")
    page.wait_for_selector(".queue-card")
    page.goto(f"{server.url}/ui/#/ticket/{ticket_id}")
    page.wait_for_selector("form#assign")
    page.fill("form#assign input[name=to]", api.names["urban2"])
    page.click("form#assign button[type=submit]")
    page.wait_for_selector(f"#notice:has-text('已指派给 {api.names['urban2']}')")
    page.wait_for_selector(f"dd:has-text('处理中 · {api.names['urban2']}')")
    page.screenshot(path=out / "assigned.png")
    page.click("#unclaim")
    page.wait_for_selector("#notice:has-text('已释放认领')")
    page.wait_for_selector("#claim")
    detail = api("admin", "GET", f"/api/tickets/{ticket_id}").json()
    assert [(h["task"], h["kind"], h["actor"]) for h in detail["human_labels"] if h["kind"] == "confirm"] == [
        ("sentiment", "confirm", api.names["urban"]), ("appeal", "confirm", api.names["urban"])]
    changes = [h["action"] for h in detail["history"] if h["action"] != "ticket.unmasked_read"]
    assert changes[-3:] == ["ticket.claimed", "ticket.assigned", "ticket.unclaimed"]
    assert errors == []


def test_overdue_and_due_soon_tickets_are_marked_extended_and_supervised(server, signed_in, tmp_path):
    out = Path(os.environ.get("MINSHENG_TEST_OUTPUT", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    api = Api(server)
    clock = Path(server.env["MINSHENG_CLOCK_OFFSET_FILE"])
    clock.write_text(str(-3 * 3600))
    late = api.ticket_in(URBAN, urgent=True)  # an emergency: due 2 hours after it was routed, 3 hours ago
    clock.write_text("0")
    soon = api.ticket_in(URBAN, urgent=True)  # due in 2 hours
    page, errors = signed_in(server.url, api.tokens["urban"])
    page.wait_for_selector(".queue-card[data-queue=urban]")
    assert int(page.inner_text(".queue-card[data-queue=urban] .overdue b")) >= 1
    assert int(page.inner_text(".queue-card[data-queue=urban] .due-soon b")) >= 1
    page.goto(f"{server.url}/ui/#/queue/urban?order=due")
    page.wait_for_selector(f'tr.overdue[data-ticket="{late}"]')
    assert page.inner_text(f'tr[data-ticket="{late}"] .tag.overdue') == "超期"
    assert page.inner_text(f'tr.due-soon[data-ticket="{soon}"] .tag.due-soon') == "临期"
    page.select_option("select[name=due]", "overdue")  # filterable
    page.wait_for_selector(f'tr[data-ticket="{soon}"]', state="detached")
    assert page.locator(f'tr[data-ticket="{late}"]').count() == 1
    page.screenshot(path=out / "queue-overdue.png")

    page.click(f'tr[data-ticket="{late}"] td a')
    page.wait_for_selector("#due .tag.overdue")
    later = (datetime.now(LOCAL_TZ) + timedelta(days=10)).replace(second=0, microsecond=0)
    page.fill("form#extend input[name=due_at]", later.strftime("%Y-%m-%dT%H:%M"))
    page.fill("form#extend input[name=reason]", "需协调燃气公司排查")
    page.click("form#extend button[type=submit]")
    page.wait_for_selector("#notice:has-text('已提交延期申请')")
    page.wait_for_selector("#deadline li:has-text('待审批')")
    assert page.locator("#deadline button.approve").count() == 0  # deciding is for admins

    page.click("#sign-out")
    page.fill("#token", api.tokens["admin"])
    page.click("button[type=submit]")
    page.wait_for_selector(".queue-card")
    page.click("[data-nav=supervision]")
    page.wait_for_selector(f'#supervision-departments tr[data-queue=urban] [data-ticket="{late}"]')
    page.screenshot(path=out / "supervision.png", full_page=True)
    page.goto(f"{server.url}/ui/#/ticket/{late}")
    page.wait_for_selector("#deadline button.approve")
    page.click("#deadline button.approve")
    page.wait_for_selector("#notice:has-text('已批准延期')")
    page.wait_for_selector("#deadline li:has-text('已批准')")
    assert page.locator("#due .tag.overdue").count() == 0
    page.fill("form#supervise textarea[name=note]", "请尽快联系群众")
    page.click("form#supervise button[type=submit]")
    page.wait_for_selector("#supervision li:has-text('请尽快联系群众')")
    page.screenshot(path=out / "ticket-deadline.png", full_page=True)
    detail = api("urban", "GET", f"/api/tickets/{late}").json()  # the department sees the note
    assert [n["note"] for n in detail["supervision"]] == ["请尽快联系群众"]
    assert datetime.fromisoformat(detail["due_at"]) == later  # the approved extension

    api("admin", "POST", f"/api/tickets/{soon}/resolve", json={"reply": "已处置。"})
    deadline = time.monotonic() + 60  # the sweep recorded the missed due time, for the overdue chart
    while "ticket.overdue" not in {e["action"] for e in detail["history"]} and time.monotonic() < deadline:
        time.sleep(1)
        detail = api("admin", "GET", f"/api/tickets/{late}").json()
    page.click("[data-nav=analytics]")
    page.wait_for_selector("#chart-loop svg rect")
    page.wait_for_selector("#chart-overdue svg rect")
    page.screenshot(path=out / "analytics-loop.png", full_page=True)
    assert errors == []
