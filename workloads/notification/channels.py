"""Email and SMS providers behind one small port, each call with a timeout, retries and a circuit breaker.

Email goes through plain SMTP locally and SendGrid's HTTP API in Azure; SMS through Twilio's HTTP API (seed:
external calls without timeouts, retries or circuit breakers; credentials in environment variables — here
the API keys come from Key Vault-mounted settings, never from the image).
"""

import asyncio
import smtplib
from email.message import EmailMessage
from typing import Protocol

import httpx
from purgatory import AsyncCircuitBreakerFactory

from fabrikam.workloads.kit.resilience import TransientError, retry_transient
from fabrikam.workloads.kit.settings import ServiceSettings, require


class PermanentFailure(Exception):
    """The provider refused this message (bad address, rejected sender): retrying cannot help."""


class Channel(Protocol):
    name: str

    async def send(self, recipient: str, subject: str, text: str) -> None: ...


class SmtpEmail:
    name = "email"

    def __init__(self, host: str, port: int, sender: str, timeout_seconds: float) -> None:
        self._host, self._port, self._sender, self._timeout = host, port, sender, timeout_seconds

    async def send(self, recipient: str, subject: str, text: str) -> None:
        await asyncio.to_thread(self._send, recipient, subject, text)

    def _send(self, recipient: str, subject: str, text: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self._sender, recipient, subject
        message.set_content(text)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                smtp.send_message(message)
        except smtplib.SMTPResponseException as error:
            if error.smtp_code >= 500:
                raise PermanentFailure(f"SMTP {error.smtp_code}: {error.smtp_error!r}") from error
            raise TransientError(f"SMTP {error.smtp_code}") from error
        except smtplib.SMTPRecipientsRefused as error:
            raise PermanentFailure(f"recipient refused: {recipient}") from error
        except smtplib.SMTPNotSupportedError as error:
            # A non-ASCII address (which the API accepts) to a server without SMTPUTF8: no retry can send it.
            raise PermanentFailure(f"SMTP server cannot take this address: {error}") from error
        except (OSError, smtplib.SMTPException) as error:
            raise TransientError(f"SMTP unreachable: {error!r}") from error


def _raise_for(response: httpx.Response) -> None:
    """5xx and 429 are transient (the kit retries them); other 4xx are this message's fault."""
    if response.status_code >= 500 or response.status_code == 429:
        response.raise_for_status()
    if response.status_code >= 400:
        raise PermanentFailure(f"{response.request.url.path} answered {response.status_code}: {response.text[:200]}")


class SendGridEmail:
    name = "email"

    def __init__(self, base_url: str, api_key: str, sender: str, timeout_seconds: float) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout_seconds, headers={"Authorization": f"Bearer {api_key}"}
        )
        self._sender = sender

    async def send(self, recipient: str, subject: str, text: str) -> None:
        body = {
            "personalizations": [{"to": [{"email": recipient}]}],
            "from": {"email": self._sender},
            "subject": subject,
            "content": [{"type": "text/plain", "value": text}],
        }
        _raise_for(await self._http.post("/v3/mail/send", json=body))

    async def close(self) -> None:
        await self._http.aclose()


class TwilioSms:
    name = "sms"

    def __init__(self, base_url: str, account_sid: str, auth_token: str, sender: str, timeout_seconds: float) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_seconds, auth=(account_sid, auth_token))
        self._path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._sender = sender

    async def send(self, recipient: str, subject: str, text: str) -> None:
        form = {"To": recipient, "From": self._sender, "Body": f"{subject}. {text}"[:1600]}
        _raise_for(await self._http.post(self._path, data=form))

    async def close(self) -> None:
        await self._http.aclose()


class Resilient:
    """A channel whose calls time out, retry transient failures with backoff, and trip a breaker."""

    def __init__(self, channel: Channel, breakers: AsyncCircuitBreakerFactory, timeout_seconds: float) -> None:
        self.name = channel.name
        self._channel = channel
        self._breakers = breakers
        self._timeout = timeout_seconds

    async def send(self, recipient: str, subject: str, text: str) -> None:
        async def attempt() -> None:
            async with asyncio.timeout(self._timeout):
                await self._channel.send(recipient, subject, text)

        breaker = await self._breakers.get_breaker(f"notification-{self.name}")
        async with breaker:
            await retry_transient(attempt, attempts=3, deadline_seconds=3 * self._timeout)


def channels_from(settings: ServiceSettings) -> dict[str, Channel]:
    """The configured providers; SMS is off until Twilio is configured."""
    timeout = settings.outbound_timeout_seconds
    email: Channel
    if settings.email_provider == "sendgrid":
        api_key = require(settings.sendgrid_api_key, "sendgrid_api_key")
        email = SendGridEmail(settings.sendgrid_url, api_key, settings.email_from, timeout)
    else:
        email = SmtpEmail(require(settings.smtp_host, "smtp_host"), settings.smtp_port, settings.email_from, timeout)
    channels: dict[str, Channel] = {"email": email}
    if settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from:
        channels["sms"] = TwilioSms(
            settings.twilio_url, settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_from, timeout
        )
    return channels
