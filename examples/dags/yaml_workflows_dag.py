"""Every YAML workflow in ../workflows as a DAG: the one-line loader a dags folder needs."""

from __future__ import annotations

from pathlib import Path

from groupplug.airflow import dag_from_yaml

for spec in sorted((Path(__file__).resolve().parent.parent / "workflows").glob("*.yaml")):
    globals()[spec.stem] = dag_from_yaml(spec, f"groupplug_yaml_{spec.stem}")
