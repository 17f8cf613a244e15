"""The review page in real headless Chromium: Debian's `chromium` package driven by Playwright (Playwright's own
browser download does not work here). Screenshots go to $MINSHENG_TEST_OUTPUT, else the test's tmp dir."""
import os
from pathlib import Path

import pytest

from tests.conftest import served
from tests.test_review_api import ENVIRONMENT, PHONE, URBAN, Api


@pytest.fixture(scope="module")
def server(tmp_path_factory, bentoml_home):
    """A server of this module's own: the queue page shows 20 tickets, oldest first, and the tickets other
    modules leave in the shared server's queues would push this module's off the first page."""
    with served(tmp_path_factory, bentoml_home) as proc:
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
