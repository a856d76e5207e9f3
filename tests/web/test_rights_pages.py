"""The settings page's data-rights sections (issue 16) in Chromium against a real ``devflow serve``:
time zone, data export download, and account deletion (with its confirmation and CSRF-protected
form); what each did is checked through the JSON API."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import PASSWORD, WebServer
from tests.web.test_journeys import assert_dashboard_matches_api, new_email, session_headers, shot, sign_up

pytestmark = pytest.mark.slow


def test_time_zone_export_and_delete_from_the_settings_page(
    page: Page, web_server: WebServer, tmp_path: Path
) -> None:
    email = new_email("rights")
    sign_up(page, web_server, email)
    headers = session_headers(page.context)
    page.goto(web_server.base_url + "/settings")

    # Time zone: an unknown name is refused on the page, a real one is stored.
    page.get_by_label("IANA time zone").fill("Mars/Olympus")
    page.get_by_role("button", name="Save time zone").click()
    expect(page.locator("#time-zone-error")).to_be_visible()
    page.get_by_label("IANA time zone").fill("Europe/Paris")
    page.get_by_role("button", name="Save time zone").click()
    expect(page.locator("#zone-saved")).to_have_text("Time zone saved.")
    expect(page.get_by_label("IANA time zone")).to_have_value("Europe/Paris")
    with web_server.api() as api:
        assert api.get("/me/settings", headers=headers).json()["time_zone"] == "Europe/Paris"
    shot(page, tmp_path, "01-settings-time-zone")
    # The dashboard's days are now the stored zone's, as the API's without ``tz``.
    page.goto(web_server.base_url + "/dashboard?range=7d")
    expect(page.locator("#range-label")).to_contain_text("(Europe/Paris days)")
    assert_dashboard_matches_api(page, web_server, headers)
    page.goto(web_server.base_url + "/settings")

    # Export: the link downloads the ZIP of the account.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download my data").click()
    archive_path = tmp_path / "export.zip"
    download_info.value.save_as(archive_path)
    with zipfile.ZipFile(archive_path) as archive:
        account = json.loads(archive.read("account.json"))
    assert account["email"] == email and account["time_zone"] == "Europe/Paris"

    # Deletion: the wrong confirmation and the wrong password change nothing.
    page.get_by_label("To confirm, type").fill("someone-else")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#delete-error")).to_contain_text("To confirm")
    username = page.locator("#account-username").inner_text()
    page.get_by_label("To confirm, type").fill(username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#delete-error")).to_contain_text("password")
    with web_server.api() as api:
        assert api.get("/auth/me", headers=headers).status_code == 200
    shot(page, tmp_path, "02-settings-delete-refused")
    page.get_by_label("To confirm, type").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    page.wait_for_url(re.compile(r"/login\?deleted=1$"))
    assert not [c for c in page.context.cookies() if c["name"] == "session" and c["value"]]
    with web_server.api() as api:
        assert api.get("/auth/me", headers=headers).status_code in (401, 404)
        response = api.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert response.status_code == 401


def test_delete_form_without_csrf_token_is_refused(page: Page, web_server: WebServer) -> None:
    """The delete form is behind the pages' CSRF middleware like the others."""
    sign_up(page, web_server, new_email("rights-csrf"))
    headers = session_headers(page.context)
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
    response = page.request.post(
        web_server.base_url + "/settings/delete",
        form={"confirm": "x", "password": PASSWORD},
        headers={"Cookie": cookie},
    )
    assert response.status == 403
    with web_server.api() as api:
        assert api.get("/auth/me", headers=headers).status_code == 200
