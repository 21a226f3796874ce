"""Digests of tagged images, asked of their registry through the distribution API v2 (a HEAD of the manifest, the
anonymous bearer-token dance when the registry wants one), so an adopted service runs exactly what ran before."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import httpx

from fabrikam.cli.adopt.images import DIGEST_PATTERN, InvalidImage, Resolution, parse_image

# A manifest list or OCI index first: its digest is the multi-platform image itself, as the tag names it.
MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
DEFAULT_TIMEOUT = 5.0
_CHALLENGE_PARAMETER = re.compile(r'(\w+)="([^"]*)"')


class _Unresolved(Exception):
    """Why a digest could not be had; becomes Resolution.reason."""


class _Challenged(Exception):
    """A 401 with the registry's WWW-Authenticate challenge: ask its token service, then again."""

    def __init__(self, challenge: str) -> None:
        super().__init__(challenge)
        self.challenge = challenge


def _bearer_token(client: httpx.Client, challenge: str, repository_path: str) -> str:
    """An anonymous pull token from the realm a `WWW-Authenticate: Bearer ...` challenge names."""
    scheme, _, parameters = challenge.partition(" ")
    if scheme.lower() != "bearer":
        raise _Unresolved(f"the registry asks for {scheme or 'unknown'} authentication (anonymous pull is refused)")
    fields = dict(_CHALLENGE_PARAMETER.findall(parameters))
    realm = fields.pop("realm", None)
    if realm is None:
        raise _Unresolved("the registry's bearer challenge names no realm")
    query = {key: value for key, value in fields.items() if key in ("service", "scope")}
    query.setdefault("scope", f"repository:{repository_path}:pull")
    response = client.get(realm, params=query)
    if response.status_code != 200:
        raise _Unresolved(f"the token service {realm} refused an anonymous pull token ({response.status_code})")
    body = response.json()
    token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise _Unresolved(f"the token service {realm} answered without a token")
    return token


def _digest(client: httpx.Client, url: str, headers: dict[str, str]) -> str:
    """The manifest's digest: the registry's Docker-Content-Digest, else the sha256 of the manifest itself."""
    response = client.head(url, headers=headers)
    if response.status_code == 200 and DIGEST_PATTERN.match(response.headers.get("Docker-Content-Digest", "")):
        return response.headers["Docker-Content-Digest"]
    if response.status_code in (200, 405):
        response = client.get(url, headers=headers)
        if response.status_code == 200:
            return f"sha256:{hashlib.sha256(response.content).hexdigest()}"
    if response.status_code == 401:
        raise _Challenged(response.headers.get("WWW-Authenticate", ""))
    if response.status_code == 404:
        raise _Unresolved("the registry has no such tag")
    raise _Unresolved(f"the registry answered {response.status_code}")


def lookup_digest(image: str, *, timeout: float = DEFAULT_TIMEOUT) -> Resolution:
    """The digest `image` names now, or the reason there is none (an unreachable registry, a refused pull, no such
    tag). An image already pinned by digest is answered without asking anyone."""
    try:
        name = parse_image(image)
    except InvalidImage as error:
        return Resolution(None, str(error))
    if name.digest is not None:
        return Resolution(name.digest)
    scheme = "http" if name.plain_http else "https"
    url = f"{scheme}://{name.api_host}/v2/{name.path}/manifests/{name.reference}"
    headers = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
    try:
        # trust_env=False: a proxy from the environment is not where the registry is.
        with httpx.Client(timeout=timeout, trust_env=False, follow_redirects=True) as client:
            try:
                return Resolution(_digest(client, url, headers))
            except _Challenged as challenged:
                token = _bearer_token(client, challenged.challenge, name.path)
                try:
                    return Resolution(_digest(client, url, headers | {"Authorization": f"Bearer {token}"}))
                except _Challenged:
                    raise _Unresolved("the registry refused the anonymous pull token") from None
    except _Unresolved as error:
        return Resolution(None, str(error))
    except httpx.TimeoutException:
        return Resolution(None, f"{name.api_host} did not answer within {timeout:g} s")
    except (httpx.HTTPError, ValueError) as error:
        return Resolution(None, f"{name.api_host} did not answer: {error}")


def resolve_digest(image: str, *, timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """The digest `image` names now, or None when its registry does not tell (see `lookup_digest` for why)."""
    return lookup_digest(image, timeout=timeout).digest


def lookup_digests(images: Iterable[str], *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Resolution]:
    """One lookup per distinct image."""
    return {image: lookup_digest(image, timeout=timeout) for image in sorted(set(images))}
