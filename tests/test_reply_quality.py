"""Reply quality before sending: the scoring rules on their own, then the reply check against the real service
(the classifier's own encoder, the ticket's access rules) and on the ticket page in real Chromium."""
from __future__ import annotations

from minsheng.assist.reply_quality import assess, expected_items, form_checks
from tests.test_review_api import URBAN, Api

MESSAGE = "A市雨花区景蓉华苑小区门口的路灯坏了一个月没人修，晚上很黑，老人经常摔倒，请尽快维修路灯。"
GOOD = ("网友您好！您反映的景蓉华苑小区门口路灯损坏问题已收悉。经现场核查，该路灯线路老化，我局已于12月5日安排维修人员"
        "更换线路和灯具，路灯现已恢复照明。根据《城市照明管理规定》，我局将加强日常巡查。如有疑问，请拨打城管热线"
        "0731-88888888。感谢您的监督。")
EMPTY = "您好，您的来信已收悉，我们正在处理，请耐心等待。"


def test_a_full_reply_beats_an_empty_one_and_what_is_missing_is_named():
    items = expected_items(["A市", "雨花区", "景蓉华苑小区"], ["路灯", "维修", "摔倒"])
    assert items == ["景蓉华苑小区", "路灯", "维修", "摔倒"]  # the city and the district alone say nothing
    assert form_checks(GOOD) == dict.fromkeys(("salutation", "action", "basis", "contact", "substance"), True)
    assert form_checks(EMPTY) == {"salutation": True, "action": False, "basis": False, "contact": False,
                                  "substance": False}
    good, empty = assess(0.8, items, GOOD), assess(0.8, items, EMPTY)
    assert good["score"] > empty["score"] + 30
    assert good["covered"] == ["景蓉华苑小区", "路灯", "维修"] and good["not_covered"] == ["摔倒"]
    assert "未提及：摔倒" in good["missing"]
    assert any("套话" in m for m in empty["missing"]) and any("联系方式" in m for m in empty["missing"])
    assert "与来信内容关联度低" in assess(0.1, items, GOOD)["missing"]


def test_the_reply_check_on_the_ticket_page_with_the_ticket_access_rules(server, signed_in):
    api = Api(server)
    ticket_id = api.ticket_in(URBAN)
    path = f"/api/tickets/{ticket_id}/reply-check"
    for who, code in [(None, 401), ("intake", 403), ("env", 403), ("urban", 200), ("admin", 200)]:
        assert api(who, "POST", path, json={"reply": GOOD}).status_code == code, who
    assert api("urban", "POST", path, json={"reply": ""}).status_code == 422
    assert api("urban", "POST", "/api/tickets/2000000000/reply-check", json={"reply": GOOD}).status_code == 404
    # the encoder: the reply to this message is nearer to it than a reply about something else
    own = api("urban", "POST", path, json={"reply": "您好，您反映的小区门口路灯损坏问题，我局已安排维修，路灯已恢复照明。"}).json()
    other = api("urban", "POST", path, json={"reply": "您好，您反映的拖欠工资问题，劳动监察大队已责令公司支付工资。"}).json()
    assert own["cosine"] > other["cosine"] and own["score"] > other["score"]
    assert own["model_version"] and set(own["checks"]) == {"salutation", "action", "basis", "contact", "substance"}
    before = api("admin", "GET", f"/api/tickets/{ticket_id}").json()
    assert before["status"] == "open" and before["reply"] is None  # a check stores nothing

    page, errors = signed_in(server.url, api.tokens["urban"])
    page.wait_for_selector(".queue-card")
    page.goto(f"{server.url}/ui/#/ticket/{ticket_id}")
    page.wait_for_selector("form#resolve")
    page.fill("form#resolve textarea", EMPTY)
    page.click("#check-reply")
    page.wait_for_selector("#reply-check .reply-score")
    shown = page.inner_text("#reply-check")
    assert "答复质量" in shown and "缺少具体措施或办理结果" in shown and "套话" in shown
    page.click("form#resolve button[type=submit]")  # advice, not a gate: the weak reply still resolves
    page.wait_for_selector("#notice:not([hidden])")
    assert "已办结" in page.inner_text("#notice")
    assert api("admin", "GET", f"/api/tickets/{ticket_id}").json()["status"] == "resolved"
    assert errors == []
