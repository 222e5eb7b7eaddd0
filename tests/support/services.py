"""Make sure the real services the tests talk to are running, starting them if needed.

Each ``ensure_*`` function returns a URL and is cheap to call again (the answer is cached per
process). They are safe to call from two pytest-xdist workers at once: PostgreSQL's private
cluster is created under a file lock and shared, while Redis (when started here), moto and the
Stripe test server are started once per process. Whatever a process started is stopped when it
exits (``atexit``; also via PR_SET_PDEATHSIG / ``--parent-pid`` if it dies without cleaning up).
Nothing needs a terminal; everything works with ``CI=true``.

Environment:
    TEST_POSTGRES_URL   use this server (any postgresql:// URL; normalised to +psycopg)
    TEST_REDIS_URL      use this Redis
    TEST_MOTO_URL       use this moto server
    TEST_STRIPE_URL     use this Stripe test server
    TEST_POSTGRES_PRIVATE=1 / TEST_REDIS_PRIVATE=1
                        ignore the machine's server on the default port, start a private one
    TEST_KEEP_SERVICES=1
                        leave the private PostgreSQL cluster running at exit (faster reruns)
    TEST_SERVICES_DIR   where private state and logs go (default: <project>/.ci-services)

System packages (redis-server, postgresql) come from scripts/ensure-system-packages.sh.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import hashlib
import http.client
import os
import pwd
import re
import selectors
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SERVICES_DIR = Path(os.environ.get("TEST_SERVICES_DIR") or PROJECT_ROOT / ".ci-services")
STRIPE_SERVER = Path(__file__).resolve().with_name("stripe_server.py")
MACHINE_POSTGRES = ("127.0.0.1", 5432)
MACHINE_REDIS = ("127.0.0.1", 6379)

__all__ = [
    "create_database",
    "ensure_moto",
    "ensure_postgres",
    "ensure_redis",
    "ensure_stripe",
    "stop_all",
]

_lock = threading.RLock()
_cache: dict[str, str] = {}
_processes: list[subprocess.Popen[Any]] = []
_pg_users_fd: int | None = None
_pg_private: tuple[Path, Path, Path] | None = None  # (lock file, users file, data dir)
_atexit_registered = False

try:
    _prctl: Callable[..., int] | None = ctypes.CDLL(None, use_errno=True).prctl
except (AttributeError, OSError):  # not Linux
    _prctl = None
_PR_SET_PDEATHSIG = 1


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


# ---------------------------------------------------------------------------------------------
# small helpers


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _redis_ping(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _redis_pid(host: str, port: int, timeout: float = 1.0) -> int | None:
    """process_id from INFO server: proves which redis-server answers on a port."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
            data = b""
            while b"process_id:" not in data or not data.endswith(b"\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    match = re.search(rb"process_id:(\d+)", data)
    return int(match.group(1)) if match else None


def _http_answers(host: str, port: int, path: str = "/", timeout: float = 1.0) -> bool:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        conn.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _log_path(name: str) -> Path:
    logs = SERVICES_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("*.log"):  # keep a day of logs
        with contextlib.suppress(OSError):
            if old.stat().st_mtime < time.time() - 86400:
                old.unlink()
    return logs / f"{name}-{os.getpid()}.log"


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _preexec() -> None:  # runs in the child between fork and exec
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _spawn(
    cmd: Sequence[str], name: str, *, stdout: int | IO[Any] | None = None, cwd: Path | None = None
) -> tuple[subprocess.Popen[Any], Path]:
    """Start a child that dies with us; its stderr (and stdout unless given) go to a log."""
    log_path = _log_path(name)
    # PR_SET_PDEATHSIG fires when the *thread* that forked exits: only use it from the main one.
    preexec = _preexec if threading.current_thread() is threading.main_thread() else None
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=log if stdout is None else stdout,
            stderr=log,
            cwd=cwd or SERVICES_DIR,
            preexec_fn=preexec,
            close_fds=True,
        )
    _processes.append(proc)
    _register_atexit()
    return proc, log_path


def _stop_process(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _wait_for(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    proc: subprocess.Popen[Any] | None = None,
    log: Path | None = None,
) -> bool:
    """Poll ``check`` until true; False if ``proc`` exited first. Raises on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.05)
    raise RuntimeError(
        f"{what} did not become ready in {timeout:.0f} s"
        + (f"; log {log}:\n{_tail(log)}" if log else "")
    )


def _start_on_free_port(
    name: str,
    make_cmd: Callable[[int], Sequence[str]],
    ready: Callable[[int, int], bool],
    timeout: float,
) -> int:
    """Start a server on a free port, retrying if another process grabbed the port first.

    ``ready(port, pid)`` tells when it answers."""
    log = None
    for _ in range(5):
        port = _free_port()
        proc, log = _spawn(make_cmd(port), name)
        if (
            _wait_for(
                lambda port=port, pid=proc.pid: ready(port, pid),
                timeout=timeout,
                what=name,
                proc=proc,
                log=log,
            )
            and proc.poll() is None
        ):
            return port
        _stop_process(proc)
        _processes.remove(proc)
    raise RuntimeError(f"could not start {name}; log {log}:\n{_tail(log) if log else ''}")


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(stop_all)
        _atexit_registered = True


def stop_all() -> None:
    """Stop what this process started (also runs at exit). The private PostgreSQL cluster is
    stopped only when no other process still uses it, and not at all with TEST_KEEP_SERVICES."""
    with _lock:
        while _processes:
            _stop_process(_processes.pop())
        _release_private_postgres()
        _cache.clear()


# ---------------------------------------------------------------------------------------------
# PostgreSQL


def _pg_conninfo(url: str, dbname: str | None = None) -> dict[str, Any]:
    parts = urlsplit(url)
    info: dict[str, Any] = dict(parse_qsl(parts.query))
    if parts.hostname:
        info.setdefault("host", parts.hostname)
    if parts.port:
        info.setdefault("port", parts.port)
    if parts.username:
        info["user"] = unquote(parts.username)
    if parts.password:
        info["password"] = unquote(parts.password)
    info["dbname"] = dbname or unquote(parts.path.lstrip("/")) or "postgres"
    return info


def _normalise_pg_url(url: str) -> str:
    return re.sub(r"^(postgres|postgresql)(\+\w+)?://", "postgresql+psycopg://", url)


def _pg_accepts(host: str, port: int, user: str = "postgres") -> bool:
    if not _port_open(host, port):
        return False
    import psycopg

    try:
        with psycopg.connect(
            host=host, port=port, user=user, dbname="postgres", connect_timeout=3
        ) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def ensure_postgres() -> str:
    """A SQLAlchemy URL ``postgresql+psycopg://postgres@127.0.0.1:PORT/postgres``.

    TEST_POSTGRES_URL if set; else the machine's server on 127.0.0.1:5432 if user postgres gets
    in (trust auth); else a private throw-away cluster (initdb, fsync off) under
    .ci-services/pg, shared by concurrent test processes and stopped after the last one.
    """
    with _lock:
        if "postgres" not in _cache:
            env = os.environ.get("TEST_POSTGRES_URL")
            if env:
                url = _normalise_pg_url(env)
            elif not _flag("TEST_POSTGRES_PRIVATE") and _pg_accepts(*MACHINE_POSTGRES):
                host, port = MACHINE_POSTGRES
                url = f"postgresql+psycopg://postgres@{host}:{port}/postgres"
            else:
                url = f"postgresql+psycopg://postgres@127.0.0.1:{_private_postgres()}/postgres"
            _cache["postgres"] = url
        return _cache["postgres"]


def create_database(base_url: str, name: str) -> str:
    """Drop (terminating its connections) and create database ``name``; return its URL.

    Give each xdist worker its own name (e.g. ``f"connect_test_{worker_id}"``).
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
        raise ValueError(f"unsafe database name: {name!r}")
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        **_pg_conninfo(base_url, "postgres"), autocommit=True, connect_timeout=10
    ) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        # template0: nobody is ever connected to it, so concurrent creates cannot collide.
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                sql.Identifier(name)
            )
        )
    parts = urlsplit(_normalise_pg_url(base_url))
    return urlunsplit(parts._replace(path="/" + name))


def drop_database(base_url: str, name: str) -> None:
    """Drop database ``name`` (terminating its connections) if it exists."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
        raise ValueError(f"unsafe database name: {name!r}")
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        **_pg_conninfo(base_url, "postgres"), autocommit=True, connect_timeout=10
    ) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _pg_bin_dir() -> Path:
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError(
        "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/"
        "initdb): run scripts/ensure-system-packages.sh as root"
    )


def _postgres_user() -> pwd.struct_passwd | None:
    """The account the server runs as when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError(
            "running as root but there is no 'postgres' user to run the "
            "server: install the postgresql package"
        ) from None


def _reachable_by(user: pwd.struct_passwd, path: Path) -> bool:
    """Whether ``user`` can traverse every existing ancestor of ``path``."""
    groups = {user.pw_gid}
    for directory in [path, *path.parents]:
        try:
            st = directory.stat()
        except FileNotFoundError:
            continue
        if st.st_uid == user.pw_uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid in groups:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return False
    return True


def _pg_base_dir(user: pwd.struct_passwd | None) -> Path:
    if user is None or _reachable_by(user, SERVICES_DIR):
        return SERVICES_DIR
    # e.g. a checkout under /root: the postgres user cannot reach it; use a per-project tmp dir.
    digest = hashlib.sha256(str(SERVICES_DIR).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"connect-ci-services-{digest}"


def _run_pg(
    cmd: Sequence[str], user: pwd.struct_passwd | None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    argv = [str(c) for c in cmd]
    if user is not None:
        argv = ["su", user.pw_name, "-s", "/bin/sh", "-c", shlex.join(argv)]
    return subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd="/",
        timeout=timeout,
        check=False,
    )


def _private_pg_port(data: Path) -> int | None:
    """Port of a running private cluster (from postmaster.pid), if it answers."""
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
        port = int(lines[3])
    except (OSError, IndexError, ValueError):
        return None
    return port if _pg_accepts("127.0.0.1", port) else None


def _private_postgres() -> int:
    global _pg_users_fd, _pg_private
    user = _postgres_user()
    base = _pg_base_dir(user)
    base.mkdir(parents=True, exist_ok=True)
    pg_dir, data = base / "pg", base / "pg" / "data"
    lock_path, users_path = base / "pg.lock", base / "pg.users"
    lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        if _pg_users_fd is None:
            # Every process using the cluster holds a shared lock on pg.users; the last one to
            # leave gets the exclusive lock and stops the server.
            _pg_users_fd = os.open(users_path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(_pg_users_fd, fcntl.LOCK_SH)
            _pg_private = (lock_path, users_path, data)
            _register_atexit()
        port = _private_pg_port(data)
        if port is None:
            bin_dir = _pg_bin_dir()
            _init_cluster(bin_dir, pg_dir, data, user)
            port = _start_cluster(bin_dir, pg_dir, data, user)
        (pg_dir / "port").write_text(f"{port}\n")
        return port
    finally:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        os.close(lock_fd)


def _init_cluster(bin_dir: Path, pg_dir: Path, data: Path, user: pwd.struct_passwd | None) -> None:
    version_file = data / "PG_VERSION"
    if version_file.exists():
        version = bin_dir.parent.name
        if version_file.read_text().strip() == version or not version.isdigit():
            # a cluster that is not answering: stop whatever is left of it, then start it again
            _run_pg([bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], user)
            return
        shutil.rmtree(data)  # made by another major version: throw it away
    elif data.exists():
        shutil.rmtree(data)  # a half-made cluster
    pg_dir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        os.chown(pg_dir, user.pw_uid, user.pw_gid)
    for locale in ("C.UTF-8", "C"):
        result = _run_pg(
            [
                bin_dir / "initdb",
                "-D",
                data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                f"--locale={locale}",
                "--no-sync",
            ],
            user,
        )
        if result.returncode == 0:
            return
        if data.exists():
            shutil.rmtree(data)
    raise RuntimeError(f"initdb failed:\n{result.stdout}\n{result.stderr}")


def _start_cluster(bin_dir: Path, pg_dir: Path, data: Path, user: pwd.struct_passwd | None) -> int:
    log = pg_dir / "postgres.log"
    for _ in range(5):
        port = _free_port()
        options = " ".join(
            [
                f"-p {port}",
                f"-k {shlex.quote(str(pg_dir))}",
                "-c listen_addresses=127.0.0.1",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        result = _run_pg(
            [bin_dir / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "-o", options, "start"],
            user,
        )
        if result.returncode == 0 and _pg_accepts("127.0.0.1", port):
            return port
        _run_pg([bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], user)
    raise RuntimeError(
        f"could not start the private PostgreSQL cluster in {data}; log {log}:\n{_tail(log)}"
    )


def _release_private_postgres() -> None:
    global _pg_users_fd, _pg_private
    if _pg_users_fd is None or _pg_private is None:
        return
    lock_path, users_path, data = _pg_private
    lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        os.close(_pg_users_fd)  # drops our shared lock
        _pg_users_fd, _pg_private = None, None
        if _flag("TEST_KEEP_SERVICES"):
            return
        probe = os.open(users_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another process still uses the cluster; the last one stops it
        finally:
            os.close(probe)
        with contextlib.suppress(RuntimeError, subprocess.SubprocessError, OSError):
            _run_pg(
                [_pg_bin_dir() / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"],
                _postgres_user(),
                timeout=60,
            )
    finally:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        os.close(lock_fd)


# ---------------------------------------------------------------------------------------------
# Redis, moto, Stripe


def ensure_redis() -> str:
    """``redis://HOST:PORT``: TEST_REDIS_URL, the machine's 127.0.0.1:6379 if it answers PING,
    else a private ``redis-server`` (no persistence) started for this process."""
    with _lock:
        if "redis" not in _cache:
            env = os.environ.get("TEST_REDIS_URL")
            if env:
                url = env
            elif not _flag("TEST_REDIS_PRIVATE") and _redis_ping(*MACHINE_REDIS):
                url = "redis://{}:{}".format(*MACHINE_REDIS)
            else:
                binary = shutil.which("redis-server") or "/usr/bin/redis-server"
                if not Path(binary).exists():
                    raise RuntimeError(
                        "redis-server not found: run scripts/ensure-system-packages.sh as root"
                    )
                SERVICES_DIR.mkdir(parents=True, exist_ok=True)
                port = _start_on_free_port(
                    "redis",
                    lambda port: [
                        binary,
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--daemonize",
                        "no",
                    ],
                    lambda port, pid: _redis_pid("127.0.0.1", port) == pid,
                    timeout=15,
                )
                url = f"redis://127.0.0.1:{port}"
            _cache["redis"] = url
        return _cache["redis"]


def ensure_moto() -> str:
    """``http://127.0.0.1:PORT`` of a moto server (S3 etc.) started for this process."""
    with _lock:
        if "moto" not in _cache:
            env = os.environ.get("TEST_MOTO_URL")
            if env:
                _cache["moto"] = env.rstrip("/")
            else:
                binary = Path(sys.executable).parent / "moto_server"
                if not binary.exists():
                    found = shutil.which("moto_server")
                    if not found:
                        raise RuntimeError("moto_server not found: pip install 'moto[server]'")
                    binary = Path(found)
                SERVICES_DIR.mkdir(parents=True, exist_ok=True)
                port = _start_on_free_port(
                    "moto",
                    lambda port: [str(binary), "-H", "127.0.0.1", "-p", str(port)],
                    lambda port, pid: _http_answers("127.0.0.1", port, "/moto-api/"),
                    timeout=60,
                )
                _cache["moto"] = f"http://127.0.0.1:{port}"
        return _cache["moto"]


def ensure_stripe() -> str:
    """Base URL of tests/support/stripe_server.py, started for this process.

    Point the SDK at it with ``stripe.StripeClient(key, base_addresses={"api": url})``.
    """
    with _lock:
        if "stripe" not in _cache:
            env = os.environ.get("TEST_STRIPE_URL")
            _cache["stripe"] = env.rstrip("/") if env else _start_stripe()
        return _cache["stripe"]


def _start_stripe(timeout: float = 20) -> str:
    SERVICES_DIR.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        str(STRIPE_SERVER),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--parent-pid",
        str(os.getpid()),
    ]
    proc, log = _spawn(cmd, "stripe", stdout=subprocess.PIPE)
    assert proc.stdout is not None
    line = b""
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + timeout
            while not line.endswith(b"\n") and time.monotonic() < deadline:
                if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                    break
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
    finally:
        proc.stdout.close()  # it prints nothing after the ready line
    match = re.match(rb"ready (http://\S+)", line)
    if not match:
        _stop_process(proc)
        _processes.remove(proc)
        raise RuntimeError(f"the Stripe test server did not start; log {log}:\n{_tail(log)}")
    url = match.group(1).decode()
    host_port = urlsplit(url)
    _wait_for(
        lambda: _http_answers(
            host_port.hostname or "127.0.0.1", host_port.port or 80, "/_test/health"
        ),
        timeout=timeout,
        what="the Stripe test server",
        proc=proc,
        log=log,
    )
    return url
