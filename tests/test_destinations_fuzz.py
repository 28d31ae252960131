"""Generated vendor answers: every one is classified (delivered, retried or dead-lettered) without raising,
its error stays short, its Retry-After is a sane delay, and no secret is kept.

Derandomized like tests/test_collect_fuzz.py; LEADRELAY_FUZZ_EXAMPLES runs more, fresh examples.
"""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from leadrelay.config import Settings
from leadrelay.destinations import classify
from leadrelay.sandbox.credentials import DUB_KEY, PIMMS_KEY, RESHAPE_SCRIPT, RESHAPE_TOKEN
from leadrelay.sandbox.credentials import WEBHOOK_SECRET
from leadrelay.vendors import DESTINATIONS
from tests.support.fuzz import fuzz_settings

FUZZ = fuzz_settings(300)
SETTINGS = Settings(
    secret_key="fuzz-secret-key-of-32-or-more-characters",
    dub_api_key=DUB_KEY,
    pimms_api_key=PIMMS_KEY,
    reshape_base_url="http://reshape.test",
    reshape_script_id=RESHAPE_SCRIPT,
    reshape_access_token=RESHAPE_TOKEN,
    webhook_url="http://receiver.test/hooks",
    webhook_secret=WEBHOOK_SECRET,
)
SECRETS = [DUB_KEY, PIMMS_KEY, RESHAPE_TOKEN, WEBHOOK_SECRET, WEBHOOK_SECRET.removeprefix("whsec_")]  # echoed back in generated answers

texts = st.one_of(st.text(max_size=50), st.sampled_from(SECRETS), st.text(min_size=2000, max_size=3000))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), texts),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["error", "message", "code", "x"]), inner, max_size=4)),
    max_leaves=12,
)
bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda code, message: json.dumps({"error": {"code": code, "message": message}}).encode(),
        st.one_of(st.none(), texts),
        texts,
    ),
    st.binary(max_size=200),
)
retry_afters = st.one_of(
    st.none(),
    st.sampled_from(["0", "3", "120", "99999999999999999999", "-5", "1.5", "soon", "", "Wed, 21 Oct 2015 07:28:00 GMT"]),
    st.sampled_from(["Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 99 Foo 2020 25:61:61 +9999", "Thu, 01 Jan 1970 00:00:00 -2400"]),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
)


@FUZZ
@given(
    name=st.sampled_from(sorted(DESTINATIONS)),
    status=st.one_of(st.sampled_from([200, 201, 204, 301, 400, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503]), st.integers(100, 599)),
    body=bodies,
    retry_after=retry_afters,
)
def test_any_vendor_answer_is_classified_with_a_short_error_and_no_secret(
    name: str, status: int, body: bytes, retry_after: str | None
) -> None:
    destination = DESTINATIONS[name](SETTINGS)
    headers = {"Content-Type": "application/json"}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    outcome = classify(destination, httpx.Response(status, headers=headers, content=body), now=1_700_000_000.0)

    expected = "delivered" if 200 <= status < 300 else "retry" if status in (408, 429) or status >= 500 else "dead"
    assert outcome.verdict == expected
    assert outcome.retry_after is None or (math.isfinite(outcome.retry_after) and outcome.retry_after >= 0)
    assert outcome.error is None or len(outcome.error) <= 600
    kept: Any = json.dumps(outcome.response) + (outcome.error or "")
    assert not any(secret in kept for secret in destination.secrets())  # a vendor can only echo its own key
