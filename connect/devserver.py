"""The zero-setup first run: the portal on 127.0.0.1, an RQ worker, and a Redis to connect them.

Redis comes from REDIS_URL when set; else a `redis-server` on the PATH is started on a spare port;
else fakeredis's TCP server stands in (in-memory, fine for a demo, never for production).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

from redis import Redis
from redis.exceptions import RedisError
from werkzeug.serving import run_simple

DEV_REDIS_PORT = 6390


def _redis_answers(url: str) -> bool:
    try:
        return bool(Redis.from_url(url, socket_connect_timeout=1).ping())
    except RedisError:
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def start_redis() -> tuple[str, subprocess.Popen[bytes] | None]:
    url = os.environ.get("REDIS_URL")
    if url and _redis_answers(url):
        return url, None
    url = f"redis://127.0.0.1:{DEV_REDIS_PORT}/0"
    if not _port_free(DEV_REDIS_PORT):
        if _redis_answers(url):
            return url, None
        raise SystemExit(f"port {DEV_REDIS_PORT} is taken by something that is not Redis")
    server = shutil.which("redis-server")
    if server:
        proc = subprocess.Popen(  # noqa: S603 - fixed arguments
            [
                server,
                "--bind",
                "127.0.0.1",
                "--port",
                str(DEV_REDIS_PORT),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
    else:
        os.environ["REDIS_SCRIPTING"] = "0"  # fakeredis's TCP server has no Lua
        proc = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-c",
                "from fakeredis import TcpFakeServer as S;"
                f"S(('127.0.0.1', {DEV_REDIS_PORT}), server_type='redis').serve_forever()",
            ],
            start_new_session=True,
        )
    for _ in range(100):
        if _redis_answers(url):
            return url, proc
        time.sleep(0.1)
    proc.terminate()
    raise SystemExit("could not start a Redis for background jobs")


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    # A session of its own: Ctrl-C reaches only `connect dev`, which then stops the children in
    # order instead of letting Redis die under a worker that is still shutting down.
    return subprocess.Popen([sys.executable, "-m", "connect", *args], start_new_session=True)  # noqa: S603


def run_dev(port: int) -> None:
    redis_url, redis_proc = start_redis()
    os.environ["REDIS_URL"] = redis_url
    children = [p for p in [redis_proc] if p is not None]
    worker = _spawn("worker")
    cron = _spawn("cron")  # enqueues the click drain every few seconds, among others
    children += [worker, cron]
    stopping = threading.Event()

    def stop(*_: object) -> None:
        stopping.set()
        # Cron and the worker first (the worker finishes its job), Redis last.
        for child in reversed(children):
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()

    signal.signal(signal.SIGTERM, lambda *a: (stop(), sys.exit(0)))
    from connect import create_app

    app = create_app()
    print(f"Connect is running on http://127.0.0.1:{port}/  (Ctrl-C stops it)", flush=True)
    for child, name in ((worker, "worker"), (cron, "scheduler")):
        threading.Thread(target=_watch, args=(child, name, stopping), daemon=True).start()
    try:
        run_simple("127.0.0.1", port, app, threaded=True, use_reloader=False)
    finally:
        stop()


def _watch(child: subprocess.Popen[bytes], name: str, stopping: threading.Event) -> None:
    code = child.wait()
    if not stopping.is_set():
        print(f"the background {name} stopped (exit {code}); restart `connect dev`", flush=True)
