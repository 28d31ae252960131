"""The pytest plugin (leadrelay.sandbox.plugin), run by pytester on sample test files as a site's suite would run it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXAMPLE_SITE = Path(__file__).resolve().parents[1] / "examples" / "site"

WITHOUT_A_BROWSER = '''
import json, httpx, pytest
from leadrelay.sandbox.client import drop, error

def sign_up(leadrelay, click, n=1, value=100):
    with httpx.Client(base_url=leadrelay.url) as visitor:
        assert visitor.get("/lr/c", params={"dub_id": click}).status_code == 204
        event = {"id": f"evt-{click}-{n}", "dialect": "croct", "type": "leadGenerated",
                 "payload": {"leadId": f"L-{n}", "currency": "USD", "value": value, "lead": {"email": "carol@example.com"}}}
        return visitor.post("/lr/e", content=json.dumps({"events": [event]}), headers={"Content-Type": "text/plain"})

def test_a_lead_reaches_dub(leadrelay):
    assert sign_up(leadrelay, "clk_a").status_code == 200
    lead = leadrelay.wait_for("dub", clickId="clk_a")
    assert lead["body"]["customerEmail"] == "carol@example.com"
    assert [e["id"] for e in leadrelay.events()] == ["evt-clk_a-1"]
    assert leadrelay.accepted("dub") == [lead["body"]]

def test_each_test_starts_from_a_reset_sandbox(leadrelay):
    assert leadrelay.received("dub") == [] and leadrelay.events() == []

def test_faults_then_the_vendor_answers(leadrelay):
    leadrelay.fault("dub", 503, error(429, retry_after=0.2), drop())
    sign_up(leadrelay, "clk_b")
    leadrelay.wait_for("dub", clickId="clk_b")
    assert [r["status"] for r in leadrelay.received("dub")] == [503, 429, None, 200]

def test_an_outage(leadrelay):
    leadrelay.fault("reshape", outage=error(500))
    sign_up(leadrelay, "clk_c")
    refused = leadrelay.wait_for("reshape", accepted=False, event={"id": "L-1"})
    assert refused["status"] == 500 and refused["fault"] == {"kind": "error", "status": 500, "retry_after": None}
    leadrelay.fault("reshape", outage=None)
    leadrelay.wait_for("reshape", event={"id": "L-1"})

def test_rejections(leadrelay):
    assert sign_up(leadrelay, "clk_d", value="a lot").status_code == 422
    [rejection] = leadrelay.rejections()
    assert rejection["errors"][0]["path"] == "value"

def test_script_tag(leadrelay):
    assert f'<script async src="{leadrelay.url}/lr/s.js"></script>' in leadrelay.script_tag
    assert "croct" in leadrelay.script_tag  # the stub

def test_a_bad_fault_is_refused_in_the_sandbox_words(leadrelay):
    with pytest.raises(AssertionError, match="script.0.error.status"):
        leadrelay.fault("dub", 200)

def test_what_was_never_delivered_fails_saying_what_was(leadrelay):
    sign_up(leadrelay, "clk_e")
    leadrelay.wait_for("dub", clickId="clk_e")
    leadrelay.wait_for("dub", timeout_s=0.5, clickId="clk_never")
'''


def test_the_plugins_fixtures_against_a_sandbox(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sample=WITHOUT_A_BROWSER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=300)
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: dub received no request matching {'clickId': 'clk_never'} that it accepted",
            "*it received 1 request(s) in all:",
            "*200 {'clickId': 'clk_e'*",
        ]
    )


@pytest.mark.browser
def test_the_example_site_and_its_test_run_as_a_user_copies_them(pytester: pytest.Pytester) -> None:
    """examples/site/: the sign-up page and its pytest-playwright test, in Chromium found as the project's tests find it."""
    for name in ("index.html", "test_signup.py"):
        shutil.copy(EXAMPLE_SITE / name, pytester.path / name)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "test_signup.py", timeout=300)
    result.assert_outcomes(passed=2)


@pytest.mark.browser
def test_chromium_is_the_one_leadrelay_chromium_names(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADRELAY_CHROMIUM", "/nonexistent/chromium-from-leadrelay-chromium")
    pytester.makepyfile(test_page="def test_page(page):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=300)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*/nonexistent/chromium-from-leadrelay-chromium*"])


def test_a_suite_that_asks_for_no_fixture_is_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plain='''
import sys

def test_nothing_of_leadrelay_was_started_or_imported():
    assert "leadrelay.app" not in sys.modules and "leadrelay.sandbox.live" not in sys.modules
'''
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "--setup-show", timeout=300)
    result.assert_outcomes(passed=1)
    assert "leadrelay" not in result.stdout.str().replace("test_nothing_of_leadrelay_was_started_or_imported", "")
    fixtures = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--fixtures", timeout=300)
    fixtures.stdout.fnmatch_lines(["*leadrelay_server [[]session scope[]] -- *", "leadrelay -- *"])
