"""`reconcile-policy: detach-on-delete` on the Kubernetes side: the owner goes, what it made stays.

Children carry the owner's reference so the garbage collector deletes them with it; detaching removes exactly that
reference (a JSON patch that first tests it is still there) from every child before the operator lets the owner go.
The children are found by listing, not from memory, so a detach right after an operator restart misses none.
"""

from typing import Any

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from fabrikam.operator.api import OPERATOR_NAME
from fabrikam.operator.apply.client import ApiError, KubeApi
from fabrikam.operator.apply.resources import CHILD_RESOURCES, describe
from fabrikam.operator.handlers import cloud
from fabrikam.operator.handlers.runtime import Runtime

MANAGED_BY_SELECTOR = f"app.kubernetes.io/managed-by={OPERATOR_NAME}"


def unlinking(child: dict[str, Any], owner_uid: str) -> list[dict[str, Any]]:
    """The JSON patch removing `owner_uid`'s references from the child, last first so the indexes stay right."""
    references = child["metadata"].get("ownerReferences", [])
    operations: list[dict[str, Any]] = []
    for index in reversed([i for i, ref in enumerate(references) if ref.get("uid") == owner_uid]):
        path = f"/metadata/ownerReferences/{index}"
        operations += [{"op": "test", "path": f"{path}/uid", "value": owner_uid}, {"op": "remove", "path": path}]
    return operations


async def detach_children(api: KubeApi, owner: dict[str, Any]) -> list[str]:
    """Removes the owner's references from all its children; returns what was detached."""
    uid = owner["metadata"]["uid"]
    detached = []
    for resource in CHILD_RESOURCES:
        try:
            children = await api.list_all(resource, label_selector=MANAGED_BY_SELECTOR)
        except ApiError as error:
            if resource.optional and error.status == 404:
                continue  # its CRD is not installed (the Prometheus Operator's): no child of that kind exists
            raise
        for child in children:
            operations = unlinking(child, uid)
            if not operations:
                continue
            try:
                await api.json_patch(child, operations)
            except ApiError as error:
                if error.status not in (404, 422):  # gone meanwhile, or the reference already removed
                    raise
                continue
            detached.append(describe(child))
    return detached


async def follow_policy(api: KubeApi, body: dict[str, Any], policy: str) -> None:
    """Holds the detach finalizer exactly while the policy is detach-on-delete, so a deletion waits for the detach."""
    if policy == cloud.DETACH_ON_DELETE:
        await cloud.ensure_finalizer(api, body, cloud.DETACH_FINALIZER)
    else:
        await cloud.remove_finalizer(api, body, cloud.DETACH_FINALIZER)


@retry(
    retry=retry_if_exception_type((ApiError, OSError, TimeoutError)),
    wait=wait_exponential(multiplier=1, max=30),
    stop=stop_after_attempt(8),
    reraise=True,
)
async def on_delete(runtime: Runtime, body: dict[str, Any], policy: str) -> list[str]:
    """The owner is going: its children are detached if the policy (still) says so; then the finalizer goes.
    Retried here (about 2 minutes): an event handler is not retried by kopf, and no other event may come. Each
    attempt takes the API connection anew from `runtime`: a re-login in between replaces it."""
    detached = await detach_children(runtime.kube(), body) if policy == cloud.DETACH_ON_DELETE else []
    fresh = await runtime.kube().get(body)  # as it is now: kopf's own finalizer may have moved ours in the list
    if fresh is not None:
        await cloud.remove_finalizer(runtime.kube(), fresh, cloud.DETACH_FINALIZER)
    return detached
