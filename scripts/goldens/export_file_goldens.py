"""Runs one of OpenCTI's Python export connectors (unmodified, from a local
checkout of OpenCTI-Platform/connectors) against a running opencti-sim that
was seeded with the case objects, asks it each export of a case file, and
writes the files the simulator receives as golden fixtures.

    python export_file_goldens.py SIM_URL CONNECTOR_SCRIPT CASES_JSON OUT_DIR

CASES_JSON: {"connector": {"name", "scope"}, "cases": [{"name", "kind":
"entity"|"list", "request": <body of POST /sim/api/exports or /list-exports>}]}
Each golden is `<name>.out` (the uploaded bytes) plus `<name>.upload.json`
(the upload's metadata: entity, markings, list filters).
Standard library only; run with the pycti venv's python.
"""

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid

TIMEOUT = 120


def call(url, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def wait(what, check):
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    sys.exit(f"timed out waiting for {what}")


def main():
    sim, script, cases_path, out = sys.argv[1:5]
    api = sim.rstrip("/") + "/sim/api"
    with open(cases_path) as f:
        spec = json.load(f)
    os.makedirs(out, exist_ok=True)
    connector_id = str(uuid.uuid4())
    env = dict(
        os.environ,
        OPENCTI_URL=sim,
        OPENCTI_TOKEN="goldens",
        CONNECTOR_ID=connector_id,
        CONNECTOR_TYPE="INTERNAL_EXPORT_FILE",
        CONNECTOR_NAME=spec["connector"]["name"],
        CONNECTOR_SCOPE=spec["connector"]["scope"],
        CONNECTOR_LOG_LEVEL="info",
        TZ="UTC",
    )
    log = open(os.path.join(out, "connector.log"), "w")
    child = subprocess.Popen(
        [sys.executable, os.path.basename(script)],
        cwd=os.path.dirname(script),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait(
            "the connector to register",
            lambda: any(c["id"] == connector_id for c in call(api + "/connectors")),
        )
        # The listen thread starts after registration; give it time to consume.
        time.sleep(2)
        for case in spec["cases"]:
            path = "/exports" if case["kind"] == "entity" else "/list-exports"
            works = call(api + path, case["request"])
            work_ids = [w["id"] for w in works if w["connector_id"] == connector_id]
            if len(work_ids) != 1:
                sys.exit(f"{case['name']}: expected one work, got {works}")

            def done():
                work = next(
                    (w for w in call(api + "/works") if w["id"] == work_ids[0]), None
                )
                return work if work and work["status"] == "complete" else None

            work = wait(case["name"] + " to complete", done)
            if work.get("errors"):
                sys.exit(f"{case['name']}: work in error: {work['errors']}")
            name = work["name"]
            uploaded = [f for f in call(api + "/files") if f["name"] == name]
            if len(uploaded) != 1:
                sys.exit(f"{case['name']}: expected one upload named {name}")
            upload = uploaded[0]
            content = upload["content"]
            if upload.get("base64"):
                sys.exit(f"{case['name']}: binary export")
            with open(os.path.join(out, case["name"] + ".out"), "w") as f:
                f.write(content)
            meta = {
                "id_directory": upload["id"].rsplit("/", 1)[0],
                "mime_type": upload.get("mime_type"),
                "entity_id": upload.get("entity_id"),
                "markings": upload.get("markings"),
                "list_filters": upload.get("list_filters"),
            }
            with open(os.path.join(out, case["name"] + ".upload.json"), "w") as f:
                json.dump(meta, f, indent=2)
                f.write("\n")
            print(f"{case['name']}: {len(content)} bytes", file=sys.stderr)
    finally:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
        log.close()


if __name__ == "__main__":
    main()
