"""The Kubernetes manifests of deploy/k8s, checked offline: no cluster is reachable here.

Schemas come from kubernetes-validate (the Kubernetes JSON schemas it bundles, strict: an
unknown field fails); the kustomize overlays are rendered by `kubectl kustomize` when a kubectl
is on PATH. The rest are the mistakes a schema cannot see: a probe on a port nobody listens
on, a variable no code reads, a secret value in a committed file, a role the image lacks.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_validate import utils as k8s_schemas

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAY = K8S / "overlays" / "production"
KEY_FILE_COMPONENT = K8S / "components" / "gcp-key-file"
SECRET_EXAMPLE = K8S / "secret.example.yaml"
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
DOC = ROOT / "docs" / "deploy_kubernetes.md"

# the oldest minor release we claim to support and the newest the schemas bundle
SCHEMA_VERSIONS = ("1.31.0", k8s_schemas.latest_version())
# the image contract: its non-root user, and the roles of its entrypoint when that file is
# not there to be read
IMAGE_UID = 10001
CONTRACT_ROLES = {"api", "app", "worker", "prefect-server", "mlflow-server"}
CONTRACT_PORT_DEFAULTS = {"CHURN_API_PORT": 8000, "CHURN_APP_PORT": 8501}
ROLE_PORT_VARIABLE = {"api": "CHURN_API_PORT", "app": "CHURN_APP_PORT"}
# values that mark a placeholder in the example Secret
PLACEHOLDER = "REPLACE_ME"
# docs/benchmarks.md: training on the warehouse sample at 100k customers, peak RSS
TRAINING_PEAK_BYTES = 2_684_668 * 1024
# docs/benchmarks.md: memory the scoring step adds at 1M rows (upper end of 343-347 MB)
SCORING_EXTRA_BYTES = 347 * 1000**2


# ---------- reading the manifests


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _kustomization(folder: Path) -> dict[str, Any]:
    return yaml.safe_load((folder / "kustomization.yaml").read_text())


def base_resources() -> list[dict[str, Any]]:
    """Every object the base kustomization lists, in its order."""
    docs = []
    for name in _kustomization(BASE)["resources"]:
        docs += _documents(BASE / name)
    return docs


def _of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def _containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    spec = deployment["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def _all_containers(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for deployment in _of_kind(docs, "Deployment"):
        for container in _containers(deployment):
            yield f"{deployment['metadata']['name']}/{container['name']}", container


def _config_data(docs: list[dict[str, Any]]) -> dict[str, str]:
    data: dict[str, str] = {}
    for config_map in _of_kind(docs, "ConfigMap"):
        data |= config_map.get("data", {})
    return data


def _environment(container: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, str | None]:
    """Variables the container gets: ConfigMaps it loads whole, then its own `env` (a value
    from a Secret is None: unknown here)."""
    env: dict[str, str | None] = {}
    config_maps = {c["metadata"]["name"]: c.get("data", {}) for c in _of_kind(docs, "ConfigMap")}
    for source in container.get("envFrom", []):
        env |= config_maps[source["configMapRef"]["name"]]
    for item in container.get("env", []):
        env[item["name"]] = item.get("value")
    return env


def _quantity(text: str | int) -> Decimal:
    """A Kubernetes resource quantity in base units ("3Gi", "500m", "2"); ValueError if it is
    not one (a schema takes any string, "3 GB" included)."""
    found = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?", str(text))
    if not found:
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    number, suffix = Decimal(found.group(1)), found.group(2) or ""
    binary = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
    decimal = {"k": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}
    if suffix in binary:
        return number * 1024 ** binary[suffix]
    if suffix == "m":
        return number / 1000
    return number * 1000 ** decimal.get(suffix, 0)


# ---------- what the project reads


def entrypoint_roles() -> set[str]:
    """The roles deploy/entrypoint.sh dispatches on (the contract's list before it exists)."""
    if not ENTRYPOINT.exists():
        return CONTRACT_ROLES
    return set(re.findall(r"^\s*([a-z][a-z-]*)\)\s*$", ENTRYPOINT.read_text(), re.M))


def entrypoint_defaults() -> dict[str, str]:
    """`${VAR:-default}` of the entrypoint: the variables it reads and their defaults."""
    if not ENTRYPOINT.exists():
        return {name: str(port) for name, port in CONTRACT_PORT_DEFAULTS.items()} | {
            "CHURN_WORK_POOL": "churn",
            "CHURN_DEPLOY_ON_START": "0",
            "CHURN_TIMEZONE": "UTC",
        }
    return dict(re.findall(r"\$\{([A-Z][A-Z0-9_]*):-([^}]*)\}", ENTRYPOINT.read_text()))


def churn_commands() -> set[str]:
    """The subcommands of the `churn` CLI."""
    import typer.main

    from flows.cli import app

    return set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def project_variables() -> set[str]:
    """Every environment variable our code, dbt profile, deployments and entrypoint read."""
    from models_ml.config import MLConfig
    from serving.config import ServingConfig
    from warehouse import settings as warehouse_settings

    names = {f"CHURN_{field.upper()}" for field in warehouse_settings.Settings.model_fields}
    names |= {f"CHURN_ML_{field.upper()}" for field in MLConfig.model_fields}
    names |= {f"CHURN_SERVE_{field.upper()}" for field in ServingConfig.model_fields}
    names.add(getattr(warehouse_settings, "SECRETS_DIR_VARIABLE", "CHURN_SECRETS_DIR"))
    for path in (ROOT / "profiles" / "profiles.yml", ROOT / "dbt_project.yml"):
        names |= set(re.findall(r"env_var\(\s*['\"]([A-Z0-9_]+)['\"]", path.read_text()))
    names |= set(re.findall(r"\{\{\s*\$([A-Z0-9_]+)\s*\}\}", (ROOT / "prefect.yaml").read_text()))
    names |= set(entrypoint_defaults())
    return names


def third_party_variables() -> set[str]:
    """Variables the libraries in the image read: Prefect's settings, Google's Application
    Default Credentials, MLflow's client."""
    import importlib.util

    import google.auth.environment_vars
    from prefect.settings import Settings as PrefectSettings
    from prefect.settings.legacy import _get_valid_setting_names

    names = set(_get_valid_setting_names(PrefectSettings))
    names.add(google.auth.environment_vars.CREDENTIALS)
    spec = importlib.util.find_spec("mlflow")
    assert spec and spec.origin
    mlflow_env = (Path(spec.origin).parent / "environment_variables.py").read_text()
    names |= set(re.findall(r"_EnvironmentVariable\(\s*\"(MLFLOW_[A-Z0-9_]+)\"", mlflow_env))
    return names


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    return base_resources()


@pytest.fixture(scope="module")
def secret_example() -> dict[str, Any]:
    (secret,) = _documents(SECRET_EXAMPLE)
    return secret


# ---------- schemas


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_every_manifest_matches_the_kubernetes_schema(version: str, docs, secret_example) -> None:
    for doc in [*docs, secret_example]:
        k8s_schemas.validate(doc, version, strict=True)


def test_the_schema_check_refuses_a_wrong_manifest(docs) -> None:
    """The validator is strict: an unknown field and a port given as text both fail."""
    (api,) = [d for d in _of_kind(docs, "Deployment") if d["metadata"]["name"] == "churn-api"]
    unknown_field = yaml.safe_load(yaml.safe_dump(api))
    unknown_field["spec"]["template"]["spec"]["containers"][0]["healthcheck"] = "/health"
    text_port = yaml.safe_load(yaml.safe_dump(api))
    text_port["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8000"
    for wrong in (unknown_field, text_port):
        with pytest.raises(k8s_schemas.ValidationError):
            k8s_schemas.validate(wrong, SCHEMA_VERSIONS[-1], strict=True)


def test_resource_quantities_are_kubernetes_quantities(docs) -> None:
    for where, container in _all_containers(docs):
        for kind in ("requests", "limits"):
            for resource, amount in container["resources"][kind].items():
                try:
                    _quantity(amount)
                except ValueError as exc:
                    pytest.fail(f"{where} {kind}.{resource}: {exc}")
    with pytest.raises(ValueError):
        _quantity("3 GB")


# ---------- kustomize


def _kustomize(folder: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("no kubectl on PATH: the overlays are not rendered (schemas still checked)")
    done = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def test_the_production_overlay_renders_valid_complete_objects() -> None:
    rendered = _kustomize(OVERLAY)
    for doc in rendered:
        k8s_schemas.validate(doc, SCHEMA_VERSIONS[-1], strict=True)
    assert {d["kind"] for d in rendered} == {d["kind"] for d in base_resources()}
    for where, container in _all_containers(rendered):
        assert container["image"] == "REGISTRY/churn:TAG", where
    config = _config_data(rendered)
    for name in (
        "CHURN_BIGQUERY_PROJECT",
        "CHURN_GCS_ARTIFACT_ROOT",
        "CHURN_MLFLOW_TRACKING_URI",
        "PREFECT_API_URL",
    ):
        assert config.get(name), f"the overlay leaves {name} unset"
    assert config["CHURN_TARGET"] == "bigquery"
    (account,) = _of_kind(rendered, "ServiceAccount")
    assert "GCP_PROJECT" not in account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]


def test_the_key_file_component_gives_every_container_its_credentials(tmp_path: Path) -> None:
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree)
    overlay = tree / "overlays" / "keyfile"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "resources: [../production]\ncomponents: [../../components/gcp-key-file]\n"
    )
    rendered = _kustomize(overlay)
    for doc in rendered:
        k8s_schemas.validate(doc, SCHEMA_VERSIONS[-1], strict=True)
    for deployment in _of_kind(rendered, "Deployment"):
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        for container in _containers(deployment):
            where = f"{deployment['metadata']['name']}/{container['name']}"
            key_file = _environment(container, rendered).get("GOOGLE_APPLICATION_CREDENTIALS")
            assert key_file, f"{where} has no GOOGLE_APPLICATION_CREDENTIALS"
            mounts = [
                m
                for m in container.get("volumeMounts", [])
                if key_file.startswith(m["mountPath"].rstrip("/") + "/")
            ]
            assert mounts, f"{where}: nothing mounted at {key_file}"
            secret = volumes[mounts[0]["name"]]["secret"]
            file_name = key_file.rsplit("/", 1)[1]
            assert file_name in [item["path"] for item in secret["items"]], where


# ---------- probes, ports and services


def _listening_port(container: dict[str, Any], env: dict[str, str | None]) -> int | None:
    """The port the container's role listens on, from its variables or the defaults."""
    args = container.get("args", [])
    role = args[0] if args and not container.get("command") else None
    if role in ROLE_PORT_VARIABLE:
        variable = ROLE_PORT_VARIABLE[role]
        return int(env.get(variable) or entrypoint_defaults()[variable])
    if role == "worker" and "--with-healthcheck" in args:
        from prefect.settings.models.worker import WorkerWebserverSettings

        default = WorkerWebserverSettings.model_fields["port"].default
        return int(env.get("PREFECT_WORKER_WEBSERVER_PORT") or default)
    return None


def test_every_probe_hits_a_port_its_container_listens_on(docs) -> None:
    for where, container in _all_containers(docs):
        ports = {p["containerPort"] for p in container.get("ports", [])}
        named = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
        listening = _listening_port(container, _environment(container, docs))
        if listening is not None:
            assert listening in ports, f"{where} listens on {listening}, exposes {ports}"
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            probe = container.get(kind)
            if probe is None:
                continue
            handler = probe.get("httpGet") or probe.get("tcpSocket")
            assert handler, f"{where} {kind} has no HTTP or TCP check"
            port = handler["port"]
            number = named.get(port) if isinstance(port, str) else port
            assert number in ports, f"{where} {kind} probes port {port}, exposes {ports}"
            assert number == listening, f"{where} {kind} probes {number}, listens on {listening}"


def test_servers_have_liveness_and_readiness_on_their_health_endpoints(docs) -> None:
    expected = {
        "churn-api/api": {"livenessProbe": "/metrics", "readinessProbe": "/health"},
        "churn-app/app": {"livenessProbe": "/_stcore/health", "readinessProbe": "/_stcore/health"},
        "churn-worker/worker": {"livenessProbe": "/health"},
    }
    found = dict(_all_containers(docs))
    for where, probes in expected.items():
        for kind, path in probes.items():
            assert found[where][kind]["httpGet"]["path"] == path, f"{where} {kind}"


def test_the_api_liveness_path_answers_without_a_model(tmp_path: Path, docs) -> None:
    """Before the first champion exists /health is 503: the liveness probe must use a path
    that still answers 200, or the pod would be restarted forever; readiness keeps it out
    of the Service until a model is served."""
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from warehouse.settings import Settings

    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    client = TestClient(create_app(settings=settings))  # no lifespan: no model loaded
    api = dict(_all_containers(docs))["churn-api/api"]
    assert client.get(api["livenessProbe"]["httpGet"]["path"]).status_code == 200
    assert client.get(api["startupProbe"]["httpGet"]["path"]).status_code == 200
    assert client.get(api["readinessProbe"]["httpGet"]["path"]).status_code == 503


def test_every_service_reaches_a_named_port_of_one_deployment(docs) -> None:
    deployments = _of_kind(docs, "Deployment")
    for service in _of_kind(docs, "Service"):
        selector = service["spec"]["selector"]
        chosen = [
            d
            for d in deployments
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(chosen) == 1, f"service {service['metadata']['name']} selects {len(chosen)}"
        named = {p["name"] for c in _containers(chosen[0]) for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in named, service["metadata"]["name"]


def test_no_pod_gets_service_link_variables(docs) -> None:
    """A Service `churn-api` would set CHURN_API_PORT=tcp://10.0.0.1:8000 in every pod of
    the namespace: the very variable the entrypoint reads for its port."""
    services = [s["metadata"]["name"] for s in _of_kind(docs, "Service")]
    injected = {name.upper().replace("-", "_") + "_PORT" for name in services}
    assert injected & project_variables(), "no clash: this check no longer proves anything"
    for deployment in _of_kind(docs, "Deployment"):
        assert deployment["spec"]["template"]["spec"]["enableServiceLinks"] is False


# ---------- roles and variables


def test_every_container_runs_a_role_of_the_image(docs) -> None:
    roles = entrypoint_roles()
    assert {"api", "app", "worker"} <= roles, f"the entrypoint's roles: {sorted(roles)}"
    commands = churn_commands()
    for where, container in _all_containers(docs):
        if container.get("command"):
            # a shell loop around one-off jobs: each `churn X` must be a CLI command
            script = " ".join(container["command"][2:] + container.get("args", []))
            used = re.findall(r"\bchurn\s+([a-z-]+)", script)
            assert used, f"{where} overrides the entrypoint without running churn"
            assert set(used) <= commands, f"{where}: {set(used) - commands} not churn commands"
        else:
            role = container["args"][0]
            assert role in roles or role in commands, f"{where}: no role or command {role!r}"


def test_every_variable_set_is_read_by_the_project_or_its_libraries(docs) -> None:
    known = project_variables() | third_party_variables()
    from models_ml.config import MLConfig

    for where, container in _all_containers(docs):
        for name in _environment(container, docs):
            top = name.split("__", 1)[0]
            assert top in known, f"{where} sets {name}, which nothing reads"
            if "__" in name:  # CHURN_ML_TIERS__CAPACITY: a field of a nested model
                field = MLConfig.model_fields[top.removeprefix("CHURN_ML_").lower()]
                nested = field.annotation.model_fields  # type: ignore[union-attr]
                assert name.split("__", 1)[1].lower() in nested, f"{where} sets {name}"


def test_the_overlay_sets_only_variables_the_project_reads() -> None:
    known = project_variables() | third_party_variables()
    (patch,) = _documents(OVERLAY / "config.yaml")
    unknown = set(patch["data"]) - known
    assert not unknown, f"the overlay sets variables nothing reads: {sorted(unknown)}"


def test_the_worker_polls_the_pool_of_the_deployments(docs) -> None:
    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    pools = {d["work_pool"]["name"] for d in deployments}
    worker = dict(_all_containers(docs))["churn-worker/worker"]
    pool = _environment(worker, docs).get("CHURN_WORK_POOL") or entrypoint_defaults().get(
        "CHURN_WORK_POOL"
    )
    assert pools == {pool}


def test_the_worker_is_one_recreated_replica_and_schedules_are_prefects(docs) -> None:
    assert not [d for d in docs if d["kind"] in ("CronJob", "Job")]
    (worker,) = [d for d in _of_kind(docs, "Deployment") if d["metadata"]["name"] == "churn-worker"]
    assert worker["spec"]["replicas"] == 1
    assert worker["spec"]["strategy"]["type"] == "Recreate"
    container = worker["spec"]["template"]["spec"]["containers"][0]
    assert _environment(container, docs)["CHURN_DEPLOY_ON_START"] == "1"
    args = container["args"]
    assert args[args.index("--limit") + 1] == "1", "memory is sized for one flow run at a time"


# ---------- secrets


def test_the_example_secret_holds_placeholders_only(secret_example) -> None:
    assert "data" not in secret_example, "base64 `data` would hide what is committed"
    for key, value in secret_example["stringData"].items():
        assert PLACEHOLDER in value, f"{key} holds a value, not a placeholder"


def test_no_secret_is_applied_or_set_in_plain_text(docs, secret_example) -> None:
    from pydantic import SecretStr

    from warehouse.settings import Settings

    assert not _of_kind(docs, "Secret"), "applying the base would overwrite the real Secret"
    secret_keys = set(secret_example["stringData"])
    secret_fields = {
        f"CHURN_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if SecretStr in getattr(field.annotation, "__args__", (field.annotation,))
    }
    assert secret_fields <= secret_keys | {"CHURN_BIGQUERY_TOKEN"}
    (patch,) = _documents(OVERLAY / "config.yaml")
    plain = _config_data(docs) | patch["data"]
    assert not (set(plain) & (secret_keys | secret_fields))
    for where, container in _all_containers(docs):
        for item in container.get("env", []):
            if item["name"] in secret_keys | secret_fields:
                assert "value" not in item, f"{where} sets {item['name']} in plain text"


def test_every_secret_key_used_is_in_the_example_and_read(docs, secret_example) -> None:
    keys = set(secret_example["stringData"])
    known = project_variables() | third_party_variables()
    assert keys <= known, f"keys nothing reads: {sorted(keys - known)}"
    for deployment in _of_kind(docs, "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        for volume in spec["volumes"]:
            if volume.get("secret", {}).get("secretName") == "churn-secrets":
                for item in volume["secret"]["items"]:
                    assert item["key"] in keys and item["path"] == item["key"], item
        for container in _containers(deployment):
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "churn-secrets" and ref["key"] in keys, item
                    assert ref["key"] == item["name"], item


def test_secret_files_reach_the_settings(tmp_path: Path, monkeypatch, secret_example) -> None:
    """The Secret mounted as files (CHURN_SECRETS_DIR) is what the settings read."""
    from warehouse.settings import Settings

    folder = tmp_path / "secrets"
    folder.mkdir()
    files = {k: v for k, v in secret_example["stringData"].items() if k.startswith("CHURN_")}
    for key, value in files.items():
        (folder / key).write_text(value)
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CHURN_SECRETS_DIR", str(folder))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    for key, value in files.items():
        read = getattr(settings, key.removeprefix("CHURN_").lower())
        read = read.get_secret_value() if hasattr(read, "get_secret_value") else read
        assert read == value, key


def test_the_api_and_the_app_never_start_without_their_secret(docs) -> None:
    required = {"churn-api": "CHURN_API_KEY", "churn-app": "CHURN_APP_ACTIONS_DB_URL"}
    for deployment in _of_kind(docs, "Deployment"):
        key = required.get(deployment["metadata"]["name"])
        if key is None:
            continue
        (volume,) = [
            v
            for v in deployment["spec"]["template"]["spec"]["volumes"]
            if v.get("secret", {}).get("secretName") == "churn-secrets"
        ]
        assert not volume["secret"].get("optional", False)
        assert key in [item["key"] for item in volume["secret"]["items"]]


# ---------- security and resources


def test_every_pod_passes_the_restricted_pod_security_standard(docs) -> None:
    (namespace,) = _of_kind(docs, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for deployment in _of_kind(docs, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == IMAGE_UID
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["serviceAccountName"] == "churn"
        writable = {
            v["name"] for v in pod["volumes"] if "emptyDir" in v or "persistentVolumeClaim" in v
        }
        for container in _containers(deployment):
            where = f"{deployment['metadata']['name']}/{container['name']}"
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            mounted = {
                m["mountPath"]: m["name"]
                for m in container["volumeMounts"]
                if not m.get("readOnly") and m["name"] in writable
            }
            assert {"/tmp", "/data"} <= set(mounted), f"{where} cannot write /tmp and /data"


def test_every_container_has_requests_within_limits(docs) -> None:
    for where, container in _all_containers(docs):
        resources = container["resources"]
        for resource in ("cpu", "memory"):
            request = _quantity(resources["requests"][resource])
            limit = _quantity(resources["limits"][resource])
            assert 0 < request <= limit, f"{where} {resource}"


def test_memory_follows_the_measured_figures(docs) -> None:
    found = dict(_all_containers(docs))
    worker = found["churn-worker/worker"]
    assert _quantity(worker["resources"]["requests"]["memory"]) >= TRAINING_PEAK_BYTES
    threads = int(_environment(worker, docs)["CHURN_ML_THREADS"] or 0)
    assert 0 < threads <= _quantity(worker["resources"]["limits"]["cpu"])
    api = found["churn-api/api"]
    cache = int(_environment(api, docs).get("CHURN_SERVE_CACHE_BYTES") or 512 * 1024**2)
    assert _quantity(api["resources"]["limits"]["memory"]) >= cache + SCORING_EXTRA_BYTES


def test_the_sizing_table_matches_the_manifests(docs) -> None:
    """docs/deploy_kubernetes.md says which figure sized each request: its table must show
    what the manifests ask for."""
    rows = re.findall(
        r"^\| `([\w-]+/[\w-]+)` \| ([^|]+) / ([^|]+) \| ([^|]+) / ([^|]+) \|",
        DOC.read_text(),
        re.M,
    )
    table = {name: [cell.strip() for cell in cells] for name, *cells in rows}
    found = dict(_all_containers(docs))
    assert set(table) == set(found)
    for where, container in found.items():
        requests, limits = container["resources"]["requests"], container["resources"]["limits"]
        shown = [requests["cpu"], limits["cpu"], requests["memory"], limits["memory"]]
        assert table[where] == [str(v) for v in shown], where
