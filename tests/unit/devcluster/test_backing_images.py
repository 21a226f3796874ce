"""The backing stores' images as specifications: their packages, users, entrypoints, and PostgreSQL's first start."""

import os
import subprocess
from pathlib import Path

from fabrikam.devcluster import backing_images, images

# Stand-ins for PostgreSQL's programs: they record how the entrypoint calls them.
_INITDB = """#!/bin/sh
echo "initdb $*" >> "$CALLS"
echo 15 > "$PGDATA/PG_VERSION"
echo "host all all 127.0.0.1/32 trust" > "$PGDATA/pg_hba.conf"
"""
_POSTGRES = """#!/bin/sh
echo "postgres $*" >> "$CALLS"
if [ "$1" = --single ]; then echo "sql $(cat)" >> "$CALLS"; fi
"""


def _start(tmp_path: Path, **env: str) -> list[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, script in (("initdb", _INITDB), ("postgres", _POSTGRES)):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    entrypoint = tmp_path / "entrypoint"
    entrypoint.write_text(backing_images.POSTGRES_ENTRYPOINT_SCRIPT)
    entrypoint.chmod(0o755)
    calls = tmp_path / "calls"
    calls.write_text("")
    path = f"{bin_dir}:{os.environ['PATH']}"
    result = subprocess.run(
        [str(entrypoint), "-c", "max_connections=20"],
        env={"PATH": path, "CALLS": str(calls), **env},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return calls.read_text().splitlines()


def test_postgres_initialises_an_empty_data_folder_with_the_user_and_database_of_its_environment(
    tmp_path: Path,
) -> None:
    data = tmp_path / "volume" / "pgdata"
    calls = _start(tmp_path, PGDATA=str(data), POSTGRES_USER="account", POSTGRES_DB="accounts")
    assert calls[0] == "initdb --username=account --auth=trust --encoding=UTF8 --locale=C.UTF-8"
    assert calls[1] == f"postgres --single -j -D {data} postgres"
    assert calls[2] == 'sql CREATE DATABASE "accounts" OWNER "account";'
    assert calls[3] == f"postgres -D {data} -c listen_addresses=* -p 5432 -c max_connections=20"
    assert (data.stat().st_mode & 0o777) == 0o700
    assert (data / "pg_hba.conf").read_text().splitlines()[-1] == "host all all all trust"


def test_postgres_keeps_an_initialised_data_folder_and_only_starts(tmp_path: Path) -> None:
    data = tmp_path / "pgdata"
    _start(tmp_path, PGDATA=str(data), POSTGRES_USER="account", POSTGRES_DB="accounts")
    calls = _start(tmp_path, PGDATA=str(data), POSTGRES_USER="account", POSTGRES_DB="accounts")
    assert calls == [f"postgres -D {data} -c listen_addresses=* -p 5432 -c max_connections=20"]


def test_postgres_quotes_names_and_needs_no_database_of_its_own_for_the_default_user(tmp_path: Path) -> None:
    calls = _start(tmp_path / "a", PGDATA=str(tmp_path / "a" / "pgdata"), POSTGRES_DB='we"ird')
    assert 'sql CREATE DATABASE "we""ird" OWNER "postgres";' in calls
    calls = _start(tmp_path / "b", PGDATA=str(tmp_path / "b" / "pgdata"))
    assert calls[0].startswith("initdb --username=postgres ")
    assert not any(call.startswith("sql ") for call in calls)


def test_the_backing_stores_are_debian_packages_run_by_non_root_users() -> None:
    assert backing_images.REDIS.packages == ("redis-server",)
    assert backing_images.REDIS.entrypoint == ("redis-server",)  # no configuration file: the operator passes args
    assert backing_images.POSTGRES.packages == ("postgresql-15",)
    assert backing_images.MAIL.packages == ("python3-aiosmtpd",)
    for image in (backing_images.REDIS, backing_images.POSTGRES, backing_images.MAIL):
        assert image.user, image.repository
        assert image.user not in ("root", "0", "0:0"), image.repository
    assert not backing_images.FERRETDB_USER.startswith("0")


def test_postgres_finds_its_own_programs_first_and_starts_through_the_baked_in_script() -> None:
    env = dict(backing_images.POSTGRES.env)
    assert env["PATH"].split(":")[0] == "/usr/lib/postgresql/15/bin"
    [script] = backing_images.POSTGRES.files
    assert script.executable
    assert f"/{script.path}" == backing_images.POSTGRES.entrypoint[0]
    assert script.content.decode() == backing_images.POSTGRES_ENTRYPOINT_SCRIPT


def test_the_mail_sink_stores_each_message_in_a_maildir_as_the_pods_user() -> None:
    entrypoint = backing_images.MAIL.entrypoint
    assert entrypoint[:3] == ("python3", "-m", "aiosmtpd")
    assert "-n" in entrypoint  # no switch to `nobody`, which only root may do
    assert entrypoint[entrypoint.index("-l") + 1] == "0.0.0.0:2525"
    assert entrypoint[entrypoint.index("-c") + 1 :] == ("aiosmtpd.handlers.Mailbox", "/var/mail/sink")


def test_every_backing_image_has_a_repository_of_its_own_under_fabrikam() -> None:
    repositories = [
        backing_images.REDIS.repository,
        backing_images.POSTGRES.repository,
        backing_images.MAIL.repository,
        backing_images.FERRETDB_REPOSITORY,
    ]
    assert len(set(repositories)) == 4
    assert all(r.startswith("fabrikam/") for r in repositories)
    assert images.BASE_REPOSITORY not in repositories
