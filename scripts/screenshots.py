"""PNG screenshots of the Groups view and the Airflow grid for a real run (``scripts/screenshots``).

Starts the embedded Airflow, runs ``examples/dags/native_training_dag.py`` to the end (and, for
the live view, takes one shot while it runs), then drives Debian's headless ``chromium`` over the
DevTools protocol on a pipe (``--remote-debugging-pipe``: no port, no extra package): it logs in
as Airflow's UI does (the JWT in the ``_token`` cookie) and saves ``docs/img/*.png``.

    .venv-airflow/bin/python scripts/screenshots.py [--out docs/img] [--chromium PATH]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "dags" / "native_training_dag.py"
DAG_ID = "groupplug_native_training"
#: Clicks the grid's "Expand all task groups" button (Airflow 3.3's test id), so the picture shows
#: every member; answers whether it found the button.
EXPAND_ALL = """(() => {
  const button = document.querySelector('[data-testid="expand-all-button"]');
  if (button) { button.click(); }
  return Boolean(button);
})()"""


class Chromium:
    """A headless chromium driven over ``--remote-debugging-pipe`` (fd 3 in, fd 4 out)."""

    def __init__(self, binary: str, width: int = 1400, height: int = 900):
        self._profile = tempfile.mkdtemp(prefix="groupplug-chromium-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        flags = ["--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
                 "--no-first-run", "--hide-scrollbars", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}", f"--user-data-dir={self._profile}",
                 "about:blank"]
        command = " ".join([binary, *flags])
        # The protocol wants the pipe on fds 3 and 4 of the browser: a shell puts them there.
        self._proc = subprocess.Popen(
            ["sh", "-c", f"exec {command} 3<&{to_chrome_r} 4>&{from_chrome_w}"],
            pass_fds=(to_chrome_r, from_chrome_w), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next = 0
        self.width, self.height = width, height
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.call("Target.attachToTarget", targetId=target,
                                  flatten=True)["sessionId"]
        for domain in ("Page.enable", "Network.enable"):
            self.call(domain, session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width,
                  height=height, deviceScaleFactor=1, mobile=False)

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, *, session: bool = False, **params: Any) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == self._next:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def evaluate(self, expression: str) -> Any:
        answer = self.call("Runtime.evaluate", session=True, expression=expression,
                           returnByValue=True)
        return answer.get("result", {}).get("value")

    def shot(self, url: str, path: Path, *, settle: float = 4.0, crop_to: str | None = None,
             then: str | None = None) -> None:
        """Open ``url``, let the page's scripts draw for ``settle`` s (run ``then`` and wait as
        long again), save a PNG; ``crop_to``: a CSS selector whose bottom ends the picture."""
        self.call("Page.navigate", session=True, url=url)
        time.sleep(settle)
        if then:
            print(f"  {then.splitlines()[0]}... -> {self.evaluate(then)!r}")
            time.sleep(settle)
        params: dict[str, Any] = {"format": "png"}
        if crop_to:
            bottom = self.evaluate(f"Math.ceil(document.querySelector({crop_to!r})"
                                   ".getBoundingClientRect().bottom)")
            height = min(max(int(bottom or self.height) + 24, 200), 4000)
            params.update(captureBeyondViewport=True, clip={
                "x": 0, "y": 0, "width": self.width, "height": height, "scale": 1})
        data = self.call("Page.captureScreenshot", session=True, **params)["data"]
        path.write_bytes(base64.b64decode(data))
        print(f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")

    def login(self, url: str, token: str) -> None:
        """Airflow's UI and the Groups view both accept the JWT in the ``_token`` cookie."""
        self.call("Network.setCookie", session=True, name="_token", value=token, url=url,
                  path="/")

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        shutil.rmtree(self._profile, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "img"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not shutil.which(args.chromium):
        print("chromium not found: apt-get install -y chromium", file=sys.stderr)
        return 2
    from groupplug.airflow import dagfile
    from groupplug.airflow._server import EmbeddedAirflow

    with EmbeddedAirflow() as airflow:
        client = airflow.client()
        placed = dagfile.place(airflow.dags_folder, EXAMPLE)
        dagfile.wait_for_file(client, airflow.dags_folder, placed, 180)
        run_id = "screenshots"
        client.trigger(DAG_ID, run_id)
        browser = Chromium(args.chromium)
        try:
            browser.login(airflow.url, client.token())
            view = f"{airflow.url}/groupplug/dags/{DAG_ID}/runs/{run_id}/view"
            _wait_for_training(client, run_id)
            browser.shot(view, out / "groups-view-live.png", settle=2, crop_to="table")
            dagfile.follow(client, DAG_ID, run_id, 600)
            browser.shot(view, out / "groups-view.png", settle=2, crop_to="table")
            browser.shot(f"{airflow.url}/dags/{DAG_ID}/runs/{run_id}", out / "airflow-grid.png",
                         settle=6, then=EXPAND_ALL)
            browser.shot(f"{airflow.url}/dags/{DAG_ID}/runs/{run_id}/plugin/groupplug-groups",
                         out / "airflow-groups-tab.png", settle=8)
        finally:
            browser.close()
    return 0


def _wait_for_training(client: Any, run_id: str, timeout: float = 300) -> None:
    """Until the workers of ``train`` run (the live shot then shows a group at work)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = {t["task_id"]: t["state"] for t in client.task_instances(DAG_ID, run_id)}
        if states.get("train.rank1") == "running":
            return
        time.sleep(0.5)
    raise RuntimeError(f"train.rank1 did not start within {timeout:.0f}s")


if __name__ == "__main__":
    sys.exit(main())
