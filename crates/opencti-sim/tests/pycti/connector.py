"""A minimal pycti-based external-import connector, run by the Rust test
`pycti::a_pycti_connector_round_trips_through_the_simulator`.

It registers through OpenCTIConnectorHelper, opens a work, sends one bundle
with helper.send_stix2_bundle (pycti splits it and publishes the envelopes
on RabbitMQ), marks the work processed, waits for the platform side to
complete it, stores a state, and prints one RESULT line of JSON.
"""

import json
import os
import sys
import time

from pycti import OpenCTIConnectorHelper
from settings import helper_config

BUNDLE = {
    "type": "bundle",
    "id": "bundle--7c2e7c4e-1c1d-4d3a-9a55-3b1f0e2d4c6b",
    "objects": [
        {
            "type": "identity",
            "spec_version": "2.1",
            "id": "identity--6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d",
            "name": "pycti check author",
            "identity_class": "organization",
        },
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            "name": "198.51.100.7",
            "pattern": "[ipv4-addr:value = '198.51.100.7']",
            "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00.000Z",
            "created_by_ref": "identity--6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d",
        },
        {
            "type": "malware",
            "spec_version": "2.1",
            "id": "malware--2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e",
            "name": "pycti check malware",
            "is_family": True,
            "created_by_ref": "identity--6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d",
        },
        {
            "type": "relationship",
            "spec_version": "2.1",
            "id": "relationship--3c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f",
            "relationship_type": "indicates",
            "source_ref": "indicator--1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            "target_ref": "malware--2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e",
            "created_by_ref": "identity--6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d",
        },
    ],
}


def main() -> None:
    config = helper_config(
        {
            "type": "EXTERNAL_IMPORT",
            "name": "pycti simulator check",
            "scope": "identity,indicator,malware",
        }
    )
    helper = OpenCTIConnectorHelper(config)
    work_id = helper.api.work.initiate_work(helper.connect_id, "pycti round trip")
    sent = helper.send_stix2_bundle(json.dumps(BUNDLE), work_id=work_id)
    helper.api.work.to_processed(work_id, "bundle sent")

    deadline = time.monotonic() + 60
    status = None
    while time.monotonic() < deadline:
        work = helper.api.work.get_work(work_id)
        status = work["status"] if work else None
        if status == "complete":
            break
        time.sleep(0.2)

    helper.set_state({"last_run": 1718010586})
    helper.force_ping()

    result = {
        "connector_id": helper.connect_id,
        "work_id": work_id,
        "sent": len(sent),
        "status": status,
        "pycti": getattr(sys.modules["pycti"], "__version__", "unknown"),
    }
    print("RESULT " + json.dumps(result), flush=True)
    # The helper's ping thread is a daemon; leave without waiting for it.
    os._exit(0)


if __name__ == "__main__":
    main()
