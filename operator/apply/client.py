"""The one door to the Kubernetes API for the operator's own writes: get, server-side apply, status, delete."""

from typing import Any

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

from fabrikam.operator.apply.resources import resource_of

FIELD_MANAGER = "fabrikam-operator"
# Sets a new Deployment's starting replicas once and never again, so the HPA is the only owner after that.
INITIAL_REPLICAS_MANAGER = "fabrikam-operator-initial-replicas"
_JSON_RESPONSES = {200: "object", 201: "object", 202: "object"}


class KubeApi:
    """Thin async wrapper over kubernetes_asyncio's ApiClient for the generic REST calls the applier needs."""

    def __init__(self, api_client: k8s.ApiClient) -> None:
        self._api = api_client

    @classmethod
    async def connect(cls, kubeconfig: str | None = None) -> "KubeApi":
        """In the cluster: the pod's ServiceAccount; elsewhere: the kubeconfig ($KUBECONFIG or the given path)."""
        configuration = k8s.Configuration()
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except k8s_config.ConfigException:
            await k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        configuration.connection_pool_maxsize = 32
        return cls(k8s.ApiClient(configuration))

    async def close(self) -> None:
        await self._api.close()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Raises ApiException for any status outside 2xx; returns the decoded JSON body."""
        return await self._api.call_api(
            path,
            method,
            auth_settings=["BearerToken"],
            response_types_map=_JSON_RESPONSES,
            _return_http_data_only=True,
            **kwargs,
        )

    async def get(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """The live object, or None when it does not exist."""
        meta = obj["metadata"]
        try:
            found: dict[str, Any] = await self._call("GET", resource_of(obj).path(meta["name"], meta.get("namespace")))
        except ApiException as error:
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
            query_params=[("fieldManager", field_manager), ("force", "true")],
            header_params={"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"},
            body=obj,
        )
        return applied

    async def delete(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        try:
            await self._call(
                "DELETE",
                resource_of(obj).path(meta["name"], meta.get("namespace")),
                body={"propagationPolicy": "Background"},
            )
        except ApiException as error:
            if error.status != 404:
                raise

    async def patch_status(self, obj: dict[str, Any], status: dict[str, Any]) -> None:
        """Merge-patches the status subresource; the spec is never written by the operator."""
        meta = obj["metadata"]
        await self._call(
            "PATCH",
            resource_of(obj).path(meta["name"], meta.get("namespace")) + "/status",
            header_params={"Content-Type": "application/merge-patch+json", "Accept": "application/json"},
            body={"status": status},
        )

    async def json_patch(self, obj: dict[str, Any], operations: list[dict[str, Any]]) -> None:
        """RFC 6902 patch: `test` then `add`/`remove` touches exactly one list item (finalizers) without races."""
        meta = obj["metadata"]
        await self._call(
            "PATCH",
            resource_of(obj).path(meta["name"], meta.get("namespace")),
            header_params={"Content-Type": "application/json-patch+json", "Accept": "application/json"},
            body=operations,
        )
