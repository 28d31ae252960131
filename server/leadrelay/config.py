"""Settings: embedded defaults, then a TOML file, then LEADRELAY_* environment variables (highest)."""

from __future__ import annotations

import difflib
import ipaddress
import re
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    Field,
    ModelWrapValidatorHandler,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from leadrelay.trust.hosts import ANY as ANY_HOST
from leadrelay.trust.hosts import host_pattern
from leadrelay.trust.rate_limits import parse_limit, storage_uri
from leadrelay.vendors import SETTINGS

DEV_SECRET_KEY = "leadrelay-development-secret-key-do-not-use-in-production"
ENV_PREFIX = "LEADRELAY_"

# A secret key is strong enough with at least this many characters, this many of them different
# (`leadrelay new-secret-key` prints 43 random ones).
SECRET_KEY_MIN_LENGTH = 32
SECRET_KEY_MIN_DISTINCT = 10

# What `allowed_origins = ["*"]` allows: any http or https origin. Never `null`, the origin of
# sandboxed iframes, local files and some redirects, which any site can make a browser send.
ANY_WEB_ORIGIN = re.compile(r"https?://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")

# A server key is a Bearer token as RFC 6750 spells it (token68), and long enough not to be guessed.
SERVER_KEY_MIN_LENGTH = 32
SERVER_KEY_PATTERN = re.compile(r"[A-Za-z0-9._~+/-]+=*")

_config_file: Path | None = None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration: the setting it is about (None: the file itself)."""

    setting: str | None
    message: str

    def __str__(self) -> str:
        if self.setting is None:
            return self.message
        if self.setting in Settings.model_fields:
            return f"{self.setting} ({env_var(self.setting)}): {self.message}"
        return f"{self.setting}: {self.message}"


class ConfigError(ValueError):
    """Every problem found in the configuration at once.

    `database_url` is the configured database when that setting itself is fine (so the
    database can still be tried), else None.
    """

    def __init__(self, problems: list[Problem], database_url: str | None = None) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems
        self.database_url = database_url


class _Invalid(Exception):
    """ConfigError's contents on their way out of validation (pydantic would swallow a ValueError)."""

    def __init__(self, problems: list[Problem], database_url: str | None) -> None:
        self.problems, self.database_url = problems, database_url


def env_var(setting: str) -> str:
    return ENV_PREFIX + setting.upper()


@dataclass(frozen=True)
class _Unreadable:
    """An environment variable that could not be parsed: its setting fails validation with `reason`."""

    reason: str


class _EnvSource(EnvSettingsSource):
    """LEADRELAY_* variables; a list or dictionary that is not JSON becomes that setting's problem
    (pydantic-settings raises at the first one, before any setting is validated)."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        try:
            return super().decode_complex_value(field_name, field, value)
        except ValueError as exc:
            return _Unreadable(f"the environment variable is not valid JSON ({exc})")


def _origin(value: str) -> str:
    """An allowed origin: `*`, or scheme://host[:port] with http or https, lower-cased."""
    value = value.strip().rstrip("/")
    if value == "*":
        return value
    if value.lower() == "null":
        raise ValueError("null is never allowed: sandboxed iframes and local files send it, so any site can")
    normalized = value.lower()
    match = ANY_WEB_ORIGIN.fullmatch(normalized)
    if match is None:
        raise ValueError(f"{value!r} is not an origin: write http(s)://host[:port], e.g. https://www.example.com")
    if match.group(2) and int(match.group(2)[1:]) > 65535:
        raise ValueError(f"{value!r} has no valid port")
    return normalized


def _proxy_address(value: str) -> str:
    """A trusted proxy: `*`, an IP address or a network (uvicorn would take a typo for a name and trust nothing)."""
    value = value.strip()
    if value == "*":
        return value
    try:
        return str(ipaddress.ip_network(value, strict=False) if "/" in value else ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or network: write 10.0.0.5, 10.0.0.0/24, ::1 or *") from None


def _long_token(token: SecretStr, must: str) -> None:
    """A Bearer token (a server key, the metrics token) long enough, of the characters a header carries as is."""
    value = token.get_secret_value()
    if len(value) < SERVER_KEY_MIN_LENGTH or not SERVER_KEY_PATTERN.fullmatch(value):
        raise ValueError(
            f"{must} at least {SERVER_KEY_MIN_LENGTH} letters, digits or '-._~+/' (`leadrelay new-secret-key` prints one)"
        )


def _key_weakness(key: str) -> str | None:
    """Why a secret key is too weak to sign cookies, or None."""
    if key == DEV_SECRET_KEY:
        return "is the public development key"
    if len(key) < SECRET_KEY_MIN_LENGTH or len(set(key)) < SECRET_KEY_MIN_DISTINCT:
        return (
            f"is too weak: use at least {SECRET_KEY_MIN_LENGTH} random characters, "
            "e.g. from `leadrelay new-secret-key`"
        )
    return None


class ServiceSettings(BaseSettings):
    """The settings of the service itself; each vendor brings its own (leadrelay.vendors). The README documents each one."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)

    # Service
    environment: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///leadrelay.db"
    database_pool_min_size: int = Field(default=1, ge=0, le=1000)
    database_pool_max_size: int = Field(default=8, ge=1, le=1000)
    database_pool_timeout_s: float = Field(default=10.0, gt=0)
    secret_key: SecretStr | None = None
    allowed_origins: Annotated[list[Annotated[str, AfterValidator(_origin)]], NoDecode] = Field(default_factory=list)
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=lambda: [ANY_HOST], min_length=1)
    path_prefix: str = "/lr"
    demo: bool = True
    sandbox: bool | Literal["auto"] = "auto"
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_batch_events: int = Field(default=50, ge=1, le=1000)
    max_rejected_raw_bytes: int = Field(default=16 * 1024, ge=0)
    trust_proxy_headers: bool = False
    forwarded_allow_ips: Annotated[list[Annotated[str, AfterValidator(_proxy_address)]], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1"]
    )
    max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    max_headers: int = Field(default=100, ge=8)
    header_timeout_s: float = Field(default=10.0, gt=0)
    body_timeout_s: float = Field(default=15.0, gt=0)
    keep_alive_s: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=2048, ge=1)

    # Abuse: rate limits and the rejections kept (leadrelay.trust.rate_limits)
    rate_limit_storage: str = "memory://"
    rate_limit_per_ip: str = "600/minute"
    rate_limit_per_visitor: str = "120/minute"
    rejections_kept_per_hour: int = Field(default=20, ge=0)
    rejections_kept_total_per_hour: int = Field(default=1000, ge=0)
    rejection_retention_days: float = Field(default=7.0, gt=0)

    # Operations: retention, probes, metrics, logs (leadrelay.maintenance, leadrelay.probes, leadrelay.metrics)
    retention_days: float = Field(default=30.0, gt=0)
    click_retention_days: float = Field(default=90.0, gt=0)
    ready_max_overdue_s: float = Field(default=900.0, gt=0)
    metrics_token: SecretStr | None = None
    metrics_bind: str | None = None
    log_format: Literal["text", "json"] = "text"
    log_personal_data: bool = False

    # Identity and click ids
    attribution: Literal["last-click", "first-click"] = "last-click"
    cookie_domain: str | None = None

    # Trust: what a caller may claim (leadrelay.trust)
    click_verification: Literal["enforce", "off"] = "enforce"
    server_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    ts_window_s: float = Field(default=7 * 24 * 3600, gt=0)

    # Vendor APIs for a site's backend (leadrelay.vendor_api)
    wait_mode_timeout_s: float = Field(default=10.0, gt=0, le=60)
    # The operator's console (leadrelay.console): off until admin_token is set
    admin_token: SecretStr | None = None
    admin_path: str = "/admin"
    admin_session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    admin_login_rate: str = "10/minute"

    # Delivery
    worker: bool = True
    delivery_timeout_s: float = Field(default=10.0, gt=0)
    delivery_concurrency: int = Field(default=8, ge=1, le=256)
    max_attempts: int = Field(default=20, ge=1)
    retry_window_s: float = Field(default=24 * 3600, gt=0)
    retry_base_s: float = Field(default=2.0, gt=0)
    retry_max_delay_s: float = Field(default=3600.0, gt=0)
    delivery_lease_s: float = Field(default=60.0, gt=0)
    delivery_batch_size: int = Field(default=100, ge=1, le=1000)
    delivery_poll_s: float = Field(default=0.5, gt=0, le=60)

    def __init__(self, **values: Any) -> None:
        """Raises ConfigError naming every problem."""
        try:
            super().__init__(**values)
        except _Invalid as exc:
            raise ConfigError(exc.problems, exc.database_url) from None

    @model_validator(mode="wrap")
    @classmethod
    def _every_problem(cls, data: Any, handler: ModelWrapValidatorHandler[Settings]) -> Settings:
        """Every problem, with the database URL when that setting is fine: only here is the merged input seen."""
        try:
            return handler(data)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            url = data.get("database_url", cls.model_fields["database_url"].default) if isinstance(data, dict) else None
            if not isinstance(url, str) or any(error["loc"][:1] == ("database_url",) for error in errors):
                url = None
            raise _Invalid([_problem(error) for error in errors], url) from None

    @field_validator("*", mode="before")
    @classmethod
    def _readable(cls, value: Any) -> Any:
        if isinstance(value, _Unreadable):
            raise ValueError(value.reason)
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme == "sqlite":
            path = value.removeprefix("sqlite:///")
            if path == value or path in ("", ":memory:"):
                raise ValueError("a SQLite URL names a file: sqlite:///relative.db or sqlite:////absolute.db")
        elif scheme in ("postgresql", "postgres"):
            from psycopg import ProgrammingError
            from psycopg.conninfo import conninfo_to_dict

            try:
                conninfo_to_dict(value)
            except ProgrammingError as exc:
                raise ValueError(f"not a valid PostgreSQL URL: {exc}") from None
        else:
            raise ValueError(f"unsupported scheme {scheme!r}: use sqlite:///file.db or postgresql://user@host:port/db")
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None:
            if info.data.get("environment") == "production":
                raise ValueError("is required when environment is 'production' (`leadrelay new-secret-key` prints one)")
            return None
        weakness = _key_weakness(value.get_secret_value())
        if weakness:
            raise ValueError(weakness)
        return value

    @field_validator("sandbox")
    @classmethod
    def _no_sandbox_in_production(cls, value: bool | str, info: ValidationInfo) -> bool | str:
        if value is True and info.data.get("environment") == "production":
            raise ValueError("cannot be true in production: a production site's leads must reach the real vendors")
        return value

    @field_validator("allowed_origins", "forwarded_allow_ips", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [o for o in value.split(",") if o.strip()]
        return value

    @field_validator("metrics_token", "admin_token")
    @classmethod
    def _bearer_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _long_token(value, "must be")
        return value

    @field_validator("metrics_bind")
    @classmethod
    def _metrics_bind(cls, value: str | None) -> str | None:
        if value is not None:
            bind_address(value)
        return value

    @field_validator("rate_limit_per_ip", "rate_limit_per_visitor", "admin_login_rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        parse_limit(value)
        return value

    @field_validator("rate_limit_storage")
    @classmethod
    def _rate_storage(cls, value: str) -> str:
        storage_uri(value)
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [h.strip() for h in value.split(",") if h.strip()]
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _host_patterns(cls, value: list[str]) -> list[str]:
        return [host_pattern(entry) for entry in value]
    @field_validator("server_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("server_keys")
    @classmethod
    def _keys_are_long_tokens(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for n, key in enumerate(keys, start=1):
            _long_token(key, f"key {n} must be")
        return keys

    @field_validator("path_prefix", "admin_path")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        value = "/" + value.strip("/")
        if value == "/" or not all(c.isalnum() or c in "/_-" for c in value):
            raise ValueError("must be a non-root URL path of letters, digits, '_', '-' and '/'")
        return value

    @field_validator("admin_path")
    @classmethod
    def _admin_path_apart(cls, value: str, info: ValidationInfo) -> str:
        prefix = info.data.get("path_prefix")
        if prefix and (value == prefix or value.startswith(prefix + "/") or prefix.startswith(value + "/")):
            raise ValueError(f"must not overlap path_prefix ({prefix}): the console and the collect endpoint are apart")
        return value

    @field_validator("delivery_lease_s")
    @classmethod
    def _lease_outlives_a_request(cls, value: float, info: ValidationInfo) -> float:
        timeout = info.data.get("delivery_timeout_s")
        if timeout is not None and value <= timeout:
            raise ValueError("must be longer than delivery_timeout_s (a claim must outlive its request)")
        return value

    @field_validator("database_pool_max_size")
    @classmethod
    def _pool_holds_its_minimum(cls, value: int, info: ValidationInfo) -> int:
        least = info.data.get("database_pool_min_size")
        if least is not None and value < least:
            raise ValueError(f"must be at least database_pool_min_size ({least})")
        return value

    @property
    def uses_dev_secret(self) -> bool:
        return self.secret_key is None

    @property
    def signing_key(self) -> str:
        return self.secret_key.get_secret_value() if self.secret_key else DEV_SECRET_KEY

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, _EnvSource(settings_cls)]
        if _config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=_config_file))
        return tuple(sources)


class Settings(ServiceSettings, *SETTINGS):  # type: ignore[misc]
    """Every setting of leadrelay: the service's, then each vendor's, under one set of sources."""


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Load settings from an optional TOML file, the environment and explicit overrides.

    Raises ConfigError listing every problem: the file's, and every setting's.
    """
    global _config_file
    path = Path(config_file) if config_file is not None else None
    unreadable = _unreadable_file(path) if path is not None else None
    _config_file = None if unreadable else path
    try:
        settings = Settings(**overrides)
    except ConfigError as exc:
        if unreadable:
            raise ConfigError([unreadable, *exc.problems]) from None
        raise
    finally:
        _config_file = None
    if unreadable:
        # The file may name another database: without it, none is tried.
        raise ConfigError([unreadable])
    return settings


def _unreadable_file(path: Path) -> Problem | None:
    try:
        tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Problem(None, f"configuration file not found: {path}")
    except IsADirectoryError:
        return Problem(None, f"configuration file is a directory: {path}")
    except OSError as exc:
        return Problem(None, f"configuration file {path} cannot be read: {exc.strerror}")
    except UnicodeDecodeError:
        return Problem(None, f"configuration file {path} is not UTF-8 text")
    except tomllib.TOMLDecodeError as exc:
        return Problem(None, f"configuration file {path} is not valid TOML: {exc}")
    return None


def _problem(error: Any) -> Problem:
    """A pydantic error as a Problem about the setting it is at."""
    loc = [str(part) for part in error["loc"]]
    if not loc:
        return Problem(None, error["msg"].removeprefix("Value error, "))
    setting, inner = loc[0], loc[1:]
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(setting, Settings.model_fields, n=1)
        return Problem(setting, "not a leadrelay setting" + (f" (did you mean {close[0]}?)" if close else ""))
    message = error["msg"].removeprefix("Value error, ")
    if inner and setting != "allowed_origins":
        message = f"{'.'.join(inner)}: {message}"
    return Problem(setting, message)


def bind_address(value: str) -> tuple[str, int]:
    """`host:port` (`[::1]:9464` for IPv6) as (host, port); ValueError saying the form."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} is not host:port, e.g. 127.0.0.1:9464")
    return host, int(port)


def new_secret_key() -> str:
    """A key for `secret_key`: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)
