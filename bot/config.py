"""All configuration in one pydantic-settings class: environment variables and `.env`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.secrets_policy import SECRET_RULES, secret_problem


class ConfigError(Exception):
    """A bad configuration value; the message is one line naming the variable."""


def _split_ids(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        # A refused value is never echoed into an error, which may hold a secret.
        hide_input_in_errors=True,
    )

    slack_bot_token: SecretStr | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(None, alias="SLACK_APP_TOKEN")
    slack_api_url: AnyHttpUrl = Field(AnyHttpUrl("https://slack.com/api/"), alias="SLACK_API_URL")
    socket_stale_after: float = Field(60.0, alias="DESKHAND_SOCKET_STALE_AFTER", gt=0)
    # How many times faster than Slack's published limits deskhand may call it: 1 for
    # Slack itself; more only against a stand-in (tests, the demo) that enforces as much.
    slack_rate_scale: float = Field(1.0, alias="DESKHAND_SLACK_RATE_SCALE", ge=1, le=1000)

    host: str = Field("0.0.0.0", alias="DESKHAND_HOST")  # noqa: S104 - a server listens on all interfaces
    port: int = Field(3000, alias="DESKHAND_PORT", ge=0, le=65535)
    database_url: str = Field("sqlite+aiosqlite:///./deskhand.db", alias="DESKHAND_DATABASE_URL")
    webhook_secret: SecretStr | None = Field(None, alias="DESKHAND_WEBHOOK_SECRET")
    alertmanager_token: SecretStr | None = Field(None, alias="DESKHAND_ALERTMANAGER_TOKEN")

    escalation_channel: str | None = Field(None, alias="DESKHAND_ESCALATION_CHANNEL")
    chatbot_callback_url: AnyHttpUrl | None = Field(None, alias="DESKHAND_CHATBOT_CALLBACK_URL")
    # NoDecode: a comma-separated list, not JSON (pydantic-settings would json.loads it).
    leads: Annotated[tuple[str, ...], NoDecode] = Field((), alias="DESKHAND_LEADS")
    ticketing: Literal["local", "zendesk", "intercom", "custom"] = Field(
        "local", alias="DESKHAND_TICKETING"
    )

    zendesk_url: AnyHttpUrl | None = Field(None, alias="ZENDESK_URL")
    zendesk_email: str | None = Field(None, alias="ZENDESK_EMAIL")
    zendesk_api_token: SecretStr | None = Field(None, alias="ZENDESK_API_TOKEN")
    intercom_url: AnyHttpUrl = Field(AnyHttpUrl("https://api.intercom.io"), alias="INTERCOM_URL")
    intercom_access_token: SecretStr | None = Field(None, alias="INTERCOM_ACCESS_TOKEN")
    intercom_ticket_type_id: str | None = Field(None, alias="INTERCOM_TICKET_TYPE_ID")
    intercom_admin_id: str | None = Field(None, alias="INTERCOM_ADMIN_ID")
    custom_ticketing_url: AnyHttpUrl | None = Field(None, alias="CUSTOM_TICKETING_URL")
    custom_ticketing_token: SecretStr | None = Field(None, alias="CUSTOM_TICKETING_TOKEN")
    offline_retry_interval: float = Field(300.0, alias="DESKHAND_OFFLINE_RETRY_INTERVAL", gt=0)
    offline_retry_window: float = Field(3600.0, alias="DESKHAND_OFFLINE_RETRY_WINDOW", gt=0)

    approval_channel: str | None = Field(None, alias="DESKHAND_APPROVAL_CHANNEL")
    approvers: Annotated[tuple[str, ...], NoDecode] = Field((), alias="DESKHAND_APPROVERS")
    agent_callback_url: AnyHttpUrl | None = Field(None, alias="DESKHAND_AGENT_CALLBACK_URL")
    payments: Literal["local", "stripe"] = Field("local", alias="DESKHAND_PAYMENTS")
    stripe_api_url: AnyHttpUrl = Field(AnyHttpUrl("https://api.stripe.com"), alias="STRIPE_API_URL")
    stripe_api_key: SecretStr | None = Field(None, alias="STRIPE_API_KEY")
    approval_expires_after: float = Field(86400.0, alias="DESKHAND_APPROVAL_EXPIRES_AFTER", gt=0)
    # Minor units of the amount to be refunded, whatever the currency.
    dual_approval_above: int | None = Field(None, alias="DESKHAND_DUAL_APPROVAL_ABOVE", ge=0)

    # Extensions beyond the contract (documented in docs/configuration.md).
    zendesk_webhook_secret: SecretStr | None = Field(None, alias="ZENDESK_WEBHOOK_SECRET")
    intercom_client_secret: SecretStr | None = Field(None, alias="INTERCOM_CLIENT_SECRET")
    custom_ticketing_webhook_secret: SecretStr | None = Field(
        None, alias="CUSTOM_TICKETING_WEBHOOK_SECRET"
    )
    # 0 turns polling off (webhooks only); only systems with a change feed are polled.
    ticket_poll_interval: float = Field(60.0, alias="DESKHAND_TICKET_POLL_INTERVAL", ge=0)
    ticket_drain_per_minute: int = Field(60, alias="DESKHAND_TICKET_DRAIN_PER_MINUTE", ge=1)
    assignment_retry_base: float = Field(30.0, alias="DESKHAND_ASSIGNMENT_RETRY_BASE", gt=0)
    assignment_retry_max: float = Field(1800.0, alias="DESKHAND_ASSIGNMENT_RETRY_MAX", gt=0)
    assignment_max_attempts: int = Field(10, alias="DESKHAND_ASSIGNMENT_MAX_ATTEMPTS", ge=1)
    max_open_claims: int = Field(3, alias="DESKHAND_MAX_OPEN_CLAIMS", ge=1)
    default_wait: float = Field(600.0, alias="DESKHAND_DEFAULT_WAIT", gt=0)
    queue_notify_every: float = Field(180.0, alias="DESKHAND_QUEUE_NOTIFY_EVERY", ge=0)
    messages_dir: str | None = Field(None, alias="DESKHAND_MESSAGES_DIR")
    backup_approvers: Annotated[tuple[str, ...], NoDecode] = Field(
        (), alias="DESKHAND_APPROVAL_BACKUP_APPROVERS"
    )
    # None: half of DESKHAND_APPROVAL_EXPIRES_AFTER (only with backup approvers).
    approval_escalate_after: float | None = Field(
        None, alias="DESKHAND_APPROVAL_ESCALATE_AFTER", gt=0
    )
    log_level: str = Field("INFO", alias="DESKHAND_LOG_LEVEL")
    log_format: Literal["json", "console"] = Field("json", alias="DESKHAND_LOG_FORMAT")
    outbox_backoff_base: float = Field(2.0, alias="DESKHAND_OUTBOX_BACKOFF_BASE", gt=0)
    # The longest wait between two tries of a transient failure, Retry-After included.
    outbox_retry_cap: float = Field(300.0, alias="DESKHAND_OUTBOX_RETRY_CAP", gt=0)
    # A delivery still failing transiently this long after it first fell due is dead.
    outbox_give_up_after: float = Field(172800.0, alias="DESKHAND_OUTBOX_GIVE_UP_AFTER", gt=0)
    # Replaced variables, read only to refuse them (see _replaced_variables): a setting
    # that silently stopped working would be worse than a start-up that names its successor.
    removed_outbox_max_attempts: str | None = Field(
        None, alias="DESKHAND_OUTBOX_MAX_ATTEMPTS", exclude=True, repr=False
    )
    removed_outbox_backoff_max: str | None = Field(
        None, alias="DESKHAND_OUTBOX_BACKOFF_MAX", exclude=True, repr=False
    )
    outbox_poll_interval: float = Field(2.0, alias="DESKHAND_OUTBOX_POLL_INTERVAL", gt=0)
    # How long a claimed delivery is held; a crashed process's rows come back after it.
    outbox_lease: float = Field(120.0, alias="DESKHAND_OUTBOX_LEASE", gt=0)
    outbox_retention: float = Field(7 * 86400.0, alias="DESKHAND_OUTBOX_RETENTION", gt=0)
    http_timeout: float = Field(10.0, alias="DESKHAND_HTTP_TIMEOUT", gt=0)
    run_migrations: bool = Field(True, alias="DESKHAND_RUN_MIGRATIONS")

    @field_validator("leads", "approvers", "backup_approvers", mode="before")
    @classmethod
    def _ids(cls, value: object) -> object:
        return _split_ids(value)

    @field_validator(*SECRET_RULES, mode="after")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None:
            problem = secret_problem(info.field_name or "", value.get_secret_value())
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @model_validator(mode="after")
    def _replaced_variables(self) -> Settings:
        replaced = {
            "DESKHAND_OUTBOX_MAX_ATTEMPTS": (
                self.removed_outbox_max_attempts,
                "DESKHAND_OUTBOX_GIVE_UP_AFTER (seconds after a delivery first fell due)",
            ),
            "DESKHAND_OUTBOX_BACKOFF_MAX": (
                self.removed_outbox_backoff_max,
                "DESKHAND_OUTBOX_RETRY_CAP (seconds)",
            ),
        }
        for old, (value, new) in replaced.items():
            if value is not None:
                raise ValueError(f"{old} is no longer supported: set {new} instead")
        return self

    @model_validator(mode="after")
    def _slack_pair(self) -> Settings:
        if (
            self.slack_bot_token is not None
            and self.slack_signing_secret is None
            and self.slack_app_token is None
        ):
            raise ValueError("SLACK_SIGNING_SECRET is required with SLACK_BOT_TOKEN in HTTP mode")
        return self

    @model_validator(mode="after")
    def _ticketing_credentials(self) -> Settings:
        required: dict[str, dict[str, object]] = {
            "zendesk": {
                "ZENDESK_URL": self.zendesk_url,
                "ZENDESK_EMAIL": self.zendesk_email,
                "ZENDESK_API_TOKEN": self.zendesk_api_token,
            },
            "intercom": {"INTERCOM_ACCESS_TOKEN": self.intercom_access_token},
            "custom": {
                "CUSTOM_TICKETING_URL": self.custom_ticketing_url,
                "CUSTOM_TICKETING_TOKEN": self.custom_ticketing_token,
            },
        }
        for variable, value in required.get(self.ticketing, {}).items():
            if not value:
                raise ValueError(f"{variable} is required with DESKHAND_TICKETING={self.ticketing}")
        if self.payments == "stripe" and self.stripe_api_key is None:
            raise ValueError("STRIPE_API_KEY is required with DESKHAND_PAYMENTS=stripe")
        return self

    @property
    def escalate_approvals_after(self) -> float | None:
        """Seconds before an undecided approval goes to the backup approvers, if any."""
        if not self.backup_approvers:
            return None
        if self.approval_escalate_after is not None:
            return min(self.approval_escalate_after, self.approval_expires_after)
        return self.approval_expires_after / 2

    @property
    def demo_mode(self) -> bool:
        """No Slack credentials: the bot runs the local demo."""
        return self.slack_bot_token is None

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None


def load_settings(**overrides: object) -> Settings:
    """Build Settings, turning a validation failure into one clear line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from exc


def describe_validation_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    loc = first.get("loc") or ()
    name = str(loc[0]) if loc else "configuration"
    field = Settings.model_fields.get(name)
    variable = field.alias if field is not None and field.alias else name
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if not loc:  # a rule across variables: its message names them
        return f"invalid configuration: {message}"
    return f"invalid configuration: {variable}: {message}"
