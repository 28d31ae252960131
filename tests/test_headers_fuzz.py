"""Generated headers and query strings: `/lr/e` and `/lr/c` always answer, never with a 5xx, and
nothing a client wrote reaches a response header but a well-formed value.

What a request says can reach a response header: the Host header (the cookie domain),
`dub_id` / `pimms_id` (the cookie values), the Origin (CORS's Access-Control-Allow-Origin),
X-Forwarded-Proto (Secure). A character a header may not hold makes uvicorn drop the
connection ("Empty reply from server") instead of answering, so these requests go
through a real uvicorn server, written byte by byte on a socket: Host, Origin, Referer,
Sec-Fetch-Site, Cookie and X-Forwarded-* values, and query strings holding control
characters raw and percent-encoded. The TestClient runs the same requests where no
server parser stands in front of the app (a newline in a header value reaches it), and
the answer's headers are checked as a browser would read them.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any, Iterator

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from leadrelay.app import create_app
from leadrelay.config import Settings
from leadrelay.sandbox.live import LiveServer
from tests.support.fuzz import UNLIMITED, fuzz_settings
from tests.support.sockets import raw_answer

FUZZ = fuzz_settings(150)
BEACON = b'{"events":[{"id":"hf-1","dialect":"reshape","payload":{"event":{"name":"x"}}}]}'
CONFIGS = {
    # CORS reflects any Origin; X-Forwarded-* is read, from any peer (the TestClient's too).
    "open": {"allowed_origins": ["*"], "trust_proxy_headers": True, "forwarded_allow_ips": ["*"]},
    # Named hosts and origins: most requests are refused, each with its own answer.
    "named": {"allowed_hosts": ["127.0.0.1", "*.example.com"], "allowed_origins": ["https://www.example.com"]},
}
HEADERS = ("host", "origin", "referer", "sec-fetch-site", "cookie", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host")
PLAUSIBLE = [
    "",
    "127.0.0.1",
    "www.example.com",
    "www.example.com:8443",
    "[::1]:8000",
    "www.a.com; Domain=evil.com; x",
    "https://www.example.com",
    "http://127.0.0.1",
    "https://evil.test/landing?dub_id=x",
    "null",
    "cross-site",
    "same-origin",
    "same-site",
    "none",
    "https",
    "203.0.113.7, 10.0.0.1",
    "[2001:db8::7]:443",
    "dub_id=clk_1; pimms_id=pm-1; lr_vid=abc.def",
    'lr_vid="a;b"; dub_id=\\"x',
]
CONTROL = "".join(chr(c) for c in [*range(0x00, 0x20), 0x7F] if chr(c) not in "\r\n")
# A header value is anything but CR and LF, which end it: controls and obs-text (0x80-0xff) included.
header_values = st.one_of(
    st.sampled_from(PLAUSIBLE),
    st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=30),
    st.tuples(st.sampled_from(PLAUSIBLE), st.text(st.sampled_from(CONTROL + ";=, \"\x80\xff"), min_size=1, max_size=3))
    .map("".join),
)
hosts = st.one_of(
    st.none(),
    st.sampled_from(["127.0.0.1", "www.example.com", "shop.example.com:8443", "[::1]:8000"]),
    header_values,
)
ids = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
query_values = st.one_of(
    ids,
    # A valid id and then what a pattern's `$` lets through (a final newline), or other controls.
    st.tuples(ids, st.sampled_from(["\n", "\r", "\r\n", "\x00", "\x7f", ";", " ", "\x85", "\u2028"])).map("".join),
    st.sampled_from(["abc\n", "abc\r\nSet-Cookie: x=1", "a;b", "a b", "\x00", "é", "🐊", "a" * 191]),
    st.text(st.sampled_from("aZ0_-" + CONTROL + "\n\r;=&%# \x80éÿ🐊"), max_size=20),
    st.text(max_size=20),
)
queries = st.lists(st.tuples(st.sampled_from(["dub_id", "pimms_id", "dub_id", "x"]), query_values), max_size=3)


def requests(values: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A request to one endpoint, with a Host (or none) and a few other headers (most requests carry few)."""
    return st.fixed_dictionaries(
        {
            "endpoint": st.sampled_from(["click", "click", "beacon", "preflight"]),
            "headers": st.tuples(hosts, st.dictionaries(st.sampled_from(HEADERS[1:]), values, max_size=3)).map(
                lambda drawn: {"host": drawn[0], **drawn[1]}
            ),
            "query": queries,
            # Written as it is, not percent-encoded: the server's parser judges it.
            "raw_query": st.sampled_from([False, False, True]),
        }
    )


# Only the TestClient can hand the app a header value with a line break in it.
app_header_values = st.one_of(header_values, header_values.map(lambda value: value + "\r\nSet-Cookie: x=1; Domain=evil.test"))


COOKIE_NAMES = {"dub_id", "pimms_id", "lr_vid"}
ATTRIBUTES = {"max-age", "path", "samesite", "domain", "secure", "httponly"}
COOKIE_VALUE = re.compile(r"[A-Za-z0-9_.-]{1,250}")
DOMAIN = re.compile(r"\.?[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?")
NOT_IN_A_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def check_answer(status: int, headers: list[tuple[str, str]]) -> None:
    """What a browser would read: no 5xx, and each header one well-formed value."""
    assert 100 <= status < 500, status
    for name, value in headers:
        assert not NOT_IN_A_HEADER.search(value), (name, value)
        if name.lower() == "set-cookie":
            pair, *attributes = value.split("; ")
            cookie, _, cookie_value = pair.partition("=")
            assert cookie in COOKIE_NAMES and COOKIE_VALUE.fullmatch(cookie_value), value
            names = [attribute.split("=", 1)[0].lower() for attribute in attributes]
            assert len(names) == len(set(names)) and set(names) <= ATTRIBUTES, value
            for attribute in attributes:
                if attribute.lower().startswith("domain="):
                    assert DOMAIN.fullmatch(attribute.split("=", 1)[1]), value


def target(request: dict[str, Any]) -> bytes:
    path = "/lr/c" if request["endpoint"] == "click" else "/lr/e"
    if not request["query"]:
        return path.encode()
    if request["raw_query"]:
        query = "&".join(f"{name}={value}" for name, value in request["query"])
        return path.encode() + b"?" + query.encode("utf-8", "surrogatepass")
    return (path + "?" + urllib.parse.urlencode(request["query"])).encode()


def written(request: dict[str, Any]) -> bytes:
    """The request as bytes on the wire, closing the connection after its answer."""
    method = {"click": b"GET", "beacon": b"POST", "preflight": b"OPTIONS"}[request["endpoint"]]
    lines = [method + b" " + target(request) + b" HTTP/1.1"]
    for name, value in request["headers"].items():
        if value is not None:
            lines.append(name.encode() + b": " + value.encode("latin-1"))
    if request["endpoint"] == "preflight":
        lines.append(b"Access-Control-Request-Method: POST")
    body = BEACON if request["endpoint"] == "beacon" else b""
    lines += [b"Content-Type: text/plain", b"Content-Length: " + str(len(body)).encode(), b"Connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _settings(tmp_path_factory: pytest.TempPathFactory, name: str) -> Settings:
    url = f"sqlite:///{tmp_path_factory.mktemp('headers') / 'fuzz.db'}"
    return Settings(
        database_url=url, secret_key="headers-fuzz-secret-key-of-32-or-more-characters", worker=False, demo=False, **UNLIMITED, **CONFIGS[name]
    )


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(create_app(_settings(tmp_path_factory, request.param))) as server:
        yield server


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def client(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path_factory, request.param))) as test_client:
        yield test_client


# Found before (issue 13): a click id with a final newline passed `^...$` and uvicorn dropped the
# connection over its Set-Cookie; a Host header wrote its own cookie attributes.
KNOWN = [
    {"endpoint": "click", "headers": {"host": "127.0.0.1"}, "query": [("dub_id", "abc\n")], "raw_query": False},
    {"endpoint": "click", "headers": {"host": "www.a.com; Domain=evil.com; x"}, "query": [("dub_id", "c")], "raw_query": False},
]


def known(test: Any) -> Any:
    for request in KNOWN:
        test = example(request=request)(test)
    return test


@FUZZ
@known
@given(request=requests(header_values))
def test_a_real_server_answers_any_request_without_a_5xx(live: LiveServer, request: dict[str, Any]) -> None:
    check_answer(*raw_answer(live.port, written(request)))


@FUZZ
@given(click=ids, after=st.text(st.sampled_from(CONTROL + "\n\r\x85\u2028 ;,=\"\\"), min_size=1, max_size=2))
def test_a_click_id_followed_by_any_other_character_is_400_not_a_dropped_connection(
    live: LiveServer, click: str, after: str
) -> None:
    for name in ("dub_id", "pimms_id"):
        request = {"endpoint": "click", "headers": {"host": "127.0.0.1"}, "query": [(name, click + after)], "raw_query": False}
        status, headers = raw_answer(live.port, written(request))
        assert status == 400, (click + after, status)
        assert not [value for header, value in headers if header.lower() == "set-cookie"]


@FUZZ
@known
@given(request=requests(app_header_values))
def test_the_app_answers_any_request_without_a_5xx(client: TestClient, request: dict[str, Any]) -> None:
    """No server parser in front: the app sees header values a server would refuse (a newline included)."""
    headers = [(name.encode(), value.encode("latin-1")) for name, value in request["headers"].items() if value is not None]
    path = "/lr/c" if request["endpoint"] == "click" else "/lr/e"
    params = list(request["query"])
    if request["endpoint"] == "preflight":
        headers.append((b"access-control-request-method", b"POST"))
    method = {"click": "GET", "beacon": "POST", "preflight": "OPTIONS"}[request["endpoint"]]
    body = BEACON if request["endpoint"] == "beacon" else b""
    response = client.request(
        method, path, params=params, content=body, headers=[*headers, (b"content-type", b"text/plain")]
    )
    check_answer(response.status_code, list(response.headers.multi_items()))
