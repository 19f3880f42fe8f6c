"""The service's settings: one typed object read from the environment and validated at start-up.

Every variable is documented in the README and in `.env.example`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.store import is_postgres


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GAIA_", extra="ignore", populate_by_name=True)

    host: str = Field("127.0.0.1", validation_alias=AliasChoices("HOST", "GAIA_HOST"))
    port: int = Field(8000, ge=1, le=65535, validation_alias=AliasChoices("PORT", "GAIA_PORT"))
    data_dir: Path = Path("var")
    database_url: str | None = None
    public_url: str = ""  # base of invite links; empty = the request's own origin

    auth_mode: Literal["local", "oidc"] = "local"
    jwt_secret: str | None = None  # local mode; generated into the data dir when unset
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None

    llm_base_url: str | None = None  # unset = the offline demo narrator
    llm_api_key: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(60.0, gt=0)
    llm_max_attempts: int = Field(4, ge=1, le=10)
    narration_deadline_seconds: float = Field(300.0, gt=0)

    cors_origins: str = ""  # comma-separated exact origins
    trust_proxy_headers: bool = False
    max_turn_chars: int = Field(8000, ge=1)
    snapshot_interval: int = Field(100, ge=0)
    session_idle_ttl_minutes: float = Field(30.0, gt=0)
    prune_interval_seconds: float = Field(60.0, gt=0)
    read_barrier_seconds: float = Field(2.0, ge=0, le=30)
    resume_sweep_seconds: float = Field(30.0, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    invite_accepts_per_user_per_minute: int = Field(10, ge=1)
    invite_accepts_per_address_per_minute: int = Field(60, ge=1)
    invite_default_expiry_seconds: int = Field(7 * 24 * 3600, ge=1)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not is_postgres(value):
            raise ValueError("must be a postgresql:// URL, or unset for the embedded SQLite store")
        return value

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        if self.auth_mode == "oidc":
            missing = [
                name
                for name, value in (
                    ("GAIA_OIDC_ISSUER", self.oidc_issuer),
                    ("GAIA_OIDC_AUDIENCE", self.oidc_audience),
                    ("GAIA_OIDC_JWKS_URL", self.oidc_jwks_url),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"GAIA_AUTH_MODE=oidc needs {', '.join(missing)}")
        return self

    @property
    def cors_origin_list(self) -> list[str]:
        origins = [o.strip() for o in self.cors_origins.split(",") if o.strip()]
        if "*" in origins:
            raise ValueError("GAIA_CORS_ORIGINS takes exact origins, never a wildcard")
        return origins
