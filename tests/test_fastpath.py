"""The fast path (leadrelay.fastpath) changes nothing a client or an operator can see.

Two apps judge the same requests: one as shipped, one with the fast path off. Every
answer and every stored event must be the same, for generated croct beacons near
every rule's boundary (lengths counted in UTF-16 units, astral characters, dates,
URLs, numbers, custom attributes) and for JSON at the edges of the grammar.
The fast path must also be taken: otherwise these tests would prove nothing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Iterator

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from itsdangerous import Signer
from starlette.testclient import TestClient

from leadrelay.app import create_app
from leadrelay.config import Settings
from leadrelay.dialects import croct
from leadrelay.dialects.common import real_date, url
from leadrelay.event import LeadEvent
from leadrelay.fastpath import FastPath, escapes_a_surrogate
from tests.support.fuzz import UNLIMITED, fuzz_settings
from tests.support.payloads import CROCT_LEAD_GENERATED, get_path, paths, set_path
from tests.support.rules import Rules, rules

ENDPOINT = "/lr/e"
FUZZ = fuzz_settings(200)

GOOD = CROCT_LEAD_GENERATED


PATHS = paths(GOOD)

# Each character's JavaScript length: 1, 1, 1, 2 (an astral character is a surrogate pair in UTF-16).
CHARACTERS = ["a", "é", "中", "🐊"]
BOUNDARIES = [0, 1, 2, 9, 10, 11, 19, 20, 21, 29, 30, 31, 49, 50, 51, 99, 100, 101, 199, 200, 201, 254, 255, 500, 501]


@st.composite
def near_a_limit(draw: st.DrawFn, characters: list[str] = CHARACTERS) -> str:
    """A string whose JavaScript length is at, under or over one of the rules' limits."""
    units = draw(st.sampled_from(BOUNDARIES))
    text = ""
    while len(text.encode("utf-16-le")) // 2 < units:
        text += draw(st.sampled_from(characters))
    return text


TEXTS = st.one_of(
    near_a_limit(),
    st.sampled_from(
        [
            "2000-02-29", "2001-02-29", "2000-13-01", "2000-1-01", "２０００-01-01", "2000-01-01\n",
            "https://croct.com/x", "croct.com", "http://", "https://exa mple.com", "https://[::1]:80/x",
            "https://host:99999", "male", "neutral", "Female", "a-b", "_x", "9a", "x" * 20, "x" * 21,
            "a\udfffb", "a\x00b", "a\x1fb", "\u2028",
        ]
    ),  # fmt: skip
    st.text(max_size=12),
)
NUMBERS = st.sampled_from([0, -0.0, -1, 0.5, 1.5, 100, 2**53, 2**53 + 1, 2**64, 10**400, 1e308, 1e-320, float("inf"), float("nan")])
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXTS)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXTS, inner, max_size=4)),
    max_leaves=12,
)


PLAUSIBLE = [
    "2024-02-29", "2023-02-29", "https://croct.com/a?b=c", "croct.com", "male", "x", "café", "https://a.b:8080/x",
    "https://a.b:99999/x", "https://例え.jp/", "HTTPS://CROCT.COM", "ftp://x.y/z", "https://x/a b", "https://[::1]/",
    "https://./", "http://a.b#frag\\", "https://a.b/\u00e9",
]  # fmt: skip


def likely_like(value: Any) -> st.SearchStrategy[Any]:
    """Values of `value`'s own type, near the limits: many beacons stay valid and go the fast way."""
    if isinstance(value, str):
        return st.one_of(near_a_limit(CHARACTERS[:3]), st.sampled_from(PLAUSIBLE))
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int | float):
        return st.sampled_from([0, 1, 2.5, 10**30, 1e308, -1])
    if isinstance(value, list):
        return st.lists(st.sampled_from([1, "a", None, 0.5, "b" * 101]), max_size=31)
    return st.dictionaries(near_a_limit(CHARACTERS[:3]), st.sampled_from([1, "a", None, [1], {"k": 2}]), max_size=3)


RARELY = st.sampled_from([False] * 7 + [True])  # Hypothesis leans to the first choice: integers(0, 7) == 0 is no rarity


@st.composite
def croct_beacons(draw: st.DrawFn, likely: bool = False) -> dict[str, Any]:
    """A croct beacon with a few properties changed: to anything, or (`likely`) to values of their own type."""
    payload = json.loads(json.dumps(GOOD))
    for _ in range(draw(st.sampled_from([0, 1, 1, 2, 3]))):
        path = draw(st.sampled_from(PATHS))
        if draw(RARELY):  # a property Croct does not list, or a custom attribute of any name
            path = draw(st.sampled_from([("lead",), ("lead", "custom"), ()])) + (draw(TEXTS),)
        if draw(RARELY):
            target = get_path(payload, path[:-1])
            if isinstance(target, dict):
                target.pop(path[-1], None)  # left out: every property is optional
                continue
        original = get_path(GOOD, path)
        set_path(payload, path, draw(likely_like(original) if likely and original is not None else VALUES))
    beacon: dict[str, Any] = {"id": f"fp-{uuid.uuid4().hex}", "dialect": "croct", "type": "leadGenerated", "payload": payload}
    if draw(st.booleans()):
        beacon["context"] = {"url": "https://www.example.com/signup", "referrer": draw(st.one_of(st.none(), likely_like("") if likely else TEXTS))}
    if draw(st.booleans()):
        beacon["click_ids"] = {"dub": draw(st.one_of(st.just("dubclick1"), TEXTS)), "pimms": None}
    if draw(RARELY):
        key = draw(st.sampled_from(["id", "type", "ts", "context", "click_ids", "extra"]))
        beacon[key] = draw(st.one_of(st.sampled_from([1, 1.0, "1", -1, True, None, "leadGenerated", "a" * 101]), VALUES))
    return beacon


@dataclass
class Apps:
    """The app as shipped and the same app with the fast path off, each on its own database,
    and the cookie of one returning visitor, so that their stored events compare whole."""

    fast: TestClient
    exact: TestClient
    cookie: str

    @property
    def fast_path(self) -> FastPath:
        return self.fast.app.state.service.collector.fast  # type: ignore[attr-defined,no-any-return]


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apps]:
    clients = []
    for name in ("fast", "exact"):
        url = f"sqlite:///{tmp_path_factory.mktemp(name) / 'db.sqlite'}"
        settings = Settings(database_url=url, secret_key="fastpath-secret-key-of-32-or-more-characters", worker=False, demo=False, dub_api_key="dub_x", **UNLIMITED)
        clients.append(TestClient(create_app(settings), base_url="http://testserver"))
    visitor = Signer(settings.signing_key, salt="leadrelay.visitor").sign("returning-visitor").decode()
    with clients[0] as fast, clients[1] as exact:
        exact.app.state.service.collector.fast = FastPath({}, 50)  # type: ignore[attr-defined]
        yield Apps(fast, exact, f"lr_vid={visitor}")


def _stored(client: TestClient, event_id: str) -> tuple[LeadEvent, list[str]] | None:
    store = client.app.state.service.store  # type: ignore[attr-defined]
    stored = store.get_event(event_id)
    if stored is None:
        return None
    stored.received_at = 0.0
    return stored, [delivery.destination for delivery in store.list_deliveries(event_id=event_id)]


def same_everywhere(apps: Apps, body: bytes) -> Any:
    """Post `body` to both apps; assert that they answer and store alike; the answer."""
    headers = {"Content-Type": "text/plain", "Cookie": apps.cookie}
    fast, exact = (client.post(ENDPOINT, content=body, headers=headers) for client in (apps.fast, apps.exact))
    assert (fast.status_code, fast.json()) == (exact.status_code, exact.json()), body
    if fast.status_code in (200, 422):
        for result in fast.json()["results"]:
            if result["status"] == "accepted":
                assert _stored(apps.fast, result["id"]) == _stored(apps.exact, result["id"]), body
    return fast


def taken(apps: Apps, body: bytes) -> bool:
    """Whether the fast path takes `body`."""
    try:
        document = json.loads(body)
    except ValueError:
        return False
    return apps.fast_path.takes(document, body, escapes_a_surrogate(body))


def _encode(batch: list[dict[str, Any]], ascii_only: bool) -> bytes:
    # allow_nan: Python writes NaN and Infinity as a careless client would; surrogatepass: lone surrogates as bytes.
    return json.dumps({"events": batch}, ensure_ascii=ascii_only, allow_nan=True).encode("utf-8", "surrogatepass")


@FUZZ
@given(
    batch=st.one_of(*(st.lists(croct_beacons(likely), min_size=1, max_size=3) for likely in (True, False))),
    ascii_only=st.booleans(),
)
def test_generated_croct_beacons_get_the_same_answer_and_rows_either_way(
    apps: Apps, batch: list[dict[str, Any]], ascii_only: bool
) -> None:
    body = _encode(batch, ascii_only)
    fast = taken(apps, body)
    event("fast path" if fast else "exact path")  # --hypothesis-show-statistics
    answer = same_everywhere(apps, body)
    if fast:  # duplicate: an id some other example already took (a generated id such as "1")
        assert all(result["status"] in ("accepted", "duplicate") for result in answer.json()["results"])


def _beacon(payload: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"fp-{uuid.uuid4().hex}", "dialect": "croct", "type": "leadGenerated", "payload": payload}


def test_valid_beacons_take_the_fast_path(apps: Apps) -> None:
    """Else the property above compares the exact path with itself."""
    snippet_payload = {"userId": "1ed2fd65-a027-4f3a-a35f-c6dd97537392"}  # the seed's croct.track example
    for payload in (GOOD, snippet_payload, {}):
        for ascii_only in (True, False):
            body = _encode([_beacon(payload)], ascii_only)
            assert taken(apps, body)
            assert same_everywhere(apps, body).json()["results"][0]["status"] == "accepted"
    accented = _encode([_beacon({"lead": {"firstName": "José", "address": {"city": "Zürich"}}})], ascii_only=False)
    assert taken(apps, accented)


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"lead": {"firstName": "🐊" * 26}}, "lead.firstName"),  # 26 code points, 52 UTF-16 units: over 50
        ({"lead": {"custom": {"a": "🐊" * 51}}}, "lead.custom.a"),
        ({"lead": {"custom": {"a": {"🐊" * 26: 1}}}}, "lead.custom.a." + "🐊" * 26),
    ],
)
def test_astral_characters_are_counted_as_javascript_counts_them(
    apps: Apps, payload: dict[str, Any], path: str
) -> None:
    for ascii_only in (True, False):
        body = _encode([_beacon(payload)], ascii_only)
        assert not taken(apps, body)
        [result] = same_everywhere(apps, body).json()["results"]
        assert result["status"] == "rejected"
        assert [error["path"] for error in result["errors"]] == [path]


BEACON = '{"id":"ID","dialect":"croct","type":"leadGenerated","payload":PAYLOAD}'


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ('{"leadId":"a","leadId":"b"}', 200),  # a repeated key: the last one counts
        ('{"leadId":5,"leadId":"b"}', 200),
        ('{"leadId":"b","leadId":5}', 422),
        ('{"leadId":"a\x01b"}', 400),  # a raw control character: not JSON
        ('{"leadId":"a",}', 400),
        ('{"value":NaN}', 400),
        ('{"value":Infinity}', 400),
        ('{"value":1e999}', 422),
        ('{"value":-0}', 200),
        ('{"value":0.1e1}', 200),
        ('{"value":01}', 400),
        ('{"value":9007199254740993}', 200),
        ('{"leadId":"\\u00e9\\u4e2d"}', 200),
        ('{"leadId":"\\ud83d\\udc0a"}', 200),
        ('{"leadId":"\\ud83d"}', 422),
        ('{"leadId":"\\/"}', 200),
    ],
)
def test_json_at_the_edges_gets_one_answer(
    apps: Apps, payload: str, status: int
) -> None:
    body = ('{"events":[' + BEACON.replace("ID", f"fp-{uuid.uuid4().hex}").replace("PAYLOAD", payload) + "]}").encode()
    assert same_everywhere(apps, body).status_code == status


def test_a_bom_or_other_encodings_get_one_answer(apps: Apps) -> None:
    text = json.dumps({"events": [_beacon({"leadId": "x"})]})
    for body in (b"\xef\xbb\xbf" + text.encode(), text.encode("utf-16"), text.encode() + b" \n", b" " + text.encode()):
        same_everywhere(apps, body)


# -- The checked schema states the exact rules ---------------------------------------------

FORMATS: dict[object, str] = {
    url: "url",
    croct.CHECKED_URL: "url",
    real_date: "date",
    croct.REAL_DAY: "date",
    f"^{croct.ATTRIBUTE_NAME.pattern}$": "attribute name",
}
"""Each format check of either side, by what it checks (the checked patterns are stricter: what they
refuse goes the exact way)."""


def custom_attribute_rules(path: str) -> Rules:
    """Croct's custom attribute rules as croct.custom_attribute_errors checks them, in code the walk cannot read."""
    primitive: dict[str, Any] = {
        "null": {},
        "bool": {},
        "number": {"ge": None, "le": None, "finite": True},
        "str": {"min_length": 0, "max_length": croct.MAX_STRING, "formats": frozenset()},
    }
    out: Rules = {
        path: {"map": {"max_length": croct.MAX_ATTRIBUTES}},
        path + "{}": {"str": {"min_length": 0, "max_length": croct.MAX_ATTRIBUTE_NAME, "formats": frozenset({"attribute name"})}},
    }

    def value(at: str, depth: int) -> None:  # croct._value_errors
        out[at] = dict(primitive)
        if depth:
            out[at] |= {"list": {"max_length": croct.MAX_COLLECTION}, "map": {"max_length": croct.MAX_COLLECTION}}
            out[at + "{}"] = {"str": {"min_length": 0, "max_length": croct.MAX_MAP_KEY, "formats": frozenset()}}
            value(at + "[]", depth - 1)
            value(at + ".*", depth - 1)

    value(path + ".*", depth=2)
    return out


def test_the_checked_schema_states_the_exact_rules() -> None:
    """Every property, length bound, format, choice and numeric bound of the croct models is in the
    fast path's TypedDicts and the other way round, so the twins cannot drift apart."""
    exact = rules(croct.LeadGenerated, FORMATS, given={"lead.custom": custom_attribute_rules("lead.custom")})
    checked = rules(croct.CheckedLeadGenerated, FORMATS)
    differences = [
        (path, exact.get(path), checked.get(path))
        for path in sorted(exact.keys() | checked.keys())
        if exact.get(path) != checked.get(path)
    ]
    assert differences == []
    # The walk saw the rules, not nothing on both sides.
    assert checked["lead.address.postalCode"] == {"str": {"min_length": 1, "max_length": 20, "formats": frozenset()}}
    assert checked["value"] == {"number": {"ge": 0, "le": None, "finite": True}}
    assert checked["lead.gender"] == {"literal": {"choices": frozenset({"male", "female", "neutral", "unknown"})}}
