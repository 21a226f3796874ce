"""What a service needs configured before it can serve, checked before anything is built.

A connection or key left unset used to fall back to localhost, or to a file created in the pod: lost on restart
and different in every replica. Now such a service still starts (liveness stays green, so it is not restarted in
a loop) but is never ready: `/readyz` names each missing piece under its readiness name with the variable to
set, and no queue consumer runs.
"""

from enum import StrEnum
from pathlib import Path

from fabrikam.workloads.kit.settings import (
    ISSUER_KEY_OBJECT,
    MONGO_URL_CONFLICT,
    PII_KEY_OBJECT,
    KeyFile,
    ServiceSettings,
    env_name,
)


class Need(StrEnum):
    """A dependency, named as in `/readyz` (the same name as its readiness check once configured)."""

    REDIS = "redis"
    BROKER = "broker"
    MONGO = "mongo"
    DATABASE = "database"
    EMAIL = "email"
    PII_KEY = "pii-key"
    ISSUER = "issuer"


def _unset(*settings: str) -> str:
    return "not configured: set " + " or ".join(env_name(setting) for setting in settings)


def _key_missing(key: KeyFile | None, object_name: str, local_setting: str) -> str | None:
    if key is None:
        return f"{_unset('secrets_dir', local_setting)} (the secrets directory holds {object_name})"
    if not key.create and not key.path.is_file():
        return f"not configured: no key file {key.path}"
    return None


def _reason(settings: ServiceSettings, need: Need) -> str | None:
    """Why `need` is not configured, or None when it is."""
    match need:
        case Need.REDIS:
            return None if settings.redis_url else _unset("redis_url")
        case Need.BROKER:
            unset = settings.broker == "servicebus" and not settings.servicebus_namespace
            return _unset("servicebus_namespace") + " (FABRIKAM_BROKER=servicebus)" if unset else None
        case Need.MONGO:
            if settings.mongo_url and settings.mongo_url_file:
                return f"misconfigured: {MONGO_URL_CONFLICT}"
            if settings.mongo_url_file and not Path(settings.mongo_url_file).is_file():
                # The CSI driver mounts the file before the container starts: absent, the object or path is wrong.
                return f"not configured: no file {settings.mongo_url_file} ({env_name('mongo_url_file')})"
            return None if settings.mongo_url or settings.mongo_url_file else _unset("mongo_url", "mongo_url_file")
        case Need.DATABASE:
            return None if settings.database_url else _unset("database_url")
        case Need.EMAIL:
            if settings.email_provider == "sendgrid":
                unset = not settings.sendgrid_api_key
                return f"{_unset('sendgrid_api_key')} (or the sendgrid-api-key secret file)" if unset else None
            return None if settings.smtp_host else _unset("smtp_host")
        case Need.PII_KEY:
            return _key_missing(settings.pii_key(), PII_KEY_OBJECT, "pii_key_file")
        case Need.ISSUER:
            if not settings.account_local_issuer:
                return None if settings.auth_issuer else _unset("auth_issuer") + " (the local issuer is off)"
            return _key_missing(settings.issuer_key(), ISSUER_KEY_OBJECT, "account_key_dir")


def missing(settings: ServiceSettings, needs: tuple[Need, ...]) -> dict[str, str]:
    """Readiness name -> what to set, for every need that is not configured."""
    reasons = {need.value: _reason(settings, need) for need in needs}
    return {name: reason for name, reason in reasons.items() if reason is not None}
