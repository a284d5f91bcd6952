"""The ``AirflowPlugin`` (entry point ``airflow.plugins: groupplug``): listeners and the view."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from . import listeners


class GroupplugAirflowPlugin(AirflowPlugin):
    name = "groupplug"
    listeners = [listeners]
