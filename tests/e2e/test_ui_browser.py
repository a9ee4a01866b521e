"""The auditor UI in a real headless Chromium, against a real ``ledger serve``.

Screenshots of every page land in ``test-artifacts/screenshots/`` for a person to look at.
Chromium is Debian's (``apt-get install chromium``; ``.ci/run`` installs it): the test
fails, never skips, when it is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.idenfy import encode, result_body, signed_headers
from tests.support.process import Launcher, RunningService
from tests.support.settings import API_TOKENS, SIGNING_KEYS, environment
from tests.support.webhooks import deliver

pytestmark = pytest.mark.process

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
SCAN_REF = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
HOSTILE_REF = "b1f2c3d4-0000-4000-8000-00000000beef"
CLIENT_ID = "user-4b21"
HOSTILE_CLIENT = "client-<b>bold</b>"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[RunningService]:
    """``ledger serve`` on SQLite, with its projection workers."""
    launcher = Launcher(tmp_path)
    try:
        yield launcher.start(environment(f"sqlite:///{tmp_path / 'ledger.sqlite3'}"))
    finally:
        for started in launcher.started:
            started.stop()
        launcher.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, in a fresh profile of Playwright's making."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"the browser test needs Chromium at {CHROMIUM}: run `apt-get install -y chromium`"
            " (.ci/run does); Playwright's own browser downloads are not used"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def record_deliveries(url: str) -> None:
    """A registration, a preliminary result, the manual one, and a late redelivery."""
    backend = {"Authorization": f"Bearer {API_TOKENS['backend']}"}
    with httpx.Client(base_url=url, timeout=10) as http:
        registered = http.post(
            "/verifications",
            json={"scanRef": SCAN_REF, "clientId": CLIENT_ID, "externalRef": "onb-77"},
            headers=backend,
        )
        assert registered.status_code == 201, registered.text
        common: dict[str, Any] = {"client_id": CLIENT_ID, "finish_time": 1718787742}
        deliver(
            http, "auto-finished", result_body(SCAN_REF, final=False, overall="SUSPECTED", **common)
        )
        deliver(
            http, "manual-finished", result_body(SCAN_REF, final=True, overall="APPROVED", **common)
        )
        # iDenfy redelivers the preliminary result (new file links) after the manual one.
        deliver(
            http,
            "auto-finished",
            result_body(
                SCAN_REF,
                final=False,
                overall="SUSPECTED",
                **common,
                fileUrls={"FRONT": "https://files.example/FRONT.png?sig=2"},
            ),
        )
        last = deliver(
            http,
            "auto-finished",
            result_body(
                HOSTILE_REF,
                client_id=HOSTILE_CLIENT,
                data={"docFirstName": "</script><script>alert(1)</script>"},
            ),
        )
        caught_up = http.get(f"/verifications/{HOSTILE_REF}?minPosition={last}", headers=backend)
        assert caught_up.status_code == 200, caught_up.text  # fmt: skip


def record_products(url: str) -> None:
    """An AML monitoring with an open alert naming ``SCAN_REF``, and a company's webhook."""
    backend = {"Authorization": f"Bearer {API_TOKENS['backend']}"}
    monitoring = {
        "monitoringId": "mon-77",
        "scanRefList": [SCAN_REF],
        "status": "ACTIVE",
        "alertStatus": "ALERT",
        "sanctionsStatus": "SUSPECTED",
        "results": [],
    }
    company = {"companyId": "co-77", "status": "REQUESTED", "token": "t-77"}
    with httpx.Client(base_url=url, timeout=10) as http:
        for body, event_type in ((monitoring, "AML_MONITORING"), (company, "COMPANY_INFO_REQUEST")):
            raw = encode(body)
            answer = http.post(
                "/webhooks/idenfy",
                content=raw,
                headers=signed_headers(raw, SIGNING_KEYS[0], event_type),
            )
            assert answer.status_code == 200, answer.text
            last = answer.json()["position"]
        caught_up = http.get(f"/companies/co-77?minPosition={last}", headers=backend)
        assert caught_up.status_code == 200, caught_up.text  # fmt: skip


def shoot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_an_auditor_signs_in_and_reads_a_verification_in_a_real_browser(
    service: RunningService, browser: Browser
) -> None:
    record_deliveries(service.url)
    record_products(service.url)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    # Script errors, CSP violations and failed sub-resources; refused pages are expected.
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and r.request.resource_type != "document"
            else None
        ),
    )

    # Not signed in: the sign-in page, which refuses a backend key.
    page.goto(f"{service.url}/ui/recent")
    expect(page).to_have_url(f"{service.url}/ui/login?next=/ui/recent")
    page.fill("#token", API_TOKENS["backend"])
    page.click("button:has-text('Sign in')")
    expect(page.get_by_role("alert")).to_contain_text("A backend key cannot sign in")
    shoot(page, "01-login-refused")
    page.fill("#token", API_TOKENS["auditor"])
    page.click("button:has-text('Sign in')")
    expect(page).to_have_url(f"{service.url}/ui/recent")

    # Search by scanRef: the verification page.
    page.fill("input[name=q]", SCAN_REF)
    page.press("input[name=q]", "Enter")
    expect(page).to_have_url(f"{service.url}/ui/verifications/{SCAN_REF}")
    expect(page.locator(".summary")).to_contain_text("APPROVED")
    expect(page.locator(".chain")).to_contain_text("Hash chain valid")
    expect(page.locator(".timeline > .entry")).to_have_count(4)
    expect(page.locator(".entry.outcome-registered")).to_have_count(1)
    expect(page.locator(".entry.outcome-preliminary")).to_have_count(2)
    expect(page.locator(".entry.outcome-manual.in-force")).to_contain_text("final: manual review")
    late = page.locator(".entry.late")
    expect(late).to_have_count(1)
    expect(late).to_contain_text("late arrival")
    expect(late).to_contain_text("redelivery")
    expect(late).to_contain_text("superseded by #3")
    shoot(page, "02-verification")

    # The payload of the late redelivery, on demand.
    page.click("text=Show payload #4")
    expect(page.locator("pre.payload")).to_contain_text("FRONT.png?sig=2")
    expect(page.locator(".summary")).to_contain_text("matches the recorded digest")
    shoot(page, "03-payload")

    # Recently received: newest first, the hostile clientId shown as text.
    page.click("nav >> text=Recently received")
    rows = page.locator("table.list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(HOSTILE_REF)
    expect(rows.nth(0)).to_contain_text(HOSTILE_CLIENT)
    expect(page.locator("table.list b")).to_have_count(0)
    expect(rows.nth(1)).to_contain_text(SCAN_REF)
    shoot(page, "04-recent")

    # The hostile verification's payload stays text: no script runs, nothing is injected.
    page.click(f"text={HOSTILE_REF}")
    page.click("text=Show payload #1")
    expect(page.locator("pre.payload")).to_contain_text("</script><script>alert(1)</script>")
    expect(page.locator("script")).to_have_count(0)

    # Search by clientId: that client's verifications.
    page.fill("input[name=q]", CLIENT_ID)
    page.press("input[name=q]", "Enter")
    expect(page.locator("table.list tbody tr")).to_have_count(1)
    expect(page.locator(".totals")).to_contain_text("1 verifications: 1 approved")
    shoot(page, "05-client")

    # AML alerts: the open alert, its monitoring's state and history, the verification it
    # names linking back to it; and the companies.
    page.click("nav >> text=AML alerts")
    expect(page.locator("table.list tbody tr")).to_have_count(1)
    page.click("text=mon-77")
    expect(page.locator(".summary")).to_contain_text("SUSPECTED")
    expect(page.locator(".chain")).to_contain_text("Hash chain valid")
    expect(page.locator(".timeline > .entry.outcome-aml-monitoring")).to_have_count(1)
    shoot(page, "06-aml-monitoring")
    page.click(f".summary >> text={SCAN_REF}")
    expect(page.locator(".aml-link")).to_contain_text("ALERT")
    page.click(".aml-link >> text=mon-77")
    expect(page).to_have_url(f"{service.url}/ui/aml/mon-77")
    page.click("nav >> text=Companies")
    page.click("text=co-77")
    expect(page.locator(".summary")).to_contain_text("COMPANY_INFO_REQUEST")
    shoot(page, "07-company")

    # The printable report, as it prints: no navigation, every hash, who and when.
    page.goto(f"{service.url}/ui/verifications/{SCAN_REF}")
    page.click("text=Printable audit report")
    expect(page.locator(".report-head")).to_contain_text("by auditor:")
    expect(page.locator(".report-timeline tbody")).to_have_count(4)
    page.emulate_media(media="print")
    for navigation in page.locator(".no-print").all():
        expect(navigation).to_be_hidden()
    expect(page.locator(".topbar")).to_have_count(0)
    shoot(page, "08-report-print")
    page.pdf(path=str(SCREENSHOTS / "08-report.pdf"))
    page.emulate_media(media="screen")

    # Signing out ends the session.
    page.goto(f"{service.url}/ui/recent")
    page.click("button:has-text('Sign out')")
    expect(page).to_have_url(f"{service.url}/ui/login")
    page.goto(f"{service.url}/ui/recent")
    expect(page).to_have_url(f"{service.url}/ui/login?next=/ui/recent")

    assert problems == []
