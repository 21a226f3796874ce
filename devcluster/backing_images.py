"""Images of the development backing stores the operator runs in the cluster: Redis, PostgreSQL, a MongoDB-wire
server (FerretDB) and an SMTP sink, built like the project's own images and referenced by digest.

Redis, PostgreSQL and the mail sink are Debian bookworm's own packages (`images.debian_image`); FerretDB is its
static binary alone (`images.static_image`). Each runs as a non-root user (numeric, for `runAsNonRoot`) on a
read-only root: what it writes goes to the volumes the operator mounts (Redis `/data`, PostgreSQL the data volume
plus emptyDirs at /var/run/postgresql and /tmp, FerretDB `/data` and `/state`, the mail sink `/var/mail`, where it
makes its Maildir `sink`: a Maildir that already exists empty, such as a volume's root, lacks the folders it needs).
The operator passes the servers' arguments (Redis needs `--protected-mode no` to answer other pods).
"""

from collections.abc import Callable
from dataclasses import dataclass

from fabrikam.devcluster import images, toolchain, versions

Progress = Callable[[str], None]

POSTGRES_BIN = "/usr/lib/postgresql/15/bin"
POSTGRES_ENTRYPOINT = "/usr/local/bin/postgres-entrypoint"
# Development only: host connections are trusted, the cluster's NetworkPolicy decides who may connect at all.
POSTGRES_ENTRYPOINT_SCRIPT = """#!/bin/sh
# Initialises an empty data folder on first start (superuser $POSTGRES_USER, database $POSTGRES_DB, every connection
# trusted), then runs the server in the foreground on 0.0.0.0:5432 with the arguments given.
set -eu
: "${PGDATA:=/var/lib/postgresql/data/pgdata}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
export PGDATA
identifier() { printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')"; }
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"
    chmod 0700 "$PGDATA"
    initdb --username="$POSTGRES_USER" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >&2
    echo "host all all all trust" >> "$PGDATA/pg_hba.conf"
    if [ "$POSTGRES_DB" != postgres ]; then
        echo "CREATE DATABASE $(identifier "$POSTGRES_DB") OWNER $(identifier "$POSTGRES_USER");" |
            postgres --single -j -D "$PGDATA" postgres >&2
    fi
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -p 5432 "$@"
"""
MAIL_DIR = "/var/mail/sink"

REDIS = images.DebianImage(
    "fabrikam/redis",
    ("redis-server",),
    entrypoint=("redis-server",),
    user="redis",
    workdir="/data",
    # Where a bare `redis-server` saves its snapshot; the operator mounts the volume here.
    customize=('mkdir -p "$1/data" && chroot "$1" chown redis:redis /data',),
)
POSTGRES = images.DebianImage(
    "fabrikam/postgres",
    ("postgresql-15",),
    files=(images.InputFile(POSTGRES_ENTRYPOINT.lstrip("/"), POSTGRES_ENTRYPOINT_SCRIPT.encode(), executable=True),),
    entrypoint=(POSTGRES_ENTRYPOINT,),
    user="postgres",
    env=(("PATH", f"{POSTGRES_BIN}:{images.BASE_ENV['PATH']}"), ("LANG", "C.UTF-8")),
    # The package's post-installation made a cluster `main` the entrypoint never uses.
    customize=('rm -rf "$1/var/lib/postgresql/15" "$1/etc/postgresql/15"',),
)
MAIL = images.DebianImage(
    "fabrikam/mail-sink",
    ("python3-aiosmtpd",),
    # -n: stay the user the pod runs as (aiosmtpd would switch to `nobody`, which needs root).
    entrypoint=(
        "python3",
        "-m",
        "aiosmtpd",
        "-n",
        "-l",
        "0.0.0.0:2525",
        "-c",
        "aiosmtpd.handlers.Mailbox",
        MAIL_DIR,
    ),
    user="65534:65534",
)
FERRETDB_REPOSITORY = "fabrikam/ferretdb"
FERRETDB_USER = "65532:65532"


@dataclass(frozen=True)
class BackingImages:
    """`127.0.0.1:PORT/fabrikam/...@sha256:...` of each backing store's image."""

    redis: str
    postgres: str
    mongo: str
    mail: str


def build(progress: Progress) -> BackingImages:
    """Builds (only what changed) and pushes the four images; returns their references by digest."""
    ferretdb = toolchain.go_binary(versions.FERRETDB_BINARY, progress)
    return BackingImages(
        redis=images.debian_image(REDIS, progress),
        postgres=images.debian_image(POSTGRES, progress),
        mongo=images.static_image(FERRETDB_REPOSITORY, {"/ferretdb": ferretdb}, ["/ferretdb"], FERRETDB_USER, progress),
        mail=images.debian_image(MAIL, progress),
    )
