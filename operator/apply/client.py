"""The one door to the Kubernetes API for the operator's own writes: get, server-side apply, status, patches.

Plain aiohttp (kopf's own HTTP stack) instead of a generated client: the generated clients import ~800 model
modules and cost ~80 MB per process for the handful of generic REST calls made here.
"""

import json
import ssl
import time
from pathlib import Path
from typing import Any

import aiohttp

from fabrikam.operator.api import OPERATOR_NAME
from fabrikam.operator.apply.resources import Resource, resource_of

FIELD_MANAGER = OPERATOR_NAME
# Sets a new Deployment's starting replicas once and never again, so the HPA is the only owner after that.
INITIAL_REPLICAS_MANAGER = "fabrikam-operator-initial-replicas"
_TOKEN_REREAD_SECONDS = 60.0


class ApiError(Exception):
    """The API server answered outside 2xx; `status` and `body` (the Status object as text) say why."""

    def __init__(self, status: int, reason: str, body: str) -> None:
        super().__init__(f"{status} {reason}: {body[:500]}")
        self.status, self.reason, self.body = status, reason, body


class KubeApi:
    """Generic REST calls on one pooled HTTPS session; TLS and credentials come from the operator's login."""

    def __init__(
        self,
        server: str,
        ssl_context: ssl.SSLContext,
        headers: dict[str, str],
        *,
        token_file: str | None = None,
        pool_size: int = 32,
    ) -> None:
        self._session = aiohttp.ClientSession(
            base_url=server,
            connector=aiohttp.TCPConnector(ssl=ssl_context, limit=pool_size),
            timeout=aiohttp.ClientTimeout(total=60),
        )
        self._headers, self._token_file, self._token_read = headers, token_file, time.monotonic()

    async def close(self) -> None:
        await self._session.close()

    def _authorization(self) -> dict[str, str]:
        """The login's headers; a projected ServiceAccount token is rotated by the kubelet, so it is re-read."""
        if self._token_file and time.monotonic() - self._token_read > _TOKEN_REREAD_SECONDS:
            self._headers = {"Authorization": f"Bearer {Path(self._token_file).read_text().strip()}"}
            self._token_read = time.monotonic()
        return self._headers

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> Any:
        """Raises ApiError for any status outside 2xx; returns the decoded JSON body."""
        headers = {"Accept": "application/json", **self._authorization()}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body)
        async with self._session.request(method, path, data=data, headers=headers, params=params) as response:
            text = await response.text()
            if not 200 <= response.status < 300:
                raise ApiError(response.status, response.reason or "", text)
            return json.loads(text) if text else None

    async def get(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """The live object, or None when it does not exist."""
        meta = obj["metadata"]
        try:
            found: dict[str, Any] = await self._call("GET", resource_of(obj).path(meta["name"], meta.get("namespace")))
        except ApiError as error:
            if error.status == 404:
                return None
            raise
        return found

    async def apply(self, obj: dict[str, Any], field_manager: str = FIELD_MANAGER) -> dict[str, Any]:
        """Server-side apply with our field manager, forcing ownership of the fields we render."""
        meta = obj["metadata"]
        applied: dict[str, Any] = await self._call(
            "PATCH",
            resource_of(obj).path(meta["name"], meta.get("namespace")),
            params={"fieldManager": field_manager, "force": "true"},
            content_type="application/apply-patch+yaml",
            body=obj,
        )
        return applied

    async def create(self, obj: dict[str, Any]) -> bool:
        """Creates the object unless one of that name exists (then leaves it untouched and returns False)."""
        meta = obj["metadata"]
        try:
            await self._call("POST", resource_of(obj).collection(meta.get("namespace")), body=obj)
        except ApiError as error:
            if error.status == 409:
                return False
            raise
        return True

    async def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        """PUT the whole object; with `metadata.resourceVersion` set, the API server refuses (409) an object changed
        since it was read."""
        meta = obj["metadata"]
        replaced: dict[str, Any] = await self._call(
            "PUT", resource_of(obj).path(meta["name"], meta.get("namespace")), body=obj
        )
        return replaced

    async def delete(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        try:
            await self._call(
                "DELETE",
                resource_of(obj).path(meta["name"], meta.get("namespace")),
                body={"propagationPolicy": "Background"},
            )
        except ApiError as error:
            if error.status != 404:
                raise

    async def patch_status(self, obj: dict[str, Any], status: dict[str, Any]) -> None:
        """Merge-patches the status subresource; the spec is never written by the operator."""
        meta = obj["metadata"]
        await self._call(
            "PATCH",
            resource_of(obj).path(meta["name"], meta.get("namespace")) + "/status",
            content_type="application/merge-patch+json",
            body={"status": status},
        )

    async def served_kinds(self, api_version: str) -> frozenset[str]:
        """The kinds the API server serves in a group version (its discovery document); none when it serves none of
        them (their CRDs are not installed)."""
        path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        try:
            found = await self._call("GET", path)
        except ApiError as error:
            if error.status == 404:
                return frozenset()
            raise
        return frozenset(r["kind"] for r in found.get("resources", []) if "/" not in r["name"])

    async def list_all(self, resource: Resource, *, label_selector: str) -> list[dict[str, Any]]:
        """Every object of `resource`, in all namespaces, matching the selector; each with its apiVersion and kind."""
        found = await self._call("GET", f"{resource.base}/{resource.plural}", params={"labelSelector": label_selector})
        items: list[dict[str, Any]] = found.get("items", [])
        return [{"apiVersion": resource.api_version, "kind": resource.kind, **item} for item in items]

    async def json_patch(self, obj: dict[str, Any], operations: list[dict[str, Any]]) -> None:
        """RFC 6902 patch: `test` then `add`/`remove` touches exactly one list item (finalizers) without races."""
        meta = obj["metadata"]
        await self._call(
            "PATCH",
            resource_of(obj).path(meta["name"], meta.get("namespace")),
            content_type="application/json-patch+json",
            body=operations,
        )
