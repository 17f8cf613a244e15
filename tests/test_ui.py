"""The review page in real headless Chromium: Debian's `chromium` package driven by Playwright (Playwright's own
browser download does not work here). Screenshots go to $MINSHENG_TEST_OUTPUT, else the test's tmp dir."""
import os
from pathlib import Path

from tests.test_review_api import ENVIRONMENT, PHONE, URBAN, Api


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
