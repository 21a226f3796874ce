"""Operator start-up and shutdown: kopf settings, the API connection, the metrics endpoint."""

import logging
import os
from typing import Any

import kopf
from prometheus_client import start_http_server

from fabrikam.operator.api import GROUP
from fabrikam.operator.apply.client import KubeApi
from fabrikam.operator.handlers.discovery import outlive_removed_crds
from fabrikam.operator.handlers.runtime import RUNTIME
from fabrikam.operator.handlers.settings import OperatorSettings
from fabrikam.operator.handlers.storage import LeanDiffBaseStorage
from fabrikam.operator.metrics import LEADER

SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
# azure-core logs every request and response (URL, headers) at INFO, thousands of lines per re-check at scale; what
# Azure did reaches people as conditions and Events, and every call is counted in the operator's metrics.
AZURE_SDK_LOGGERS = ("azure", "azure.core.pipeline.policies.http_logging_policy")


class _WithoutSuccessChatter(logging.Filter):
    """Drops kopf's "Handler 'x' succeeded." lines: thousands per minute at scale, and our own logs say more."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.endswith("succeeded.") and message.startswith(("Handler '", "Timer '")))


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, logger: kopf.Logger, **_: Any) -> None:
    # Only warnings become Events: our own Events say what changed; kopf's per-handler chatter would flood.
    settings.posting.level = logging.WARNING
    logging.getLogger("kopf.objects").addFilter(_WithoutSuccessChatter())
    for name in AZURE_SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # Progress and the last-handled spec live in annotations of our group; the status stays ours alone.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = LeanDiffBaseStorage(prefix=GROUP, key="last-handled-configuration")
    # One replica with a Recreate strategy: no peering objects needed (see charts/operator/README).
    settings.peering.standalone = True
    # Watches that never freeze silently (kopf issues #957, #847, #1276): the API server ends each watch after
    # server_timeout, the client gives up on one that went quiet beyond that (a server gone without closing the
    # connection), and a connection attempt to a server that is down fails fast, then kopf reconnects with backoff
    # and lists again, so nothing that changed in between is missed (tests/integration/operator/test_watch_restart.py).
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 15
    settings.watching.reconnect_backoff = 1.0
    # The Prometheus Operator's CRDs may be removed while the operator runs: a watch that finds its kind gone waits
    # for it to come back instead of stopping the operator (discovery.py).
    outlive_removed_crds(RUNTIME.discovery)
    # Bounded concurrency per resource kind: each reconcile holds its platform's peer list, so a thousand
    # reconciles at once cost memory quadratically and CPU in contention, not throughput.
    settings.queueing.worker_limit = RUNTIME.settings.worker_limit
    settings.networking.request_timeout = 60
    if not RUNTIME.settings.leader_election:
        LEADER.set(1)  # the only process: it reconciles (leadership.py sets it for elected replicas)
    if RUNTIME.settings.metrics_port and not RUNTIME.settings.leader_election:
        # With leader election the process serves its metrics from the start, standby included (leadership.py).
        start_http_server(RUNTIME.settings.metrics_port)
        logger.info("metrics on :%d/metrics", RUNTIME.settings.metrics_port)


def connect(ours: OperatorSettings, settings: kopf.OperatorSettings) -> tuple[kopf.ConnectionInfo, KubeApi]:
    """The pod's ServiceAccount in the cluster, the kubeconfig elsewhere (`ours.kubeconfig`, else $KUBECONFIG), and
    our API client on it."""
    if ours.kubeconfig:
        os.environ["KUBECONFIG"] = ours.kubeconfig
    info = kopf.login_with_service_account(settings=settings)
    token_file = SERVICE_ACCOUNT_TOKEN if info is not None else None
    if info is None:
        info = kopf.login_with_kubeconfig(settings=settings)
    if info is None:
        raise kopf.LoginError("no ServiceAccount token and no kubeconfig: cannot reach the Kubernetes API")
    return info, KubeApi(info.server, info.as_ssl_context(), info.as_http_headers(), token_file=token_file)


@kopf.on.login()
async def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo | None:
    """The pod's ServiceAccount in the cluster, the kubeconfig elsewhere; our own API client shares the result.

    kopf calls this again when the API server answers 401 (a rotated token), so the client is replaced too."""
    info, api = connect(RUNTIME.settings, settings)
    previous, RUNTIME.api = RUNTIME.api, api
    if previous is not None:
        await previous.close()
    return info


@kopf.on.cleanup()
async def close(**_: Any) -> None:
    await RUNTIME.azure.close()
    if RUNTIME.api is not None:
        await RUNTIME.api.close()
        RUNTIME.api = None
