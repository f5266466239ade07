"""Runs the Python import-file-stix connector's own message handler on the
cases of connectors/import-file-stix/tests/fixtures/cases.json and writes,
per case, what it hands pycti's send_stix2_bundle (the bundle and the send
options) and the text it closes the work with.

The platform is stubbed: the file download reads the inputs directory, the
entity read returns the case's container (tests/fixtures/inputs/<container>)
with the `x_opencti_id` pycti's export adds, and send_stix2_bundle records
its arguments and counts the messages with pycti's real splitter.
Started by scripts/goldens/import-file-stix.sh.
"""

import json
import os
import sys
from types import SimpleNamespace

fixtures, connector_src = sys.argv[1], sys.argv[2]
sys.path.insert(0, connector_src)

from connector.connector import ImportFileStix  # noqa: E402
from pycti import OpenCTIConnectorHelper  # noqa: E402
from pycti.utils.opencti_stix2_splitter import OpenCTIStix2Splitter  # noqa: E402

PLATFORM = "http://platform.invalid"
inputs = os.path.join(fixtures, "inputs")


def read_input(name: str) -> str:
    with open(os.path.join(inputs, name), encoding="utf-8") as handle:
        return handle.read()


def run_case(case: dict) -> dict:
    sends = []
    container = None
    if case.get("container"):
        container = json.loads(read_input(case["container"]))
        container["x_opencti_id"] = case["entity_internal_id"]

    def fetch(uri: str) -> str:
        assert uri.startswith(PLATFORM + "/storage/get/"), uri
        return read_input(uri.rsplit("/", 1)[-1])

    def send(bundle: str, **options) -> list:
        sends.append({"bundle": json.loads(bundle), "options": options})
        _, _, parts = OpenCTIStix2Splitter().split_bundle_with_expectations(bundle)
        return parts

    def read_entity(id: str) -> dict:
        assert id == case["entity_id"], id
        return {"id": case["entity_internal_id"], "entity_type": "Report"}

    def entity_bundle(entity_type: str, entity_id: str) -> dict:
        assert entity_id == case["entity_internal_id"], entity_id
        return {"objects": [container]}

    quiet = SimpleNamespace(info=lambda *a, **k: None, debug=lambda *a, **k: None)
    helper = SimpleNamespace(
        opencti_url=PLATFORM,
        connector_logger=quiet,
        api=SimpleNamespace(
            fetch_opencti_file=fetch,
            stix_domain_object=SimpleNamespace(read=read_entity),
            stix2=SimpleNamespace(
                get_stix_bundle_or_object_from_entity_id=entity_bundle
            ),
        ),
        stix2_create_bundle=OpenCTIConnectorHelper.stix2_create_bundle,
        send_stix2_bundle=send,
        get_validate_before_import=lambda: case["validate_before_import"],
    )
    message = {
        "file_fetch": "/storage/get/import/global/" + case["file"],
        "file_id": "import/global/" + case["file"],
        "file_mime": "application/json",
        "bypass_validation": case["bypass_validation"],
        "file_markings": case.get("file_markings", []),
    }
    if case.get("entity_id"):
        message["entity_id"] = case["entity_id"]
    text = ImportFileStix(config=None, helper=helper)._process_message(message)
    return {"case": case["name"], "message": text, "sends": sends}


with open(os.path.join(fixtures, "cases.json"), encoding="utf-8") as handle:
    cases = json.load(handle)
for case in cases:
    golden = run_case(case)
    path = os.path.join(fixtures, "goldens", case["name"] + ".json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(golden, handle, indent=2, sort_keys=False)
        handle.write("\n")
    print("wrote", path)
