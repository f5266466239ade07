"""A minimal pycti internal-enrichment connector, run by the Rust tests in
`tests/pycti.rs` against the simulator.

It registers as INTERNAL_ENRICHMENT for IPv4 addresses (playbook
compatible) and listens on its queue with helper.listen. Each entity it is
given is checked against CONNECTOR_MAX_TLP as enrichment connectors do with
helper.check_max_tlp, then enriched with an autonomous system and a
`belongs-to` relationship, sent with helper.send_stix2_bundle (to the push
queue, or through playbookStepExecution for a playbook step). It runs until
the test kills it.
"""

import os

import stix2
from pycti import OpenCTIConnectorHelper, StixCoreRelationship
from settings import helper_config


def main() -> None:
    config = helper_config(
        {
            "type": "INTERNAL_ENRICHMENT",
            "name": "pycti enrichment check",
            "scope": "IPv4-Addr",
        }
    )
    helper = OpenCTIConnectorHelper(config, playbook_compatible=True)
    max_tlp = os.environ.get("CONNECTOR_MAX_TLP", "TLP:AMBER")

    def enrich(data: dict) -> str:
        tlp = "TLP:CLEAR"
        for marking in data["enrichment_entity"].get("objectMarking", []):
            if marking["definition_type"] == "TLP":
                tlp = marking["definition"]
        if not OpenCTIConnectorHelper.check_max_tlp(tlp, max_tlp):
            raise ValueError(
                f"Do not send any data, TLP of the observable is greater than MAX TLP ({tlp})"
            )
        observable = data["stix_entity"]
        system = stix2.AutonomousSystem(number=64500, name="AS64500 (pycti check)")
        relationship = stix2.Relationship(
            id=StixCoreRelationship.generate_id(
                "belongs-to", observable["id"], system.id
            ),
            relationship_type="belongs-to",
            source_ref=observable["id"],
            target_ref=system.id,
            allow_custom=True,
        )
        bundle = helper.stix2_create_bundle(
            list(data["stix_objects"]) + [system, relationship]
        )
        sent = helper.send_stix2_bundle(bundle)
        return f"Enriched {observable['value']}: {len(sent)} bundle(s) sent"

    helper.listen(enrich)


if __name__ == "__main__":
    main()
