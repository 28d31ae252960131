"""What the `leadrelay` command prints never lets a stranger's control characters reach the terminal."""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from dataclasses import replace
from typing import Any, Callable

import pytest
from starlette.testclient import TestClient

from leadrelay.app import create_app
from leadrelay.cli import main as cli
from leadrelay.logs import PrintableFormatter
from leadrelay.config import Settings
from leadrelay.routing import Router
from leadrelay.sandbox.vendors import Invalid
from leadrelay.store import SqlStore
from leadrelay.terminal import json_line, printable
from tests.fakes import Vendors
from tests.fakes.helpers import deliver_all, lead
from tests.support.arrivals import routed

# Clear the screen, move to the line's start, set the window title, CSI in its one-byte C1 form,
# right-to-left override, line separator, an invisible tag character.
HOSTILE = "\x1b[2J\r\x1b]0;owned\x07\x9b31m\u202egnp.exe\u2028\U000e0041"
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2028\u2029\U000e0000-\U000e007f]")


def test_printable_escapes_every_control_and_invisible_formatting_character() -> None:
    assert printable(HOSTILE) == "\\x1b[2J\\r\\x1b]0;owned\\x07\\x9b31m\\u202egnp.exe\\u2028\\U000e0041"
    assert printable("line\nnext\ttab\x7f\ud83d") == "line\\nnext\\ttab\\x7f\\ud83d"
    assert printable("Zoë 東京 🎉 \\x1b") == "Zoë 東京 🎉 \\x1b"  # readable text stays as it is


def test_json_lines_escape_what_json_dumps_lets_through() -> None:
    line = json_line({"message": HOSTILE})
    assert not RAW_CONTROL.search(line)
    assert json.loads(line) == {"message": HOSTILE}
    assert json_line({"name": "Zoë"}) == '{"name": "Zoë"}'


def test_log_lines_are_escaped_and_a_traceback_keeps_its_lines() -> None:
    try:
        raise ValueError(f"vendor said {HOSTILE}")
    except ValueError:
        record = logging.LogRecord("leadrelay.worker", logging.ERROR, __file__, 1, "sending %s failed", (HOSTILE,), sys.exc_info())
    line = PrintableFormatter("%(levelname)s %(message)s").format(record)
    assert not RAW_CONTROL.search(line)
    assert line.startswith("ERROR sending \\x1b[2J\\r")
    assert "\nTraceback (most recent call last):\n" in line
    assert line.endswith("ValueError: vendor said \\x1b[2J\\r\\x1b]0;owned\\x07\\x9b31m\\u202egnp.exe\\u2028\\U000e0041")


@pytest.fixture
def cli_env(db_url: str, make_settings: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LEADRELAY_DATABASE_URL", db_url)
    return db_url


def strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def printed(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert not RAW_CONTROL.search(out), repr(out)
    return out


def test_rejections_print_ids_paths_and_messages_escaped(settings: Settings, cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    bad_id = {"id": f"id{HOSTILE}", "dialect": "croct", "type": "leadGenerated", "payload": {"leadId": "L-1"}}
    bad_path = {"id": "ok-1", "dialect": "croct", "type": "leadGenerated", "payload": {"leadId": "L-1", "lead": {f"x{HOSTILE}": 1}}}
    with TestClient(create_app(settings)) as client:
        response = client.post("/lr/e", content=json.dumps({"events": [bad_id, bad_path]}), headers={"Content-Type": "text/plain"})
        assert [r["status"] for r in response.json()["results"]] == ["rejected", "rejected"]
    assert cli(["rejections"]) == 0
    out = printed(capsys)
    assert "id\\x1b[2J\\r" in out  # the id
    assert "lead.x\\x1b[2J\\r\\x1b]0;owned\\x07\\x9b31m\\u202egnp.exe" in out  # the path


def test_events_print_stored_text_escaped(settings: Settings, cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    payload = {"leadId": "L-1", "currency": "USD", "value": 1, "lead": {"firstName": f"Carol{HOSTILE}"}}
    event = {"id": str(uuid.uuid4()), "dialect": "croct", "type": "leadGenerated", "payload": payload}
    with TestClient(create_app(settings)) as client:
        response = client.post("/lr/e", content=json.dumps({"events": [event]}), headers={"Content-Type": "text/plain"})
        assert response.json()["results"][0]["status"] == "accepted"
    for args in (["events", "--json"], ["events", "--json", "--raw"]):
        assert cli(args) == 0
        [line] = printed(capsys).splitlines()
        assert "\\u202egnp.exe" in line
        assert f"Carol{HOSTILE}" in strings(json.loads(line))  # the same JSON: the text is all there


def test_the_readable_events_view_escapes_what_strangers_wrote(settings: Settings, cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    payload = {"leadId": "L-1", "currency": "EUR", "value": 12.5, "userId": f"user{HOSTILE}"}
    event = {"id": str(uuid.uuid4()), "dialect": "croct", "type": "leadGenerated", "payload": payload}
    with TestClient(create_app(settings)) as client:
        response = client.post("/lr/e", content=json.dumps({"events": [event]}), headers={"Content-Type": "text/plain"})
        assert response.json()["results"][0]["status"] == "accepted"
    assert cli(["events"]) == 0
    [line] = printed(capsys).splitlines()
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  lead +croct +leadGenerated +" + event["id"], line), line
    assert "user\\x1b[2J\\r" in line and "\\u202egnp.exe" in line and "12.5 EUR" in line


async def test_deliveries_print_a_vendors_message_escaped(
    store: SqlStore,
    delivery_settings: Callable[..., Settings],
    vendors: Vendors,
    cli_env: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = delivery_settings()

    def hostile(request: Any, body: Any) -> Any:
        raise Invalid(400, "bad_request", f"nope{HOSTILE}")

    vendors.dub.answer = hostile  # type: ignore[method-assign]
    # No collector stores an id like this (intake checks them): the CLI escapes whatever a database holds.
    store.write_intake([replace(routed(lead(1), Router(s)), id=f"evt{HOSTILE}")])
    await deliver_all(s, store)
    monkeypatch.setenv("LEADRELAY_DATABASE_URL", s.database_url)
    assert cli(["deliveries", "--destination", "dub"]) == 0
    out = printed(capsys)
    assert "evt\\x1b[2J\\r" in out and "nope\\x1b[2J\\r\\x1b]0;owned\\x07\\x9b31m\\u202egnp.exe\\u2028" in out
    assert cli(["deliveries", "--destination", "dub", "--json"]) == 0
    [line] = printed(capsys).splitlines()
    assert json.loads(line)["last_error"].endswith(f"nope{HOSTILE}")


def test_problems_with_the_configuration_are_printed_escaped(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli(["check", "--config", f"/nonexistent/{HOSTILE}.toml"])
    assert "\\x1b[2J\\r" in printed(capsys)
