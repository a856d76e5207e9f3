"""The five journeys of issue 12 in Chromium, against a real ``devflow serve``: what a person sees on
each page is asserted, and what the page did is checked through the JSON API. Every page visited is
saved as a PNG in the test's temporary folder (one in dark mode, one at phone width)."""

from __future__ import annotations

import datetime as dt
import http.client
import re
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.metrics.events import editor_switch, file_save, text_change
from tests.web.conftest import LAPTOP, PASSWORD, PHONE, WebServer

pytestmark = pytest.mark.slow


def shot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def new_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


def sign_up(page: Page, server: WebServer, email: str) -> None:
    """Register through the sign-up page; it lands on the dashboard."""
    page.goto(server.base_url + "/register")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"/dashboard$"))
    expect(page.get_by_role("heading", name="Your activity")).to_be_visible()


def session_headers(context: BrowserContext) -> dict[str, str]:
    """The browser's ``session`` cookie (a JWT) as a Bearer header for the API."""
    jwt = next(c["value"] for c in context.cookies() if c["name"] == "session")
    return {"Authorization": f"Bearer {jwt}"}


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def workday(start: dt.datetime, session_id: str, scale: int) -> list[dict[str, Any]]:
    """A short editing session: typing and deleting in two files, saves, switches (some rapid)."""
    t = start
    events: list[dict[str, Any]] = []

    def at(seconds: int) -> str:
        return iso(t + dt.timedelta(seconds=seconds))

    lines = 40
    for i in range(3 * scale):
        lines += 3
        events.append(text_change(at(10 * i), session_id, "src/api.ts", lines, [(20 + i, 20 + i)], 60, 0))
    events.append(file_save(at(200), session_id, "src/api.ts", lines))
    for i, target in enumerate(["src/Header.tsx", "src/api.ts", "src/Header.tsx", "src/util.ts"]):
        events.append(editor_switch(at(210 + i), session_id, target, rapid=i > 1))
    header = 30
    for i in range(scale):
        header -= 2
        events.append(text_change(at(300 + 5 * i), session_id, "src/Header.tsx", header, [(5, 7)], 0, 80))
    events.append(file_save(at(400), session_id, "src/Header.tsx", header))
    return events


def exchange(server: WebServer, pairing_id: str) -> httpx.Response:
    """The extension's poll: a 429 (polled within a second of the last one) means poll again."""
    with server.api() as api:
        for _ in range(5):
            response = api.post(f"/auth/pairings/{pairing_id}/exchange")
            if response.status_code != 429:
                return response
            time.sleep(1.1)
    raise AssertionError("the exchange kept answering 429")


def run_etl(server: WebServer) -> None:
    """Admin ETL passes until one takes in nothing (the lone worker flushes its spool first)."""
    with server.api() as api:
        for _ in range(20):
            response = api.post("/metrics/etl/run", headers=server.admin_headers)
            assert response.status_code == 200, response.text
            if response.json()["processed_count"] == 0:
                return
    raise AssertionError("the ETL did not catch up")


def assert_dashboard_matches_api(page: Page, server: WebServer, headers: dict[str, str]) -> dict[str, Any]:
    """The totals (coding time too), top files and day-by-day table on the page equal the API's for
    the page's range, in the days of the same zone."""
    date_from = page.locator("#from").input_value()
    date_to = page.locator("#to").input_value()
    with server.api() as api:
        churn = api.get(f"/metrics/churn?from={date_from}&to={date_to}", headers=headers).json()
        switching = api.get(
            f"/metrics/context-switching?from={date_from}&to={date_to}&top_n=10", headers=headers
        ).json()
        coding = api.get(f"/metrics/coding-time?from={date_from}&to={date_to}", headers=headers).json()
    hours, minutes = divmod(int(coding["total_seconds"] // 60), 60)
    expect(page.locator("#coding-time")).to_have_text(
        f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
    )
    expect(page.locator("#range-label")).to_contain_text(f"({coding['time_zone']} days)")
    expect(page.locator("#lines-added")).to_have_text(f"{churn['total_lines_added']:,}")
    expect(page.locator("#lines-deleted")).to_have_text(f"{churn['total_lines_deleted']:,}")
    ratio = churn["ratio"]
    expect(page.locator("#churn-ratio")).to_have_text("—" if ratio is None else f"{ratio:.2f}")
    expect(page.locator("#switch-count")).to_have_text(f"{switching['switch_count']:,}")
    expect(page.locator("#rapid-switch-count")).to_have_text(f"{switching['rapid_switch_count']:,}")
    if switching["top_files"]:
        shown = page.locator("#top-files li").all_inner_texts()
        assert [re.sub(r"\s+", " ", row).strip() for row in shown] == [
            f"{item['path']} {item['count']:,}" for item in switching["top_files"]
        ]
    rows = page.locator("#daily-table tbody tr")
    expect(rows).to_have_count(len(churn["series"]))
    for index, (day, sw) in enumerate(zip(churn["series"], switching["series"], strict=True)):
        cells = [cell.strip() for cell in rows.nth(index).locator("th, td").all_text_contents()]  # folded
        ratio_text = "—" if day["ratio"] is None else f"{day['ratio']:.2f}"
        assert cells == [
            day["date"],
            f"{day['lines_added']:,}",
            f"{day['lines_deleted']:,}",
            ratio_text,
            f"{sw['switch_count']:,}",
            f"{sw['rapid_switch_count']:,}",
        ]
    return churn


def test_journey_1_register_token_telemetry_etl_dashboard(
    page: Page, context: BrowserContext, browser: Browser, web_server: WebServer, tmp_path: Path
) -> None:
    """Register → create an API token → telemetry through the API with it → the ETL → the dashboard
    shows the same totals as GET /metrics/churn and /context-switching, for three ranges."""
    page.goto(web_server.base_url + "/")
    expect(page.get_by_role("heading", name="See how you work, one day at a time")).to_be_visible()
    shot(page, tmp_path, "01-landing")
    page.get_by_role("link", name="Create an account").click()
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    shot(page, tmp_path, "02-register")
    sign_up(page, web_server, new_email("journey1"))
    expect(page.locator("#no-nudges")).to_be_visible()
    shot(page, tmp_path, "03-dashboard-empty")

    page.get_by_role("link", name="Settings").click()
    expect(page.locator("#no-tokens")).to_be_visible()
    page.get_by_label("Name").fill("journey laptop")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("heading", name="Token “journey laptop” created")).to_be_visible()
    token = page.locator("#new-token").input_value()
    assert token.startswith("dvf_")
    shot(page, tmp_path, "04-settings-token-created")
    page.goto(web_server.base_url + "/settings")
    expect(page.locator("#new-token")).to_have_count(0)  # shown once only
    row = page.locator("#token-table tbody tr").filter(has_text="journey laptop")
    expect(row).to_contain_text(token[:10] + "…")
    expect(row).to_contain_text("never")

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    events: list[dict[str, Any]] = []
    for days_ago, scale in ((4, 2), (2, 5), (0, 3)):
        start = now - dt.timedelta(days=days_ago, hours=1)
        events += workday(start, str(uuid.uuid4()), scale)
    with web_server.api() as api:
        bearer = {"Authorization": f"Bearer {token}"}
        response = api.post("/telemetry", json={"events": events}, headers=bearer)
        assert response.status_code == 202, response.text
        assert response.json()["accepted_count"] == len(events), response.text
    run_etl(web_server)

    headers = session_headers(context)
    page.goto(web_server.base_url + "/dashboard?range=7d")
    churn = assert_dashboard_matches_api(page, web_server, headers)
    assert churn["total_lines_added"] > 0 and churn["total_lines_deleted"] > 0  # real figures compared
    expect(page.locator("#lines-chart rect.bar.added")).to_have_count(3)
    shot(page, tmp_path, "05-dashboard-7d")

    page.get_by_role("link", name="30 days").click()
    expect(page.get_by_role("link", name="30 days")).to_have_attribute("aria-current", "true")
    assert_dashboard_matches_api(page, web_server, headers)

    page.get_by_label("From", exact=True).fill((now - dt.timedelta(days=3)).date().isoformat())
    page.get_by_label("To", exact=True).fill(now.date().isoformat())
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"range=custom"))
    custom = assert_dashboard_matches_api(page, web_server, headers)
    assert len(custom["series"]) == 4

    page.goto(web_server.base_url + "/settings")
    used = page.locator("#token-table tbody tr").filter(has_text="journey laptop")
    expect(used).not_to_contain_text("never")  # the telemetry request used it

    phone = browser.new_context(viewport=PHONE, storage_state=context.storage_state())
    try:
        small = phone.new_page()
        small.goto(web_server.base_url + "/dashboard?range=7d")
        assert_dashboard_matches_api(small, web_server, headers)
        width = small.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width}px)"
        shot(small, tmp_path, "06-dashboard-phone")
    finally:
        phone.close()


def test_journey_2_pairing_through_the_verification_uri(
    page: Page, context: BrowserContext, browser: Browser, web_server: WebServer, tmp_path: Path
) -> None:
    """A pairing from POST /auth/pairings → its verification_uri?code=… opened logged out → sign in
    → back on the approval page → Approve → the exchange returns a dvf_ token; a second approval
    says "already used". Checklist #131 in a browser."""
    email = new_email("journey2")
    with web_server.api() as api:
        assert api.post("/auth/register", json={"email": email, "password": PASSWORD}).status_code == 201
        created = api.post("/auth/pairings").json()
        assert created["verification_uri"] == f"http://localhost:{web_server.port}/extension/pair"
        pairing_id, code = created["pairing_id"], created["user_code"]
    assert exchange(web_server, pairing_id).json() == {"status": "pending"}

    link = f"{created['verification_uri']}?code={code.lower()}"  # the code as a link may spell it
    response = page.goto(link)
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", name="Sign in to connect your editor")).to_be_visible()
    expect(page.get_by_label("Pairing code")).to_have_text(code)
    shot(page, tmp_path, "01-pair-logged-out")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(re.compile(r"/extension/pair\?code=" + code))
    expect(page.get_by_role("heading", name="Connect this editor?")).to_be_visible()
    expect(page.locator("#pair-requester")).to_have_text("VS Code extension")
    expect(page.locator("#pair-code")).to_have_text(code)
    expect(page.locator("#pair-asked")).to_contain_text("UTC")
    shot(page, tmp_path, "02-pair-pending")

    second_tab = context.new_page()  # the same request, left open in another tab
    second_tab.goto(page.url)
    expect(second_tab.get_by_role("button", name="Approve")).to_be_visible()

    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("heading", name="Editor connected")).to_be_visible()
    shot(page, tmp_path, "03-pair-approved")
    exchanged = exchange(web_server, pairing_id).json()
    assert exchanged["status"] == "approved" and exchanged["token"].startswith("dvf_")
    with web_server.api() as api:
        me = api.get("/auth/me", headers={"Authorization": f"Bearer {exchanged['token']}"})
        assert me.status_code == 200 and me.json()["email"] == email

    second_tab.get_by_role("button", name="Approve").click()
    expect(second_tab.get_by_role("heading", name="Code already used")).to_be_visible()
    shot(second_tab, tmp_path, "04-pair-second-approval")
    page.reload()
    expect(page.get_by_role("heading", name="Code already used")).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)

    dark = browser.new_context(viewport=LAPTOP, color_scheme="dark", storage_state=context.storage_state())
    try:
        with web_server.api() as api:
            fresh = api.post("/auth/pairings").json()
        night = dark.new_page()
        night.goto(f"{fresh['verification_uri']}?code={fresh['user_code']}")
        expect(night.get_by_role("heading", name="Connect this editor?")).to_be_visible()
        background = night.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(17, 20, 24)", background  # the dark palette is in force
        shot(night, tmp_path, "05-pair-pending-dark")
        night.get_by_role("button", name="Deny").click()
        expect(night.get_by_role("heading", name="Request denied")).to_be_visible()
        denied = exchange(web_server, fresh["pairing_id"])
        assert denied.status_code == 410 and denied.json() == {"status": "expired"}
    finally:
        dark.close()


def test_journey_3_recommendation_answers_from_the_dashboard(
    page: Page, context: BrowserContext, web_server: WebServer, tmp_path: Path
) -> None:
    """Demo recommendations (after some telemetry, so there is a session) answered with Accept,
    Snooze and Dismiss on the dashboard; GET /recommendations shows each answer."""
    sign_up(page, web_server, new_email("journey3"))
    headers = session_headers(context)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with web_server.api() as api:
        events = workday(now - dt.timedelta(minutes=20), str(uuid.uuid4()), 1)
        assert api.post("/telemetry", json={"events": events}, headers=headers).status_code == 202
    for label, action in (("Accept", "accepted"), ("Snooze", "snoozed"), ("Dismiss", "dismissed")):
        with web_server.api() as api:
            triggered = api.post("/recommendations/trigger", json={"mode": "demo"}, headers=headers)
            assert triggered.status_code == 200, triggered.text
            rec_id = triggered.json()["recommendation_id"]
        page.goto(web_server.base_url + "/dashboard")
        item = page.locator(f"#recommendation-{rec_id}")
        expect(item).to_contain_text("heads-down")
        item.get_by_text("Why?").click()
        expect(item.locator(".evidence")).to_contain_text("duration minutes")
        expect(item.locator(".evidence")).to_contain_text("145")
        if action == "accepted":
            shot(page, tmp_path, "01-dashboard-recommendation")
        item.get_by_role("button", name=label).click()
        expect(page.locator(f"#recommendation-{rec_id} .answer")).to_have_text(f"You {action} this.")
        with web_server.api() as api:
            listed = api.get("/recommendations", headers=headers).json()["recommendations"]
        assert {r["id"]: r["user_action"] for r in listed}[rec_id] == action
    shot(page, tmp_path, "02-dashboard-answered")


def test_journey_4_revoked_token_is_refused(page: Page, web_server: WebServer, tmp_path: Path) -> None:
    """A token revoked in the settings gets 401 from the API."""
    sign_up(page, web_server, new_email("journey4"))
    page.goto(web_server.base_url + "/settings")
    page.get_by_label("Name").fill("to revoke")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").input_value()
    bearer = {"Authorization": f"Bearer {token}"}
    with web_server.api() as api:
        assert api.get("/auth/me", headers=bearer).status_code == 200
    page.get_by_role("button", name="Revoke to revoke").click()
    row = page.locator("#token-table tbody tr").filter(has_text="to revoke")
    expect(row).to_contain_text("revoked")
    expect(row.get_by_role("button", name="Revoke to revoke")).to_have_count(0)
    shot(page, tmp_path, "01-settings-revoked")
    with web_server.api() as api:
        refused = api.get("/auth/me", headers=bearer)
    assert refused.status_code == 401 and refused.json() == {"error": "Unauthorized"}


def test_journey_5_sign_out(page: Page, web_server: WebServer, tmp_path: Path) -> None:
    """Signing out ends the session: the dashboard then redirects to the sign-in page (where the
    keyboard alone signs back in); unknown pages are HTML error pages."""
    email = new_email("journey5")
    sign_up(page, web_server, email)
    page.get_by_role("button", name="Sign out").first.click()
    page.wait_for_url(re.compile(r"/login$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(web_server.base_url + "/dashboard")
    assert urlsplit(page.url).path == "/login"
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shot(page, tmp_path, "01-login")
    for _ in range(12):  # skip link, header links, then the form: Tab reaches every control
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "email":
            break
    else:
        raise AssertionError("Tab never reached the email field")
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/dashboard$"))
    expect(page.get_by_role("heading", name="Your activity")).to_be_visible()
    page.context.clear_cookies()
    missing = page.goto(web_server.base_url + "/no-such-page")
    assert missing is not None and missing.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    shot(page, tmp_path, "02-not-found")
    # The edge gate's own refusals (an empty path segment) follow the same rule as the app's errors.
    for path, content_type in (
        ("//evil.example", "text/html; charset=utf-8"),
        ("/api/v1//health", "application/json"),
    ):
        conn = http.client.HTTPConnection("127.0.0.1", web_server.port, timeout=10)
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        conn.close()
        assert response.status == 404 and response.getheader("content-type") == content_type, path
        assert (
            (b"Page not found" in body)
            if content_type.startswith("text/html")
            else body == b'{"error":"Not found"}'
        )
