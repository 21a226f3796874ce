# syntax=docker/dockerfile:1
# One Dockerfile, two images, both running as UID 10001 (the UID the operator's rendered pods run as):
#   docker build --target operator  -t fabrikam/operator:0.1.0 .     # ENTRYPOINT fabrikam operator run
#   docker build --target workloads -t fabrikam/drone-delivery:0.1.0 .  # ENTRYPOINT fabrikam-svc <service>
#
# The base image is pinned by exact tag (Python patch release and Debian release) AND by digest; a tag can be
# re-pushed, a digest cannot. Change both build arguments together, e.g. to a newer patch release or a mirror:
#   docker buildx imagetools inspect python:3.11.11-slim-bookworm --format '{{json .Manifest.Digest}}'
#   docker build --build-arg PYTHON_IMAGE=myregistry.azurecr.io/library/python:3.11.11-slim-bookworm \
#                --build-arg PYTHON_DIGEST=sha256:<digest printed above> --target operator .
# Dependencies come from constraints.txt (exact pins, hack/constraints.py), the same file the tests run with.
ARG PYTHON_IMAGE=docker.io/library/python:3.11.11-slim-bookworm
ARG PYTHON_DIGEST=sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5

FROM ${PYTHON_IMAGE}@${PYTHON_DIGEST} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/fabrikam
WORKDIR /src
COPY constraints.txt pyproject.toml setup.py README.md ./
COPY operator ./operator
COPY workloads ./workloads
COPY cli ./cli
COPY devcluster ./devcluster
# Wheels only: every pinned dependency ships manylinux wheels, so a missing wheel fails the build instead of
# quietly needing a compiler. pip byte-compiles here, so the read-only runtime never has to write .pyc files.
# Then what the runtime never imports leaves the venv (docs/images.md has the sizes): pip and setuptools, test
# suites shipped inside wheels, and kubernetes.aio, the asyncio twin of the kubernetes client (68 MB with its
# bytecode; the operator talks to the API through kopf, the CLI through the synchronous client).
RUN /opt/fabrikam/bin/pip install --only-binary=:all: --constraint constraints.txt . \
 && /opt/fabrikam/bin/pip uninstall --yes pip setuptools \
 && cd /opt/fabrikam/lib/python3*/site-packages \
 && rm -rf kubernetes/aio \
 && find . -type d -name tests -prune -exec rm -rf {} +

FROM ${PYTHON_IMAGE}@${PYTHON_DIGEST} AS runtime
ARG PYTHON_IMAGE
ARG PYTHON_DIGEST
# CI passes the real values: --build-arg REVISION=$(git rev-parse HEAD) --build-arg CREATED=$(date -u +%FT%TZ) ...
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.vendor="Fabrikam" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}" \
      org.opencontainers.image.base.digest="${PYTHON_DIGEST}"
# Read-only root filesystem: no bytecode writes, nothing buffered, HOME and temp files under /tmp (an emptyDir).
ENV PATH=/opt/fabrikam/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONSAFEPATH=1 \
    HOME=/tmp \
    TMPDIR=/tmp
COPY --from=build /opt/fabrikam /opt/fabrikam
WORKDIR /tmp
USER 10001:10001

FROM runtime AS workloads
LABEL org.opencontainers.image.title="fabrikam-drone-delivery" \
      org.opencontainers.image.description="The Fabrikam Drone Delivery services; run one with: fabrikam-svc <service>"
EXPOSE 8080
ENTRYPOINT ["fabrikam-svc"]

# Last, so a build without --target gives the operator.
FROM runtime AS operator
LABEL org.opencontainers.image.title="fabrikam-operator" \
      org.opencontainers.image.description="The Fabrikam Drone Delivery Kubernetes operator (kopf)"
# 8080: Prometheus metrics (FABRIKAM_OPERATOR_METRICS_PORT); 8081: kopf's liveness endpoint /healthz.
EXPOSE 8080 8081
ENTRYPOINT ["fabrikam", "operator", "run"]
