"""The ``AirflowPlugin`` (entry point ``airflow.plugins: groupplug``): listeners and the view."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from . import listeners


def _status_app():  # noqa: ANN202 - the FastAPI app, imported only where the api-server runs
    from .status_view import app

    return app


class GroupplugAirflowPlugin(AirflowPlugin):
    name = "groupplug"
    listeners = [listeners]
    fastapi_apps = [{"app": _status_app(), "url_prefix": "/groupplug", "name": "groupplug"}]
    external_views = [{
        "name": "Groups",
        "href": "/groupplug/dags/{DAG_ID}/runs/{RUN_ID}/view",
        "destination": "dag_run",
        "url_route": "groupplug-groups",
        "category": "groupplug",
    }]
