"""The CLI as a newcomer meets it: --version, defaults in --help, readable views and --json, unknown names
refused, and the service's database found (never a new empty one made)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from leadrelay.cli import main as cli
from leadrelay.protocol import FieldError
from leadrelay.store import Click, Finish, Rejected, SqlStore, open_store
from tests.support.arrivals import accepted, request_seen
from tests.support.postgres import needs_postgres, postgres_schema_url
from tests.test_erasure import croct

ROOT = Path(__file__).resolve().parents[1]
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LEADRELAY_") and name != "LEADRELAY_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=needs_postgres)])
def filled(request: pytest.FixtureRequest, env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqlStore]:
    """A store the CLI is pointed at (LEADRELAY_DATABASE_URL) holding an event, a delivery attempted and a rejection."""

    def fill(url: str) -> Iterator[SqlStore]:
        monkeypatch.setenv("LEADRELAY_DATABASE_URL", url)
        store = open_store(url)
        store.setup()
        event = accepted(croct("Ada@Example.com", firstName="Ada"), ["dub"], request_seen(visitor_id="visitor-ada"))
        store.write_intake([event, Click("visitor-ada", "dub", "click-ada", 1.0)])
        [claim] = store.claim("w", limit=1, lease_s=60)
        store.finish_many("w", [Finish(claim, "dead", 400, "bad", request='{"customerExternalId":"ada@example.com"}')])
        raw = json.dumps({"id": "bad-1", "payload": {"lead": {"email": "ada@example.com"}, "pad": "x" * 500}})
        error = [FieldError(path="value", message="must be a number", rule="float_type")]
        store.write_intake([Rejected("bad-1", "croct", error, raw, received_at=1_700_000_000.0)])
        yield store
        store.close()

    if request.param == "sqlite":
        yield from fill(f"sqlite:///{tmp_path / 'leadrelay.db'}")
    else:
        with postgres_schema_url() as url:
            yield from fill(url)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = cli(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_version_and_defaults_in_help(env: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and re.fullmatch(r"leadrelay \d+\.\d+\.\d+\S*\n", out)
    code, out, _ = run(capsys, "serve", "--help")
    assert code == 0 and "(default: 8000)" in out and "(default: 127.0.0.1)" in out and "(default: info)" in out
    code, out, _ = run(capsys, "events", "--help")
    assert "(default: 20)" in out and "(default: None)" not in out and "(default: False)" not in out
    code, out, _ = run(capsys, "deliveries", "--help")
    assert "(default: dead)" in out and "(default: 100)" in out


def test_events_readable_and_json(filled: SqlStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "events")
    [line] = out.splitlines()
    assert code == 0 and re.match(ISO + r"  lead +croct +leadGenerated ", line) and "ada@example.com" in line.lower()
    code, out, _ = run(capsys, "events", "--json")
    [line] = out.splitlines()
    assert json.loads(line)["customer"]["emails"] == ["Ada@Example.com"]


def test_rejections_show_the_raw_body_and_have_json(filled: SqlStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "rejections")
    first, raw = out.splitlines()
    assert code == 0 and first.startswith("2023-11-14T22:13:20Z  croct") and "value: must be a number" in first
    assert raw.startswith('    raw: {"id": "bad-1"') and "more characters: --json shows them all" in raw
    code, out, _ = run(capsys, "rejections", "--json")
    [row] = map(json.loads, out.splitlines())
    assert row["raw"] == filled.list_rejections()[0]["raw"] and row["errors"][0]["path"] == "value"


def test_deliveries_json_shows_the_body_sent(filled: SqlStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "deliveries", "--json")
    [row] = map(json.loads, out.splitlines())
    assert code == 0 and row["request"] == '{"customerExternalId":"ada@example.com"}'


@pytest.mark.parametrize("command", [["deliveries"], ["replay"]])
def test_an_unknown_destination_is_an_error_naming_the_known_ones(
    filled: SqlStore, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    code, out, err = run(capsys, *command, "--destination", "nosuch")
    assert code == 2 and out == ""
    assert "invalid choice: 'nosuch'" in err and "'dub', 'pimms', 'reshape', 'webhook'" in err


def test_erase_from_the_command_line(filled: SqlStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "erase", "--email", "ADA@example.com")
    assert code == 0
    assert out.splitlines() == [
        "erased 1 events, 1 deliveries (with the bodies they sent), 1 rejected events and 1 clicks",
        "  the person's visitor ids: visitor-ada",
    ]
    assert [filled.count(t) for t in ("events", "deliveries", "rejections", "clicks")] == [0, 0, 0, 0]
    code, out, _ = run(capsys, "erase", "--visitor", "visitor-ada", "--json")
    assert json.loads(out) == {"events": 0, "deliveries": 0, "rejections": 0, "clicks": 0, "visitors": ["visitor-ada"]}
    code, _, err = run(capsys, "erase", "--email", "no-at-sign")
    assert code == 2 and "is not an email address" in err
    code, _, err = run(capsys, "erase", "--email", "a@b.c", "--visitor", "v")
    assert code == 2 and "not allowed with argument" in err


def test_an_empty_store_says_which_it_is(env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "empty.db"
    open_store(f"sqlite:///{db}").setup()
    monkeypatch.setenv("LEADRELAY_DATABASE_URL", f"sqlite:///{db}")
    for command, what in ((["events"], "no events"), (["rejections"], "no rejected events"), (["deliveries"], "no dead deliveries")):
        code, out, err = run(capsys, *command)
        assert (code, out) == (0, "") and err == f"{what} in {db}\n"


def test_from_another_folder_no_database_is_made_and_the_right_one_is_found(env: None, tmp_path: Path) -> None:
    """Run as a newcomer would: the installed command, in a folder that is not the service's."""
    service = tmp_path / "srv"
    service.mkdir()
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    store = open_store(f"sqlite:///{service / 'leadrelay.db'}")
    store.setup()
    store.write_intake([accepted(croct("bo@example.com"), [])])
    store.close()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}
    command = [sys.executable, "-m", "leadrelay"]
    for args in (["events"], ["rejections"], ["deliveries"], ["replay", "--all"], ["erase", "--visitor", "v"]):
        done = subprocess.run([*command, *args], cwd=elsewhere, env=clean, capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, done.stderr
        assert f"there is no database at {elsewhere / 'leadrelay.db'}" in done.stderr
        assert "--config FILE (or LEADRELAY_CONFIG), or LEADRELAY_DATABASE_URL" in done.stderr
        assert list(elsewhere.iterdir()) == []  # nothing created
    (service / "leadrelay.toml").write_text(f'database_url = "sqlite:///{service / "leadrelay.db"}"\n')
    found = subprocess.run(
        [*command, "events"], cwd=elsewhere, env={**clean, "LEADRELAY_CONFIG": str(service / "leadrelay.toml")},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert found.returncode == 0 and "bo@example.com" in found.stdout
    assert list(elsewhere.iterdir()) == []


def test_discard_deletes_dead_letters_only(filled: SqlStore, capsys: pytest.CaptureFixture[str]) -> None:
    filled.write_intake([accepted(croct("other@example.com"), ["pimms"])])  # waiting: never discarded
    code, _, err = run(capsys, "discard")
    assert code == 2 and "say what to discard" in err
    code, out, _ = run(capsys, "discard", "--destination", "pimms")
    assert (code, out) == (0, "discarded 0 dead-lettered deliveries\n")
    code, out, _ = run(capsys, "discard", "--all")
    assert (code, out) == (0, "discarded 1 dead-lettered deliveries\n")
    assert filled.delivery_counts() == filled.recount_deliveries() == {"pimms": {"pending": 1}}


def test_a_bad_metrics_bind_for_the_worker_is_an_error(filled: SqlStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "worker", "--metrics-bind", "nowhere")
    assert code == 2 and "is not host:port" in err
