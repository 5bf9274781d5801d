"""Local stand-ins for BigQuery and Cloud Storage: install, start, stop.

BigQuery cannot be reached from here, so the production target is tested against
bqemulator (BigQuery REST API on DuckDB 1.5.5) and gcp-storage-emulator (GCS JSON API).
Both live in a venv of their own (`.venv-emulators`, locked in `emulators.lock`) because
bqemulator pins a DuckDB the project does not use. bqemulator loads the DuckDB `spatial`
and `avro` extensions from `$HOME/.duckdb`; we give it a HOME of its own inside that venv,
filled from the extension wheels, so nothing is downloaded and the user's home is untouched.

Usable outside pytest too: `python -m tests.bigquery.emulators` starts both and waits.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import requests

from tests.pg_server import free_port

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-emulators"
LOCK = Path(__file__).with_name("emulators.lock")
DUCKDB_VERSION = "v1.5.5"
PROJECT = "test-proj"
PATCHED_LAUNCHER = Path(__file__).with_name("bqemulator_patched.py")


def _uv() -> str:
    """The uv binary of the project venv (make install puts it there), else one on PATH."""
    local = Path(sys.executable).with_name("uv")
    found = str(local) if local.exists() else shutil.which("uv")
    if not found:
        raise RuntimeError("uv not found: run `make install` first")
    return found


def ensure_venv() -> Path:
    """Create `.venv-emulators` from the lock once; returns its bin directory."""
    bin_dir = VENV / "bin"
    stamp = VENV / ".installed"
    if stamp.exists() and stamp.stat().st_mtime >= LOCK.stat().st_mtime:
        return bin_dir
    if not (bin_dir / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [
            *(_uv(), "pip", "install", "--quiet", "--compile-bytecode"),
            *("--python", str(bin_dir / "python"), "-r", str(LOCK)),
        ],
        check=True,
    )
    ext_dir = emulator_home() / ".duckdb" / "extensions" / DUCKDB_VERSION / "linux_amd64"
    ext_dir.mkdir(parents=True, exist_ok=True)
    wheels = VENV.glob("lib/python*/site-packages/duckdb_extension_*/extensions/*/*")
    for ext in wheels:
        if ext.name.endswith(".duckdb_extension"):
            shutil.copy2(ext, ext_dir / ext.name)
    stamp.touch()
    return bin_dir


def emulator_home() -> Path:
    """The HOME bqemulator runs with (holds its DuckDB extensions)."""
    return VENV / "home"


class _Server:
    """One emulator process on a free port; a context manager that always stops it."""

    name = "emulator"

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_path = Path(log_dir) / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, bin_dir: Path) -> list[str]:
        raise NotImplementedError

    def health_url(self) -> str:
        return self.endpoint

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self, timeout: float = 120.0) -> _Server:
        """Start and return once the health URL answers; the log names what went wrong."""
        bin_dir = ensure_venv()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command(bin_dir), stdout=log, stderr=subprocess.STDOUT, env=self.env()
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-2000:]}")
            try:
                if requests.get(self.health_url(), timeout=2).status_code < 500:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer in {timeout:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> _Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class BigQueryEmulator(_Server):
    """bqemulator: BigQuery's REST API (jobs, datasets, tables, tabledata) on DuckDB."""

    name = "bqemulator"
    project = PROJECT

    def __init__(self, log_dir: Path) -> None:
        super().__init__(log_dir)
        self.grpc_port = free_port()

    def command(self, bin_dir: Path) -> list[str]:
        # bqemulator's own CLI, started through a launcher that first registers our
        # translation fixes (bqemulator_patched.py; docs/bigquery_emulator.md lists them)
        return [
            str(bin_dir / "python"), str(PATCHED_LAUNCHER), "start",
            "--rest-host", "127.0.0.1", "--rest-port", str(self.port),
            "--grpc-port", str(self.grpc_port), "--project", self.project,
            "--log-level", "warning",
        ]  # fmt: skip

    def health_url(self) -> str:
        return f"{self.endpoint}/healthz"

    def env(self) -> dict[str, str]:
        return {**os.environ, "HOME": str(emulator_home())}

    def client(self):  # -> google.cloud.bigquery.Client
        """A google-cloud-bigquery client bound to the emulator (anonymous credentials)."""
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        return bigquery.Client(
            project=self.project,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=self.endpoint),
        )


class GCSEmulator(_Server):
    """gcp-storage-emulator, in memory: the GCS JSON API for google-cloud-storage and MLflow."""

    name = "gcs-emulator"

    def command(self, bin_dir: Path) -> list[str]:
        return [
            str(bin_dir / "gcp-storage-emulator"), "start",
            "--host", "127.0.0.1", "--port", str(self.port), "--in-memory",
        ]  # fmt: skip


if __name__ == "__main__":
    logs = ROOT / "data" / "emulators"
    with BigQueryEmulator(logs) as bq, GCSEmulator(logs) as gcs:
        print(f"BigQuery emulator: {bq.endpoint} (project {bq.project})")
        print(f"GCS emulator:      STORAGE_EMULATOR_HOST={gcs.endpoint}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
