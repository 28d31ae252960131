"""Settings: embedded defaults, then a TOML file, then LEADRELAY_* environment variables (highest)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from leadrelay.trust.rate_limits import parse_limit, storage_uri
from leadrelay.vendors import SETTINGS

DEV_SECRET_KEY = "leadrelay-development-secret-key-do-not-use-in-production"

_config_file: Path | None = None


class ServiceSettings(BaseSettings):
    """The settings of the service itself; each vendor brings its own (leadrelay.vendors). The README documents each one."""

    model_config = SettingsConfigDict(env_prefix="LEADRELAY_", extra="forbid", validate_default=True)

    # Service
    environment: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///leadrelay.db"
    secret_key: SecretStr | None = None
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    path_prefix: str = "/lr"
    demo: bool = True
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_batch_events: int = Field(default=50, ge=1, le=1000)
    max_rejected_raw_bytes: int = Field(default=16 * 1024, ge=0)
    trust_proxy_headers: bool = False

    # Abuse: rate limits and the rejections kept (leadrelay.trust.rate_limits)
    rate_limit_storage: str = "memory://"
    rate_limit_per_ip: str = "600/minute"
    rate_limit_per_visitor: str = "120/minute"
    rejections_kept_per_hour: int = Field(default=20, ge=0)
    rejections_kept_total_per_hour: int = Field(default=1000, ge=0)
    rejection_retention_days: float = Field(default=7.0, gt=0)

    # Identity and click ids
    attribution: Literal["last-click", "first-click"] = "last-click"
    cookie_domain: str | None = None

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

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [o.strip().rstrip("/") for o in value.split(",") if o.strip()]
        return value

    @field_validator("rate_limit_per_ip", "rate_limit_per_visitor")
    @classmethod
    def _rate(cls, value: str) -> str:
        parse_limit(value)
        return value

    @field_validator("rate_limit_storage")
    @classmethod
    def _rate_storage(cls, value: str) -> str:
        storage_uri(value)
        return value

    @field_validator("path_prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        value = "/" + value.strip("/")
        if value == "/" or not all(c.isalnum() or c in "/_-" for c in value):
            raise ValueError("must be a non-root URL path of letters, digits, '_', '-' and '/'")
        return value

    @model_validator(mode="after")
    def _lease_outlives_a_request(self) -> Settings:
        if self.delivery_lease_s <= self.delivery_timeout_s:
            raise ValueError("delivery_lease_s must be longer than delivery_timeout_s (a claim must outlive its request)")
        return self

    @model_validator(mode="after")
    def _production_needs_a_secret(self) -> Settings:
        if self.environment == "production" and self.secret_key is None:
            raise ValueError("secret_key is required when environment is 'production' (set LEADRELAY_SECRET_KEY)")
        return self

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
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if _config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=_config_file))
        return tuple(sources)


class Settings(ServiceSettings, *SETTINGS):  # type: ignore[misc]
    """Every setting of leadrelay: the service's, then each vendor's, under one set of sources."""


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Load settings from an optional TOML file, the environment and explicit overrides.

    Raises pydantic.ValidationError (or FileNotFoundError) describing every problem.
    """
    global _config_file
    path = Path(config_file) if config_file is not None else None
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"configuration file not found: {path}")
    _config_file = path
    try:
        return Settings(**overrides)
    finally:
        _config_file = None


def new_secret_key() -> str:
    return secrets.token_urlsafe(32)
