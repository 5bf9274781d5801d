"""`churn features sync`: the YAML that must list every feature, written from the declarations.

A feature is declared once, in the YAML of the dbt model that computes it: a column with
`config: {meta: {feature: true}}` (optionally `fill`, the value of a snapshot without one), a
`data_type` and a `description`. dbt reads the declarations from its graph when it builds
int_customer_features (dbt_project/macros/feature_columns.sql). Three property files must still
list every feature, since dbt cannot share a column list between files (YAML anchors stay in
one file and lists cannot be joined): int_customer_features.yml (the column docs; its order is
the order of the features tables) and the enforced contracts of customer_features.yml and
training_set.yml. In each, the block between the feature markers is written here; the rest of
the file is written by hand.

Order: a feature keeps its place; a new one goes after the last feature of the model that
computes it, or at the end if it is that model's first. The entries of int_customer_features.yml
marked `feature: true` are the features computed in that model: they are kept as written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
import yaml

REPO = Path(__file__).resolve().parents[1]
ORDER_MODEL = "int_customer_features"
CONTRACT_MODELS = ("customer_features", "training_set")
SYNC_COMMAND = "churn features sync"

ProjectDir = Annotated[
    Path, typer.Option("--project-dir", help="folder of dbt_project.yml (default: the repo root)")
]

BEGIN = re.compile(r"^(?P<indent>\s*)# -{10} features\b")
END = re.compile(r"^\s*# -{10} end of features\b")


class FeatureSyncError(Exception):
    """The declarations or the files to write cannot be read as this module expects."""


@dataclass(frozen=True)
class Feature:
    """One declared feature: its name, the model computing it, its type and meaning."""

    name: str
    model: str
    data_type: str
    description: str


@dataclass(frozen=True)
class Block:
    """A properties file cut around its feature block; `entries` are (name, lines)."""

    head: list[str]
    preamble: list[str]
    entries: list[tuple[str, list[str]]]
    tail: list[str]
    indent: str

    def text(self, entries: list[list[str]]) -> str:
        """The file with `entries` (lines each) as its block."""
        lines = [*self.head, *self.preamble, *(line for e in entries for line in e), *self.tail]
        return "\n".join(lines) + "\n"


def model_properties(project_dir: Path) -> dict[str, tuple[Path, dict]]:
    """model name -> (its properties file, its properties), for every model under the dbt
    project's model paths."""
    project = yaml.safe_load((project_dir / "dbt_project.yml").read_text())
    found: dict[str, tuple[Path, dict]] = {}
    for model_path in project.get("model-paths", ["models"]):
        files = sorted((project_dir / model_path).rglob("*.y*ml"))
        for path in (p for p in files if p.suffix in (".yml", ".yaml")):
            for model in (yaml.safe_load(path.read_text()) or {}).get("models") or []:
                found[model["name"]] = (path, model)
    return found


def is_feature(column: dict) -> bool:
    """A column declared a feature (`meta` or, as dbt 1.10+ writes it, `config.meta`)."""
    meta = {**(column.get("meta") or {}), **((column.get("config") or {}).get("meta") or {})}
    return meta.get("feature") is True


def declared_features(models: dict[str, tuple[Path, dict]]) -> dict[str, Feature]:
    """Every declared feature by name, models in name order and columns in YAML order."""
    features: dict[str, Feature] = {}
    for model_name in sorted(models):
        path, model = models[model_name]
        for column in model.get("columns") or []:
            if not is_feature(column):
                continue
            name = column["name"]
            if name in features:
                raise FeatureSyncError(
                    f"feature {name} is declared twice, in {features[name].model} and in "
                    f"{model_name}: a feature has one name in the features tables"
                )
            missing = [key for key in ("data_type", "description") if not column.get(key)]
            if missing:
                raise FeatureSyncError(
                    f"{path}: feature {name} has no {' and no '.join(missing)} (the features "
                    "contracts need both)"
                )
            features[name] = Feature(
                name, model_name, str(column["data_type"]), " ".join(column["description"].split())
            )
    return features


def split_block(path: Path) -> Block:
    """`path` cut around its feature markers; the block's entries start at `- name:` lines."""
    lines = path.read_text().splitlines()
    begins = [i for i, line in enumerate(lines) if BEGIN.match(line)]
    ends = [i for i, line in enumerate(lines) if END.match(line)]
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise FeatureSyncError(
            f"{path}: expected one `# ---------- features` line and, after it, one "
            "`# ---------- end of features` line around the feature columns"
        )
    begin, end = begins[0], ends[0]
    indent = BEGIN.match(lines[begin]).group("indent")
    entry_start = re.compile(rf"^{indent}- name: *['\"]?(?P<name>[^'\"\s]+)")
    preamble: list[str] = []
    entries: list[tuple[str, list[str]]] = []
    for line in lines[begin + 1 : end]:
        match = entry_start.match(line)
        if match:
            entries.append((match.group("name"), [line]))
        elif entries:
            entries[-1][1].append(line)
        else:
            preamble.append(line)
    return Block(lines[: begin + 1], preamble, entries, lines[end:], indent)


def feature_order(current: list[str], features: dict[str, Feature]) -> list[str]:
    """The features in order: those in `current` where they are, each new one after the last
    feature of its model (at the end when it is the model's first)."""
    order = [name for name in current if name in features]
    for name, feature in features.items():
        if name in order:
            continue
        same_model = [i for i, n in enumerate(order) if features[n].model == feature.model]
        order.insert(same_model[-1] + 1 if same_model else len(order), name)
    return order


def _scalar(value: str) -> str:
    """A YAML scalar: plain when it is a simple word, else double-quoted (JSON is valid YAML)."""
    return value if re.fullmatch(r"[A-Za-z0-9_]+", value) else json.dumps(value, ensure_ascii=False)


def render_entry(feature: Feature, indent: str) -> list[str]:
    """The column entry of a feature in a list of columns indented by `indent`."""
    return [
        f"{indent}- name: {feature.name}",
        f"{indent}  data_type: {_scalar(feature.data_type)}",
        f"{indent}  description: {json.dumps(feature.description, ensure_ascii=False)}",
    ]


def synced_texts(project_dir: Path = REPO) -> dict[Path, str]:
    """The text each of the three files must have: path -> text."""
    models = model_properties(project_dir)
    for name in (ORDER_MODEL, *CONTRACT_MODELS):
        if name not in models:
            raise FeatureSyncError(f"no YAML declares the model {name} under {project_dir}")
    features = declared_features(models)

    order_path, order_model = models[ORDER_MODEL]
    block = split_block(order_path)
    in_block = {name for name, _lines in block.entries}
    own = [c["name"] for c in order_model.get("columns") or [] if is_feature(c)]
    outside = [name for name in own if name not in in_block]
    if outside:
        raise FeatureSyncError(
            f"{order_path}: the features {outside} are declared outside the feature block: "
            "move their entries between the `# ---------- features` lines"
        )
    order = feature_order([name for name, _lines in block.entries], features)
    kept = dict(block.entries)

    def entry(name: str) -> list[str]:
        # a feature computed in int_customer_features is declared there: kept as written
        if features[name].model == ORDER_MODEL:
            return kept[name]
        return render_entry(features[name], block.indent)

    texts = {order_path: block.text([entry(name) for name in order])}
    for model_name in CONTRACT_MODELS:
        path = models[model_name][0]
        contract = split_block(path)
        texts[path] = contract.text([render_entry(features[n], contract.indent) for n in order])
    return texts


def stale_files(project_dir: Path = REPO) -> list[Path]:
    """The files whose feature block differs from the declarations."""
    return [path for path, text in synced_texts(project_dir).items() if path.read_text() != text]


def sync(project_dir: Path = REPO) -> list[Path]:
    """Write the feature blocks from the declarations; returns the files changed."""
    changed = []
    for path, text in synced_texts(project_dir).items():
        if path.read_text() != text:
            path.write_text(text)
            changed.append(path)
    return changed


def register(app: typer.Typer) -> None:
    """Add the `features` command group (`sync`, `check`) to `app`."""
    features = typer.Typer(
        help="The features declared in the dbt models' YAML.", no_args_is_help=True
    )

    def _relative(paths: list[Path], project_dir: Path) -> str:
        return ", ".join(str(p.relative_to(project_dir)) for p in paths)

    @features.command("sync")
    def sync_command(project_dir: ProjectDir = REPO) -> None:
        """Write the feature columns of int_customer_features.yml and of the contracts of
        customer_features and training_set from the YAML of the models computing them."""
        try:
            changed = sync(project_dir.resolve())
        except FeatureSyncError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=1) from exc
        if changed:
            typer.echo(f"wrote {_relative(changed, project_dir.resolve())}")
        else:
            typer.echo("the feature columns are up to date")

    @features.command("check")
    def check_command(project_dir: ProjectDir = REPO) -> None:
        """Exit 1 when a file `sync` writes is out of date."""
        try:
            stale = stale_files(project_dir.resolve())
        except FeatureSyncError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=1) from exc
        if stale:
            typer.echo(
                f"out of date: {_relative(stale, project_dir.resolve())}; run `{SYNC_COMMAND}`",
                err=True,
            )
            raise typer.Exit(code=1)
        typer.echo("the feature columns are up to date")

    app.add_typer(features, name="features")
