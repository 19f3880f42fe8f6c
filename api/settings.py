"""The service's settings: one typed object read from the environment and validated at start-up.

Every variable is documented in the README and in `.env.example`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.adapters.config import is_postgres
from domain.inputs import MAX_JSON_DEPTH


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GAIA_", extra="ignore", populate_by_name=True)

    host: str = Field("127.0.0.1", validation_alias=AliasChoices("HOST", "GAIA_HOST"))
    port: int = Field(8000, ge=1, le=65535, validation_alias=AliasChoices("PORT", "GAIA_PORT"))
    data_dir: Path = Path("var")
    database_url: str | None = None
    public_url: str = ""  # base of invite links; empty = the request's own origin

    auth_mode: Literal["local", "oidc"] = "local"
    jwt_secret: str | None = None  # local mode; generated into the data dir when unset
    # Signs export trailers (Ed25519: PEM, or base64 of the raw 32-byte private key); generated
    # into the data dir when unset. Every instance must sign with the one key auditors hold.
    # Checked when the service starts (api.keyfiles), so a bad value is never echoed back.
    export_signing_key: str | None = None
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
    # Largest request body but a media upload's (which has GAIA_MAX_UPLOAD_BYTES): 413 beyond,
    # from Content-Length before reading, else as soon as the streamed body crosses it.
    max_body_bytes: int = Field(1024 * 1024, ge=1)
    # Campaign settings: their size as compact UTF-8 JSON, and how deep they may nest (at most
    # the domain's own limit); every read of the session carries them.
    max_settings_bytes: int = Field(64 * 1024, ge=2)
    max_json_depth: int = Field(32, ge=1, le=MAX_JSON_DEPTH)
    snapshot_interval: int = Field(100, ge=0)
    session_idle_ttl_minutes: float = Field(30.0, gt=0)
    prune_interval_seconds: float = Field(60.0, gt=0)
    read_barrier_seconds: float = Field(2.0, ge=0, le=30)
    resume_sweep_seconds: float = Field(30.0, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # auto: readable lines when stdout is a terminal, Cloud Logging JSON otherwise (a container).
    log_format: Literal["auto", "json", "text"] = "auto"
    # Set: /metrics wants "Authorization: Bearer <it>". Stripped (a secret file often ends in a
    # newline); an empty or short value is refused at start rather than leaving /metrics open.
    metrics_token: str | None = None
    invite_accepts_per_user_per_minute: int = Field(10, ge=1)
    invite_accepts_per_address_per_minute: int = Field(60, ge=1)
    # Quotas on what costs money or capacity (api/ratelimit.py): each refusal is 429
    # rate_limited with Retry-After. Rates and stream counts are per instance; the pending-turn
    # and stored-bytes caps are read from the store and hold for the whole service. False turns
    # every quota off, invite accepts included (load tests).
    quotas_enabled: bool = True
    guest_signups_per_address_per_hour: int = Field(30, ge=1)
    sessions_per_user_per_hour: int = Field(30, ge=1)  # new campaigns and forks
    turns_per_user_per_minute: int = Field(20, ge=1)
    turns_per_session_per_minute: int = Field(60, ge=1)
    pending_turns_per_session: int = Field(10, ge=1)
    retries_per_turn_per_hour: int = Field(5, ge=1)
    streams_per_user: int = Field(20, ge=1)
    streams_per_instance: int = Field(2000, ge=1)
    uploads_per_user_per_hour: int = Field(60, ge=1)
    uploads_per_session_per_hour: int = Field(120, ge=1)
    media_bytes_per_session: int = Field(1024**3, ge=1)
    invite_default_expiry_seconds: int = Field(7 * 24 * 3600, ge=1)
    # Live streams: heartbeat comment interval; backup poll for other instances' writes (a lost
    # NOTIFY delays an event by at most this); how long streams get on shutdown to send their
    # retry hint, which must stay below uvicorn's 8 s graceful timeout (api/server.py).
    stream_heartbeat_seconds: float = Field(15.0, gt=0)
    stream_poll_seconds: float = Field(5.0, gt=0)
    stream_shutdown_grace_seconds: float = Field(3.0, ge=0, lt=8)
    # Streams end themselves (with a retry hint) before Cloud Run's request timeout cuts them.
    stream_max_seconds: float = Field(55 * 60.0, gt=0)

    # Media: where the bytes live (file:///dir or gs://bucket/prefix; empty = <data dir>/media),
    # the upload limit, signed GCS download URLs, and the optional image and speech providers.
    media_url: str = ""
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1)
    # Images whose header claims more pixels are refused (422 image_too_large): a small file can
    # claim a canvas that takes every member's browser gigabytes to decode.
    max_image_pixels: int = Field(50_000_000, ge=1)
    media_signed_urls: bool = True
    gcs_project: str | None = None
    gcs_credentials_file: Path | None = None  # a service-account key; else the default account
    image_base_url: str | None = None  # unset = no generated images
    image_api_key: str | None = None
    image_model: str = "gpt-image-1"
    image_size: str = "1024x1024"
    image_timeout_seconds: float = Field(120.0, gt=0)
    speech_base_url: str | None = None  # unset = no narration audio
    speech_api_key: str | None = None
    speech_model: str = "tts-1"
    speech_voice: str = "alloy"
    speech_timeout_seconds: float = Field(60.0, gt=0)
    # The project named in log entries' trace field; Cloud Run does not set it, service.yaml does.
    google_cloud_project: str | None = Field(
        None, validation_alias=AliasChoices("GOOGLE_CLOUD_PROJECT", "GAIA_GOOGLE_CLOUD_PROJECT")
    )

    @field_validator("media_url")
    @classmethod
    def _media_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if not value or (parts.scheme == "file" and not parts.netloc and parts.path[:1] == "/"):
            return value
        if parts.scheme == "gs" and re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,220}", parts.netloc):
            return value
        raise ValueError(
            "must be file:///absolute/dir or gs://bucket/prefix, or unset for <data dir>/media"
        )

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not is_postgres(value):
            raise ValueError("must be a postgresql:// URL, or unset for the embedded SQLite store")
        return value

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value.strip()) < 16:  # noqa: PLR2004
            raise ValueError("must be at least 16 characters (or unset: /metrics is then open)")
        return value.strip()

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
