"""Settings from TOML and the environment, and `leadrelay check`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from leadrelay.cli import main
from leadrelay.config import DEV_SECRET_KEY, ConfigError, load_settings

STRONG_KEY = "a-strong-secret-key-of-32-or-more-characters"


def test_embedded_defaults(make_settings: Any) -> None:
    s = load_settings()
    assert s.database_url == "sqlite:///leadrelay.db"
    assert s.environment == "development"
    assert s.uses_dev_secret
    assert s.dub_base_url == "https://api.dub.co"
    assert s.pimms_base_url == "https://api.pimms.io"
    assert s.reshape_path == "/reshape/standard/event"
    assert s.max_body_bytes == 64 * 1024


def test_environment_variables_use_the_documented_names(make_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "LEADRELAY_DATABASE_URL": "postgresql://u@h/db",
        "LEADRELAY_SECRET_KEY": STRONG_KEY,
        "LEADRELAY_ALLOWED_ORIGINS": "https://a.example, https://b.example/",
        "LEADRELAY_DUB_API_KEY": "dub_xxx",
        "LEADRELAY_DUB_BASE_URL": "http://127.0.0.1:9/",
        "LEADRELAY_PIMMS_API_KEY": "pimms_xxx",
        "LEADRELAY_PIMMS_BASE_URL": "http://127.0.0.1:10",
        "LEADRELAY_RESHAPE_BASE_URL": "https://dre.example",
        "LEADRELAY_RESHAPE_SCRIPT_ID": "ABCD1234",
        "LEADRELAY_RESHAPE_ACCESS_TOKEN": "tok",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    s = load_settings()
    assert s.database_url == "postgresql://u@h/db"
    assert s.signing_key == STRONG_KEY
    assert s.allowed_origins == ["https://a.example", "https://b.example"]
    assert s.dub_api_key is not None and s.dub_api_key.get_secret_value() == "dub_xxx"
    assert s.dub_base_url == "http://127.0.0.1:9"
    assert s.pimms_base_url == "http://127.0.0.1:10"
    assert s.reshape_script_id == "ABCD1234"
    assert "dub_xxx" not in repr(s) and "tok" not in str(s.reshape_access_token)


def test_toml_file_and_environment_precedence(tmp_path: Path, make_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "leadrelay.toml"
    config.write_text(
        'database_url = "sqlite:///from-file.db"\n'
        'allowed_origins = ["https://file.example"]\n'
        'dub_api_key = "dub_file"\n'
        "[dub_events]\n"
        'leadGenerated = "Trial started"\n'
    )
    s = load_settings(config)
    assert s.database_url == "sqlite:///from-file.db"
    assert s.allowed_origins == ["https://file.example"]
    assert s.dub_events == {"leadGenerated": "Trial started"}
    monkeypatch.setenv("LEADRELAY_DATABASE_URL", "sqlite:///from-env.db")
    assert load_settings(config).database_url == "sqlite:///from-env.db"


def test_each_destination_is_paced_by_default_as_its_vendor_allows(make_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings()
    # Dub's lowest plan allows 60 a minute; PIMMS's default is 600; Reshape and a webhook receiver publish none.
    rates = (s.dub_rate_per_minute, s.pimms_rate_per_minute, s.reshape_rate_per_minute, s.webhook_rate_per_minute)
    assert rates == (60, 600, 600, 600)
    monkeypatch.setenv("LEADRELAY_DUB_RATE_PER_MINUTE", "3000")
    assert load_settings().dub_rate_per_minute == 3000


def test_production_without_a_secret_key_is_an_error(make_settings: Any) -> None:
    with pytest.raises(ConfigError, match="secret_key .*is required"):
        load_settings(environment="production")
    assert load_settings(environment="production", secret_key=STRONG_KEY).uses_dev_secret is False


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"reshape_script_id": "abc"}, "reshape_script_id"),
        ({"dub_base_url": "api.dub.co"}, "http:// or https://"),
        ({"path_prefix": "/"}, "non-root"),
        ({"max_body_bytes": 10}, "max_body_bytes"),
        ({"dub_rate_per_minute": -1}, "dub_rate_per_minute"),
        ({"unknown_setting": 1}, "unknown_setting"),
    ],
)
def test_invalid_settings_are_named(make_settings: Any, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(**overrides)


def test_check_prints_a_summary_and_exits_0(make_settings: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "configuration OK" in out
    assert "DEVELOPMENT DEFAULT" in out
    assert "destination dub:" in out and "off: no dub_api_key" in out


def test_check_lists_every_problem_and_exits_1(tmp_path: Path, make_settings: Any, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('environment = "production"\nreshape_script_id = "lower"\nmax_batch_events = 0\n')
    with pytest.raises(SystemExit) as exit_info:
        main(["check", "--config", str(config)])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "reshape_script_id" in err
    assert "max_batch_events" in err


def test_check_never_prints_secrets(tmp_path: Path, make_settings: Any, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.toml"
    keys = ["server-key-one-0123456789abcdefghijklmnop", "server-key-two-0123456789abcdefghijklmnop"]
    config.write_text(
        f'secret_key = "supersecretvalue-of-32-or-more-characters"\ndub_api_key = "dub_topsecret"\ndatabase_url = "{db_url}"\n'
        f"server_keys = {keys!r}\n".replace("'", '"')
    )
    assert main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    for secret in ("supersecretvalue", "dub_topsecret", *keys):
        assert secret not in out
    assert "destination dub:" in out
    assert "server keys:      2" in out
    # Nor when it lists problems: a weak key, and a database it cannot reach, named without its password.
    config.write_text('secret_key = "weaksecret"\ndub_api_key = "dub_topsecret"\ndatabase_url = "postgresql://u:pw123@127.0.0.1:1/db"\n')
    with pytest.raises(SystemExit):
        main(["check", "--config", str(config)])
    captured = capsys.readouterr()
    assert "postgresql://u:***@127.0.0.1:1/db" in captured.err
    for secret in ("weaksecret", "dub_topsecret", "pw123"):
        assert secret not in captured.out + captured.err


def test_server_keys_come_from_a_comma_separated_variable(make_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADRELAY_SERVER_KEYS", "server-key-one-0123456789abcdefghijklmnop, server-key-two-0123456789abcdefghijklmnop")
    keys = load_settings().server_keys
    assert [k.get_secret_value() for k in keys] == [
        "server-key-one-0123456789abcdefghijklmnop",
        "server-key-two-0123456789abcdefghijklmnop",
    ]
    assert "server-key" not in repr(load_settings())


@pytest.mark.parametrize("key", ["too-short-a-key", "a key with spaces in it, far longer than 32", "é" * 40])
def test_a_server_key_that_is_no_long_token_is_named_but_never_shown(
    tmp_path: Path, make_settings: Any, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    config = tmp_path / "keys.toml"
    config.write_text(f"server_keys = [{key!r}]\n".replace("'", '"'), encoding="utf-8")
    with pytest.raises(SystemExit):
        main(["check", "--config", str(config)])
    err = capsys.readouterr().err
    assert "server_keys" in err and "at least 32" in err
    assert key not in err
    with pytest.raises(ConfigError) as raised:
        load_settings(server_keys=[key])
    assert key not in str(raised.value)


def test_missing_config_file_is_a_clear_error(make_settings: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["check", "--config", "/nonexistent/leadrelay.toml"])
    assert "configuration file not found" in capsys.readouterr().err


def test_the_installed_command_runs(make_settings: Any) -> None:
    result = subprocess.run([sys.executable, "-m", "leadrelay", "check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout


# -- every problem at once, in check and serve ----------------------------------------------

UNREACHABLE_DB = "postgresql://leadrelay@127.0.0.1:1/leadrelay"  # nothing listens on port 1


def run_leadrelay(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}
    return subprocess.run(
        [sys.executable, "-m", "leadrelay", *args], capture_output=True, text=True, env={**clean, **env}, timeout=60
    )


@pytest.mark.parametrize(
    ("secret", "secret_problem"),
    [("", "secret_key (LEADRELAY_SECRET_KEY): is required when environment is 'production'"),
     ('secret_key = "x"\n', "secret_key (LEADRELAY_SECRET_KEY): is too weak: use at least 32 random characters")],
    ids=["missing-in-production", "weak"],
)
def test_check_lists_every_kind_of_problem_in_one_run(tmp_path: Path, secret: str, secret_problem: str) -> None:
    config = tmp_path / "leadrelay.toml"
    config.write_text(
        'environment = "production"\n'
        f'database_url = "{UNREACHABLE_DB}"\n'
        'allowed_origins = ["www.example.com", "https://shop.example"]\n'
        'dub_base_url = "ftp://api.dub.co"\n' + secret
    )
    result = run_leadrelay("check", "--config", str(config), env={"LEADRELAY_DUB_EVENTS": "{bad"})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "error: the configuration has 5 problems:"
    problems = "\n".join(lines[1:])
    assert secret_problem in problems
    assert "allowed_origins (LEADRELAY_ALLOWED_ORIGINS): 'www.example.com' is not an origin" in problems
    assert "dub_base_url (LEADRELAY_DUB_BASE_URL): must start with http:// or https://" in problems
    assert "dub_events (LEADRELAY_DUB_EVENTS): the environment variable is not valid JSON" in problems
    assert f"database_url (LEADRELAY_DATABASE_URL): {UNREACHABLE_DB} cannot be used: " in problems
    assert "Connection refused" in problems


def test_serve_with_a_bad_configuration_prints_what_check_prints_and_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "leadrelay.toml"
    config.write_text(f'database_url = "{UNREACHABLE_DB}"\nallowed_origins = ["www.example.com"]\nsecret_key = "x"\n')
    env = {"LEADRELAY_DUB_EVENTS": "{bad"}
    check = run_leadrelay("check", "--config", str(config), env=env)
    serve = run_leadrelay("serve", "--config", str(config), "--port", "0", env=env)
    assert (check.returncode, serve.returncode) == (1, 1)
    assert "Traceback" not in serve.stderr
    assert serve.stderr == check.stderr
    assert "4 problems" in serve.stderr


@pytest.mark.parametrize("args", [["check"], ["serve", "--port", "0"]], ids=["check", "serve"])
def test_a_database_url_of_another_kind_is_a_problem_not_a_traceback(args: list[str]) -> None:
    result = run_leadrelay(*args, env={"LEADRELAY_DATABASE_URL": "mysql://x"})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "database_url (LEADRELAY_DATABASE_URL): unsupported scheme 'mysql'" in result.stderr


def test_a_toml_syntax_error_is_one_line_next_to_the_other_problems(tmp_path: Path) -> None:
    config = tmp_path / "leadrelay.toml"
    config.write_text('allowed_origins = ["https://a.example"\n')
    result = run_leadrelay("check", "--config", str(config), env={"LEADRELAY_MAX_BATCH_EVENTS": "0"})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"configuration file {config} is not valid TOML: " in result.stderr
    assert "max_batch_events (LEADRELAY_MAX_BATCH_EVENTS): Input should be greater than or equal to 1" in result.stderr


def test_an_unknown_setting_is_named_with_the_closest_one(tmp_path: Path, make_settings: Any) -> None:
    config = tmp_path / "leadrelay.toml"
    config.write_text('[dub_event]\nleadGenerated = "Sign up"\n')
    with pytest.raises(ConfigError, match=r"dub_event: not a leadrelay setting \(did you mean dub_events\?\)"):
        load_settings(config)


@pytest.mark.parametrize(
    ("origin", "problem"),
    [
        ("www.example.com", "is not an origin"),
        ("ftp://www.example.com", "is not an origin"),
        ("https://www.example.com/path", "is not an origin"),
        ("https://user@www.example.com", "is not an origin"),
        ("https://www.example.com:99999", "no valid port"),
        ("null", "null is never allowed"),
    ],
)
def test_allowed_origins_must_be_origins(make_settings: Any, origin: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_settings(allowed_origins=[origin])


def test_allowed_origins_are_normalised(make_settings: Any) -> None:
    s = load_settings(allowed_origins=["https://WWW.Example.com/", "http://[::1]:8080", "*"])
    assert s.allowed_origins == ["https://www.example.com", "http://[::1]:8080", "*"]


@pytest.mark.parametrize(
    "key",
    ["x", "s3cret", "a" * 64, "abababababababababababababababab12", DEV_SECRET_KEY],
)
def test_weak_secret_keys_are_refused(make_settings: Any, key: str) -> None:
    with pytest.raises(ConfigError, match="secret_key") as caught:
        load_settings(secret_key=key)
    assert key not in str(caught.value)


def test_new_secret_key_prints_a_key_check_accepts(make_settings: Any, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-secret-key"]) == 0 and main(["new-secret-key"]) == 0
    key, other = capsys.readouterr().out.split()
    assert len(key) >= 32 and key != other
    check = run_leadrelay("check", env={"LEADRELAY_SECRET_KEY": key, "LEADRELAY_ENVIRONMENT": "production", "LEADRELAY_DATABASE_URL": db_url})
    assert check.returncode == 0, check.stderr


def test_check_tries_the_database_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "new" / "leadrelay.db"
    assert run_leadrelay("check", env={"LEADRELAY_DATABASE_URL": f"sqlite:///{missing}"}).returncode == 0
    assert not (tmp_path / "new").exists()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database, it is 100 bytes of text " * 3)
    result = run_leadrelay("check", env={"LEADRELAY_DATABASE_URL": f"sqlite:///{junk}"})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "cannot be used: file is not a database" in result.stderr


def test_forwarded_allow_ips_are_addresses_networks_or_a_star(make_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().forwarded_allow_ips == ["127.0.0.1"]
    monkeypatch.setenv("LEADRELAY_FORWARDED_ALLOW_IPS", "10.0.0.5, 10.1.0.0/16,::1")
    assert load_settings().forwarded_allow_ips == ["10.0.0.5", "10.1.0.0/16", "::1"]
    assert load_settings(forwarded_allow_ips=["*"]).forwarded_allow_ips == ["*"]


@pytest.mark.parametrize("value", ["proxy.internal", "10.0.0.300", "10.0.0.0/33", ""])
def test_forwarded_allow_ips_refuse_what_uvicorn_would_silently_never_match(make_settings: Any, value: str) -> None:
    with pytest.raises(ConfigError, match="forwarded_allow_ips.*is not an IP address or network"):
        load_settings(forwarded_allow_ips=[value])


def test_the_database_pool_cannot_be_smaller_than_its_minimum() -> None:
    with pytest.raises(ConfigError, match=r"database_pool_max_size.*must be at least database_pool_min_size \(4\)"):
        load_settings(database_pool_min_size=4, database_pool_max_size=2)
