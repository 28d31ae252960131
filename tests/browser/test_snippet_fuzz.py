"""Generated payloads through the snippet in Chromium: every croct.track promise settles, as a processed event
or as an Error carrying field errors, every reshape.push returns quietly, and the page never throws."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from playwright.sync_api import Page

from tests.browser.snippet_site import Site, loaded, page_html
from tests.support.fuzz import fuzz_settings

keys = st.sampled_from(["leadId", "currency", "value", "lead", "firstName", "email", "address", "city", "custom", "x"])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["USD", "carol@croct.com", "https://croct.com", "2000-02-30", "🐊" * 60]),
)
values = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=15
)
payloads = st.dictionaries(keys, values, max_size=5)

CATCH = """window.thrown = [];
addEventListener('error', (e) => thrown.push(String(e.message)));
addEventListener('unhandledrejection', (e) => thrown.push(String(e.reason)));"""

SETTLE = """async (payload) => {
    window.reshape.push(payload);  // a Reshape push of the same object: returns at once, whatever it holds
    try {
        return {resolved: await croct.track('leadGenerated', payload)};
    } catch (error) {
        return {rejected: error.message, errors: error.errors};
    }
}"""


@fuzz_settings(60)
@given(payload=payloads)
def test_every_generated_call_settles_with_a_result_or_field_errors(
    page: Page, site: Site, payload: dict[str, Any]
) -> None:
    if not page.url.startswith("http"):  # the first example: one page serves them all
        page.add_init_script(CATCH)
        page.goto(site.add("fuzz", page_html()))
        loaded(page)
    outcome = page.evaluate(SETTLE, payload)
    assert page.evaluate("window.thrown") == []
    if "resolved" in outcome:
        assert isinstance(outcome["resolved"], dict)
        sent = json.loads(json.dumps(payload))
        assert outcome["resolved"].get("leadId") == sent.get("leadId")
    else:
        assert outcome["rejected"].startswith("Invalid event payload: ")
        assert outcome["errors"] and all(e["path"] and e["message"] and e["rule"] for e in outcome["errors"])
