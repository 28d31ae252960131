"""Settings from TOML and the environment, and `leadrelay check`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from leadrelay.cli import main
from leadrelay.config import load_settings


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
        "LEADRELAY_SECRET_KEY": "s3cret",
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
    assert s.signing_key == "s3cret"
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


def test_production_without_a_secret_key_is_an_error(make_settings: Any) -> None:
    with pytest.raises(ValidationError, match="secret_key is required"):
        load_settings(environment="production")
    assert load_settings(environment="production", secret_key="k").uses_dev_secret is False


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"reshape_script_id": "abc"}, "reshape_script_id"),
        ({"dub_base_url": "api.dub.co"}, "http:// or https://"),
        ({"path_prefix": "/"}, "non-root"),
        ({"max_body_bytes": 10}, "max_body_bytes"),
        ({"unknown_setting": 1}, "unknown_setting"),
    ],
)
def test_invalid_settings_are_named(make_settings: Any, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
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


def test_check_never_prints_secrets(tmp_path: Path, make_settings: Any, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.toml"
    config.write_text('secret_key = "supersecretvalue"\ndub_api_key = "dub_topsecret"\ndatabase_url = "postgresql://u:pw123@h/db"\n')
    assert main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    for secret in ("supersecretvalue", "dub_topsecret", "pw123"):
        assert secret not in out
    assert "destination dub:" in out


def test_missing_config_file_is_a_clear_error(make_settings: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["check", "--config", "/nonexistent/leadrelay.toml"])
    assert "configuration file not found" in capsys.readouterr().err


def test_the_installed_command_runs(make_settings: Any) -> None:
    result = subprocess.run([sys.executable, "-m", "leadrelay", "check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout
