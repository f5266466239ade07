"""A minimal pycti internal-import-file connector, run by the Rust tests in
`tests/pycti.rs` against the simulator.

It registers as INTERNAL_IMPORT_FILE for JSON files, listens on its queue,
downloads each file it is given from the platform (file_fetch, with its
token) and sends the STIX bundle in it with helper.send_stix2_bundle,
passing the message's validation flags on as OpenCTI's STIX file import
does. It runs until the test kills it.
"""

from pycti import OpenCTIConnectorHelper
from settings import helper_config


def main() -> None:
    config = helper_config(
        {
            "type": "INTERNAL_IMPORT_FILE",
            "name": "pycti file import check",
            "scope": "application/json",
            "auto": True,
        }
    )
    helper = OpenCTIConnectorHelper(config)

    def import_file(data: dict) -> str:
        content = helper.api.fetch_opencti_file(helper.opencti_url + data["file_fetch"])
        if content is None:
            raise ValueError(f"cannot download {data['file_fetch']}")
        sent = helper.send_stix2_bundle(
            content,
            bypass_validation=data["bypass_validation"],
            file_name=data["file_id"],
            entity_id=data.get("entity_id"),
            file_markings=data.get("file_markings", []),
        )
        return f"{len(sent)} generated bundle(s) for worker import"

    helper.listen(import_file)


if __name__ == "__main__":
    main()
