"""Run a command against a throwaway "external" PostgreSQL that behaves like a managed one.

    python tests/external_pg.py [--] COMMAND [ARGS...]
    python -m tests.external_pg .venv/bin/pytest -q

The embedded test lane talks to pgserver's server as a superuser over a unix socket with trust
auth. Managed Postgres (RDS, Cloud SQL, Supabase, Neon) is different in the ways that matter to
us: clients connect over TCP with a password, and the role the application gets is *not* a
superuser (it usually has CREATEDB and CREATEROLE, and a provider-side way to install
extensions). This script stands one of those up from pgserver's bundled binaries:

1. initdb a new cluster in a temporary directory (``-U postgres`` with a generated password,
   scram-sha-256 for every connection); the server listens on 127.0.0.1 on a free port and has
   no unix socket at all, so every client goes over TCP with a password;
2. as the bootstrap superuser, create a LOGIN role with CREATEDB and CREATEROLE but NOSUPERUSER
   and NOBYPASSRLS (the "owner" a managed service hands you), and pre-create the ``vector``
   extension in template1 and in ``postgres``, the way a provider's console does it;
3. run COMMAND with DATABASE_URL (the owner, database ``postgres``),
   BRAIN_EXTERNAL_SUPERUSER_URL (the superuser, for tests that simulate an operator step) and
   BRAIN_TEST_LANE=external in its environment;
4. afterwards, on success, failure or Ctrl-C: drop every database and role created since step 1
   (all but the bootstrap superuser), stop the server, delete the directory, and exit with the
   command's exit code.

Stdlib and psycopg only. When run as root (containers, CI), the server runs as an unprivileged
system user (initdb and pg_ctl refuse root): ``pgserver`` (which pgserver itself creates), else
``nobody``, or $BRAIN_PG_SYSTEM_USER. $BRAIN_PG_BIN overrides the directory of the binaries.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

SUPERUSER = "postgres"
HOST = "127.0.0.1"
PREFIX = "external-pg:"


def _log(msg: str) -> None:
    print(f"{PREFIX} {msg}", file=sys.stderr, flush=True)


def _bin_dir() -> Path:
    override = os.environ.get("BRAIN_PG_BIN")
    if override:
        return Path(override)
    # find_spec does not import pgserver (which would pull in psutil, platformdirs, ...).
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{PREFIX} pgserver is not installed and BRAIN_PG_BIN is not set")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _system_user() -> pwd.struct_passwd | None:
    """The unprivileged user to run the server as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    names = [os.environ["BRAIN_PG_SYSTEM_USER"]] if os.environ.get("BRAIN_PG_SYSTEM_USER") else []
    for name in [*names, "pgserver", "nobody"]:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise SystemExit(f"{PREFIX} running as root and no unprivileged user to run postgres as")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _url(user: str, password: str, port: int, dbname: str = "postgres") -> str:
    return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{HOST}:{port}/{dbname}"


class Cluster:
    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.user = _system_user()
        self.tmp = Path(tempfile.mkdtemp(prefix="brain-extpg-"))
        self.pgdata = self.tmp / "pgdata"
        self.logfile = self.tmp / "postgres.log"
        self.port = 0
        self.super_password = secrets.token_urlsafe(24)
        self.owner = f"brain_owner_{secrets.token_hex(3)}"
        self.owner_password = secrets.token_urlsafe(24)
        self.started = False
        if self.user is not None:
            os.chown(self.tmp, self.user.pw_uid, self.user.pw_gid)

    # -- processes -----------------------------------------------------------------------------

    def _run(self, exe: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        return subprocess.run(
            [str(self.bin / exe), *args],
            cwd=self.tmp,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            # initdb/pg_ctl read PG* variables (PGDATA, PGPORT, ...): keep the caller's out.
            env={k: v for k, v in os.environ.items() if not k.startswith("PG")},
            **kwargs,
        )

    def _check(self, proc: subprocess.CompletedProcess[str], what: str) -> None:
        if proc.returncode != 0:
            log = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
            raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n{log}")

    def init(self) -> None:
        pwfile = self.tmp / "pwfile"
        pwfile.write_text(self.super_password + "\n")
        pwfile.chmod(0o600)
        if self.user is not None:
            os.chown(pwfile, self.user.pw_uid, self.user.pw_gid)
        proc = self._run(
            "initdb",
            "-D",
            str(self.pgdata),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",  # moot: the server opens no unix socket (below)
            "--encoding=UTF8",
            "--no-sync",
        )
        pwfile.unlink()
        self._check(proc, "initdb")
        with open(self.pgdata / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(
                "\n# tests/external_pg.py: TCP only, like a managed server\n"
                f"listen_addresses = '{HOST}'\n"
                "unix_socket_directories = ''\n"
                "password_encryption = 'scram-sha-256'\n"
                # A throwaway cluster: durability is not what the tests exercise (no test crashes
                # the server), and skipping fsync keeps the lane fast on a small machine.
                "fsync = off\n"
                "synchronous_commit = off\n"
                "full_page_writes = off\n"
            )

    def start(self) -> None:
        for attempt in range(5):
            self.port = _free_port()
            proc = self._run(
                "pg_ctl",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.logfile),
                "-o",
                f"-p {self.port}",
                "-w",
                "-t",
                "60",
                "start",
            )
            if proc.returncode == 0:
                self.started = True
                return
            if attempt == 4 or "already in use" not in self.logfile.read_text(errors="replace"):
                self._check(proc, "pg_ctl start")
            time.sleep(0.2)  # someone took the port between our probe and postgres' bind

    def stop(self) -> None:
        # postmaster.pid rather than self.started: a Ctrl-C can land while pg_ctl start waits.
        if (self.pgdata / "postmaster.pid").exists():
            proc = self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop", timeout=90)
            if proc.returncode != 0:
                _log(f"pg_ctl stop failed: {proc.stderr.strip()}")
            self.started = False

    # -- SQL -----------------------------------------------------------------------------------

    @property
    def superuser_url(self) -> str:
        return _url(SUPERUSER, self.super_password, self.port)

    @property
    def owner_url(self) -> str:
        return _url(self.owner, self.owner_password, self.port)

    def _connect(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(
            _url(SUPERUSER, self.super_password, self.port, dbname), autocommit=True, connect_timeout=10
        )

    def provision(self) -> bool:
        """Create the owner role and pre-create pgvector. Returns whether `vector` is trusted."""
        with self._connect() as conn:
            # pgvector 0.8.x as bundled by pgserver: its vector.control has no `trusted = true`,
            # so this is False and CREATE EXTENSION vector needs a superuser. Managed services
            # work around that with their own extension allow-lists (rds_superuser, Supabase's
            # dashboard, Neon's privileged role); here the operator (us) creates it up front, in
            # template1 so that every CREATE DATABASE inherits it. The library's migration then
            # has to cope with `CREATE EXTENSION IF NOT EXISTS vector` on a database where the
            # extension already exists (a no-op that needs no privilege).
            row = conn.execute(
                "SELECT bool_or(trusted) FROM pg_available_extension_versions WHERE name = 'vector'"
            ).fetchone()
            if row is None or row[0] is None:
                raise RuntimeError("the vector extension is not available in this build")
            trusted = bool(row[0])
            conn.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN CREATEDB CREATEROLE"
                    " NOSUPERUSER NOBYPASSRLS NOREPLICATION PASSWORD {}"
                ).format(sql.Identifier(self.owner), sql.Literal(self.owner_password))
            )
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        with self._connect("template1") as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        return trusted

    def version(self) -> str:
        with self._connect() as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    def teardown_sql(self) -> tuple[list[str], list[str]]:
        """Drop every database and role but the bootstrap ones. Returns what was dropped."""
        with self._connect() as conn:
            dbs = [
                r[0]
                for r in conn.execute(
                    "SELECT datname FROM pg_database"
                    " WHERE datname NOT IN ('postgres', 'template0', 'template1') ORDER BY datname"
                ).fetchall()
            ]
            for db in dbs:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))
            roles = [
                r[0]
                for r in conn.execute(
                    "SELECT rolname FROM pg_roles WHERE rolname <> %s AND rolname !~ '^pg_'"
                    " AND oid >= 16384 ORDER BY rolname",  # 16384: first OID after bootstrap
                    (SUPERUSER,),
                ).fetchall()
            ]
        if roles:
            # Objects or grants a role may still hold in the surviving databases.
            for db in ("template1", "postgres"):
                with self._connect(db) as conn:
                    for role in roles:
                        conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))
            with self._connect() as conn:
                for role in roles:
                    conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
                    )
                    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        return dbs, roles

    def remove(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def _run_command(argv: list[str], env: dict[str, str]) -> int:
    """Run argv in the foreground and return its exit code.

    Ctrl-C on a terminal reaches the child as well (same process group), so on SIGINT we first
    give it time to finish on its own (pytest runs its teardown); a SIGINT or SIGTERM sent to
    this process alone is passed on. The child is killed only if it ignores that.
    """
    child = subprocess.Popen(argv, env=env)
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return child.wait()
    except KeyboardInterrupt:
        for s in previous:
            signal.signal(s, signal.SIG_IGN)  # from here on we only wait and clean up
        signum = received[-1] if received else signal.SIGINT
        grace = 5.0 if signum == signal.SIGINT else 0.0
        try:
            return child.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        child.send_signal(signum)
        try:
            return child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            return 128 + signum


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    signal.signal(signal.SIGTERM, _sigterm)
    cluster = Cluster()
    code = 1
    try:
        cluster.init()
        cluster.start()
        trusted = cluster.provision()
        _log(
            f"PostgreSQL {cluster.version()} on {HOST}:{cluster.port} (TCP only, scram-sha-256), data in"
            f" {cluster.tmp}; superuser {SUPERUSER!r}; owner role {cluster.owner!r} (LOGIN CREATEDB"
            f" CREATEROLE, NOSUPERUSER NOBYPASSRLS); vector pre-created in template1 and postgres"
            f" (trusted={str(trusted).lower()}); running: {' '.join(argv)}"
        )
        env = os.environ | {
            "DATABASE_URL": cluster.owner_url,
            "BRAIN_EXTERNAL_SUPERUSER_URL": cluster.superuser_url,
            "BRAIN_TEST_LANE": "external",
        }
        code = _run_command(argv, env)
        if code < 0:  # killed by a signal: report it the way a shell does
            code = 128 - code
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:
        _log(f"setup failed: {exc}")
        code = 1
    finally:
        # Ignore further Ctrl-C/SIGTERM while cleaning up, or a second one leaks the server.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        dropped: tuple[list[str], list[str]] = ([], [])
        if cluster.started:
            try:
                dropped = cluster.teardown_sql()
            except Exception as exc:
                _log(f"dropping databases and roles failed: {exc}")
        cluster.stop()
        cluster.remove()
        dbs, roles = dropped
        _log(
            f"command exited {code}; dropped {len(dbs)} databases ({', '.join(dbs) or '-'}) and"
            f" {len(roles)} roles ({', '.join(roles) or '-'}); server on port {cluster.port} stopped,"
            f" {cluster.tmp} removed"
        )
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
