"""Serving figures: latency p50/p99 and throughput of /predict and /predict/batch at 1, 8 and
32 concurrent clients, against a real uvicorn server in a subprocess on loopback, with the
bare in-process model call as the floor.

    python -m bench.serving [--customers 2000] [--workdir data/bench/serving] [--workers 1]

Builds (once per workdir) a synthetic warehouse and a trained champion; clients are threads,
each with its own keep-alive connection; every level sends a bounded number of requests.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pandas as pd

CLIENTS = (1, 8, 32)
JSON = {"Content-Type": "application/json"}
START = date(2024, 1, 1)
WEEKS = 12


def build_world(workdir: Path, customers: int):
    """(settings, cfg, as_of): a warehouse with features and a trained champion (reused)."""
    import models_ml
    from bench.synthetic import features_only, make_training_set
    from models_ml.config import Candidates, MLConfig
    from models_ml.registry import CHAMPION, alias_version, connect
    from warehouse import Settings, get_warehouse

    workdir.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        _env_file=None,
        data_dir=workdir,
        mlflow_tracking_uri=f"sqlite:///{(workdir / 'mlflow.db').resolve()}",
    )
    cfg = MLConfig(_env_file=None, candidates=Candidates(hgb_max_iter=60, hgb_learning_rate=0.15))
    train_as_of = START + timedelta(days=7 * (WEEKS - 1) + 28)
    as_of = train_as_of + timedelta(days=7)
    if alias_version(connect(settings.mlflow_uri), cfg.model_name, CHAMPION) is None:
        wh = get_warehouse(settings)
        training = make_training_set(customers, WEEKS, seed=0, start=START)
        fresh = features_only(make_training_set(customers, 1, seed=5, start=as_of))
        gone = set(training.loc[training["churned"], "customer_id"])
        fresh = fresh[~fresh["customer_id"].isin(gone)]
        wh.write_table(training, "features.training_set")
        wh.write_table(pd.concat([features_only(training), fresh]), "features.customer_features")
        models_ml.train(train_as_of, settings=settings, cfg=cfg, warehouse=wh)
    return settings, cfg, as_of


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(settings, port: int, workers: int = 1) -> subprocess.Popen:
    """uvicorn in a subprocess (`workers` processes, as `churn serve --workers`), returned
    once /health answers 200."""
    env = {
        **os.environ,
        "CHURN_DATA_DIR": str(settings.data_dir),
        "CHURN_MLFLOW_TRACKING_URI": settings.mlflow_uri,
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    cmd = [sys.executable, "-m", "uvicorn", "serving.app:create_app", "--factory"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(cmd + ["--no-access-log"], env=env)
    deadline = time.monotonic() + 300  # a busy 2-core machine imports slowly
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("the server exited; see its log above")
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the server did not become healthy within 300 s")


class _Connection:
    """One client's keep-alive connection: POST a JSON body, read the whole answer, fail on
    an error status. The standard library's client costs a client a fraction of httpx's
    ~1 ms of CPU per request, which 8 client threads paid under one GIL on the server's
    2 cores (the clients' own queueing then showed in the server's p99)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.path = parts.path
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

    def __call__(self, body: bytes) -> None:
        self.connection.request("POST", self.path, body, JSON)
        response = self.connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{self.path} answered {response.status}: {data[:200]!r}")

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.connection.close()


def load(url: str, bodies: Callable[[random.Random], dict], clients: int, total: int):
    """(latencies in s, wall seconds) of `total` POSTs spread over `clients` threads; the
    first client error (an error status, a refused connection) is raised here."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    per_client = max(1, total // clients)

    def run(seed: int) -> None:
        rng = random.Random(seed)
        mine = []
        try:
            with _Connection(url) as post:
                post(json.dumps(bodies(rng)).encode())  # connect + warm, untimed
                barrier.wait()
                for _ in range(per_client):
                    # encoded before the clock starts: the client's own JSON work is not the
                    # server's latency (and would hold the GIL its other clients wait for)
                    body = json.dumps(bodies(rng)).encode()
                    t = time.perf_counter()
                    post(body)
                    mine.append(time.perf_counter() - t)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller's thread
            with lock:
                errors.append(exc)
            barrier.abort()
        with lock:
            latencies.extend(mine)

    barrier = threading.Barrier(clients + 1)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a client failed: see below
        barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    first = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)] or errors
    if first:
        raise first[0]
    return np.asarray(latencies), time.perf_counter() - started


def floors(settings, cfg, as_of: date, batch: int, payloads: list[dict]):
    """In-process latencies (one thread) of the bare model call, of score_frame, and of
    checking + scoring payloads as /predict does."""
    from models_ml.api import load_champion
    from models_ml.features import prepare_inputs
    from models_ml.scoring import read_features, score_frame
    from serving.compute import request_threads
    from serving.payload import check_payload, score_payloads
    from warehouse import get_warehouse

    loaded = load_champion(settings=settings, cfg=cfg)
    features = read_features(get_warehouse(settings, read_only=True), cfg, as_of)

    def payload_call(items: list[dict]) -> None:
        for item in items:
            check_payload(item, loaded.schema, cfg.allow_extra_features, "")
        score_payloads(items, loaded, cfg, check_parity=False)  # as the API, once checked

    out = []
    with request_threads(1):
        for rows in (1, batch):
            frame = features.iloc[:rows]
            X = prepare_inputs(frame, loaded.schema)
            for name, call in (
                ("predict_proba", lambda X=X: loaded.model.predict_proba(X)),
                ("score_frame", lambda f=frame: score_frame(f, loaded, cfg, as_of, "b", None)),
                ("payload check + score", lambda r=rows: payload_call(payloads[:r])),
            ):
                times = []
                for _ in range(60):
                    t = time.perf_counter()
                    call()
                    times.append(time.perf_counter() - t)
                out.append((f"floor: in-process {name}, {rows} row(s)", np.asarray(times[10:])))
    return out


def _payloads(settings, cfg, as_of: date) -> tuple[list[str], list[dict]]:
    from warehouse import get_warehouse

    features = get_warehouse(settings, read_only=True).query(
        f"select * from {cfg.features_table} where {cfg.date_column} = ?", [as_of]
    )
    ids = features[cfg.id_column].tolist()
    rows = features.drop(columns=[cfg.id_column, cfg.date_column]).astype(object)
    rows = rows.where(rows.notna(), None)
    payloads = [
        {
            k: (float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v)
            for k, v in r.items()
        }
        for r in rows.to_dict("records")
    ]
    return ids, payloads


def main(argv: list[str] | None = None) -> None:
    """Build or reuse the world, start the server, measure, print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench/serving"))
    parser.add_argument("--singles", type=int, default=1000, help="single requests per level")
    parser.add_argument("--batches", type=int, default=64, help="batch requests per level")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

    settings, cfg, as_of = build_world(args.workdir, args.customers)
    ids, payloads = _payloads(settings, cfg, as_of)
    port = _free_port()
    server = start_server(settings, port, args.workers)
    base = f"http://127.0.0.1:{port}"
    n = args.batch_size
    scenarios = [
        ("single, by id", "/predict", args.singles, 1,
         lambda r: {"customer_id": r.choice(ids)}),
        ("single, payload", "/predict", args.singles, 1,
         lambda r: {"features": r.choice(payloads)}),
        (f"batch of {n}, by id", "/predict/batch", args.batches, n,
         lambda r: {"requests": [{"customer_id": c} for c in r.sample(ids, n)]}),
        (f"batch of {n}, payloads", "/predict/batch", args.batches, n,
         lambda r: {"requests": [{"features": p} for p in r.sample(payloads, n)]}),
    ]  # fmt: skip
    rows = []
    try:
        for name, path, total, size, bodies in scenarios:
            for clients in CLIENTS:
                lat, wall = load(base + path, bodies, clients, total)
                rows.append((name, clients, len(lat), lat, len(lat) / wall, len(lat) * size / wall))
    finally:
        server.terminate()
        server.wait(timeout=30)
    floor_rows = floors(settings, cfg, as_of, n, payloads)

    size = f"{len(ids):,} customers in the snapshot, {os.cpu_count()} cores"
    print(f"\n### serving ({size}, {args.workers} server process(es))\n")
    print("| scenario | clients | requests | p50 ms | p99 ms | req/s | customers/s |")
    print("|---|---|---|---|---|---|---|")
    for name, clients, count, lat, rps, cps in rows:
        p50, p99 = np.percentile(lat, [50, 99]) * 1000
        print(f"| {name} | {clients} | {count} | {p50:.1f} | {p99:.1f} | {rps:,.0f} | {cps:,.0f} |")
    for name, lat in floor_rows:
        p50, p99 = np.percentile(lat, [50, 99]) * 1000
        print(f"| {name} | - | {len(lat)} | {p50:.2f} | {p99:.2f} | - | - |")


if __name__ == "__main__":
    main()
