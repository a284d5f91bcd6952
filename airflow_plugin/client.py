"""A small client of Airflow 3's public REST API (``/api/v2``) with simple-auth-manager login."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from groupplug.exceptions import GroupplugError

RETRIES = 4


class AirflowClient:
    def __init__(self, url: str, username: str, password: str, timeout: float = 60):
        self.url = url.rstrip("/")
        self.username = username
        self.password = password
        self.timeout = timeout
        self._token: str | None = None

    def token(self) -> str:
        if self._token is None:
            answer = self._request("POST", "/auth/token",
                                   {"username": self.username, "password": self.password},
                                   auth=False)
            self._token = answer["access_token"]
        return self._token

    def _request(self, method: str, path: str, body: Any = None, *, auth: bool = True,
                 query: dict[str, Any] | None = None) -> Any:
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        for attempt in range(RETRIES + 1):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    raw = response.read()
                return json.loads(raw) if raw else None
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")[:500]
                # 500 "Database error": SQLite was locked by the scheduler; it passes.
                if exc.code in (500, 502, 503, 504) and attempt < RETRIES:
                    time.sleep(1 + attempt)
                    continue
                message = f"{method} {path}: HTTP {exc.code} {detail}"
                raise AirflowAPIError(exc.code, message) from None
            except OSError:
                # A busy api-server on SQLite can stall a request; every call here is safe to
                # repeat (a repeated trigger answers 409, handled by the caller).
                if attempt == RETRIES:
                    raise
                time.sleep(1 + attempt)
        raise AssertionError("unreachable")

    def get(self, path: str, **query: Any) -> Any:
        return self._request("GET", path, query=query or None)

    def patch(self, path: str, body: Any) -> Any:
        return self._request("PATCH", path, body)

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/api/v2/monitor/health", auth=False)

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict[str, Any]:
        """The DAG once the dag-processor has parsed it; the import errors of its file
        (``<dag_id>.py``, as groupplug writes it) are raised. Other files' errors are not ours:
        a stack's dags folder may hold a broken DAG of someone else's, and every run failed
        with its traceback."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return self.get(f"/api/v2/dags/{dag_id}")
            except AirflowAPIError as exc:
                if exc.status != 404:
                    raise
            errors = self.import_errors(f"{dag_id}.py")
            if errors:
                raise GroupplugError(f"{dag_id}.py: the DAG file failed to import:\n"
                                     + "\n".join(errors))
            time.sleep(0.5)
        raise GroupplugError(f"DAG {dag_id!r} was not parsed within {timeout:.0f}s")

    def trigger(self, dag_id: str, run_id: str) -> dict[str, Any]:
        if self.get(f"/api/v2/dags/{dag_id}").get("is_paused"):
            self._request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        try:
            return self._request("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                                 {"dag_run_id": run_id, "logical_date": None})
        except AirflowAPIError as exc:
            if exc.status != 409:  # 409: a retried request already created the run
                raise
            return self.dag_run(dag_id, run_id)

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        answer = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=1000)
        return answer["task_instances"]

    def dags_in_file(self, fileloc: str) -> list[str]:
        """Ids of the parsed DAGs whose file is ``fileloc`` (an absolute path)."""
        answer = self.get("/api/v2/dags", limit=1000)
        return sorted(d["dag_id"] for d in answer.get("dags", []) if d.get("fileloc") == fileloc)

    def import_errors(self, filename: str) -> list[str]:
        """The stack traces of ``filename``'s import errors (a path relative to the dags
        folder, as Airflow stores it)."""
        answer = self.get("/api/v2/importErrors", limit=1000)
        return [e.get("stack_trace", "") for e in answer.get("import_errors", [])
                if e.get("filename") == filename]

    def tasks(self, dag_id: str) -> list[dict[str, Any]]:
        return self.get(f"/api/v2/dags/{dag_id}/tasks")["tasks"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        try:
            entry = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
                             f"/xcomEntries/{key}", deserialize="true")
        except AirflowAPIError as exc:
            if exc.status == 404:
                return None
            raise
        value = entry.get("value")
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value


class AirflowAPIError(GroupplugError):
    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)
