"""Writes the GraphQL documents pycti sends for the calls opencti-sim must
answer on behalf of listening connectors, one file per call, into the
directory given as the only argument.

Run it with the python of the pycti venv (scripts/setup-pycti-venv.sh): the
documents are taken from the installed pycti, never retyped. No request is
sent: the client's `query` method is replaced by a recorder.
"""

import os
import sys

from pycti import OpenCTIApiClient


def capture(call):
    client = OpenCTIApiClient("http://127.0.0.1:9", "unused", perform_health_check=False)
    documents = []

    def record(query, variables=None, *args, **kwargs):
        documents.append(query)
        # A reader indexes into `data`; an empty answer ends the call.
        return {"data": {}}

    client.query = record
    try:
        call(client)
    except Exception:  # the empty answer makes some calls raise afterwards
        pass
    return documents


# What a listening pycti connector reads or sends that the simulator serves.
CALLS = {
    # _data_handler reads the entity of an enrichment (observables, and
    # playbook messages, which carry no entity_type).
    "reader_stix_cyber_observable": lambda c: c.stix_cyber_observable.read(
        id="x", withFiles=True
    ),
    "reader_stix_core_object": lambda c: c.stix_core_object.read(
        id="x", withFiles=True
    ),
    # ...and, when the message carries no STIX objects, lists the entity's
    # nested references to rebuild them (prepare_export).
    "reader_nested_refs": lambda c: c.stix_nested_ref_relationship.list(
        fromId="x", filters=None
    ),
    # Export connectors (export-file-stix, -txt, -csv) read what they export
    # with these: an entity's relationships and sightings (full export), the
    # access check of each relationship end, the listed objects of a list
    # export, and the reader of an observable found by filters.
    "export_core_relationships": lambda c: c.stix_core_relationship.list(
        fromOrToId="x", getAll=True, filters=None
    ),
    "export_sighting_relationships": lambda c: c.stix_sighting_relationship.list(
        fromOrToId="x", getAll=True, filters=None
    ),
    "export_objects_or_relationships": lambda c: c.opencti_stix_object_or_stix_relationship.list(
        filters=None, getAll=True
    ),
    "export_list_observables": lambda c: c.stix_cyber_observable.list(
        filters=None, getAll=True, withFiles=False
    ),
    "export_list_core_objects": lambda c: c.stix_core_object.list(
        filters=None, getAll=True, withFiles=False
    ),
    "export_list_domain_objects": lambda c: c.stix_domain_object.list(
        filters=None, getAll=True, withFiles=False
    ),
    # export-file-stix reads an exported entity with its type's reader (by
    # id; by filters for the objects a full export adds), domain objects
    # with the generic reader, and lists them with their type's lister.
    "export_read_report": lambda c: c.report.read(id="x", withFiles=False),
    "export_read_report_files": lambda c: c.report.read(id="x", withFiles=True),
    "export_read_malware": lambda c: c.malware.read(id="x", withFiles=True),
    "export_read_indicator": lambda c: c.indicator.read(id="x", withFiles=True),
    "export_read_intrusion_set": lambda c: c.intrusion_set.read(
        id="x", withFiles=True
    ),
    "export_read_identity": lambda c: c.identity.read(id="x", withFiles=True),
    "export_read_core_relationship": lambda c: c.stix_core_relationship.read(
        id="x"
    ),
    "export_list_reports": lambda c: c.report.list(
        filters=None, getAll=True, withFiles=True
    ),
    "export_list_malwares": lambda c: c.malware.list(
        filters=None, getAll=True, withFiles=True
    ),
    "export_list_indicators": lambda c: c.indicator.list(
        filters=None, getAll=True, withFiles=True
    ),
    "export_list_intrusion_sets": lambda c: c.intrusion_set.list(
        filters=None, getAll=True, withFiles=True
    ),
    "export_list_identities": lambda c: c.identity.list(
        filters=None, getAll=True, withFiles=True
    ),
    # ...and, likewise, the other common domain object types (a list of
    # Threat-Actor is listed with the group lister).
    "export_read_attack_pattern": lambda c: c.attack_pattern.read(id="x", withFiles=True),
    "export_read_vulnerability": lambda c: c.vulnerability.read(id="x", withFiles=True),
    "export_read_tool": lambda c: c.tool.read(id="x", withFiles=True),
    "export_read_campaign": lambda c: c.campaign.read(id="x", withFiles=True),
    "export_read_threat_actor_group": lambda c: c.threat_actor_group.read(id="x", withFiles=True),
    "export_read_threat_actor_individual": lambda c: c.threat_actor_individual.read(id="x", withFiles=True),
    "export_read_course_of_action": lambda c: c.course_of_action.read(id="x", withFiles=True),
    "export_read_infrastructure": lambda c: c.infrastructure.read(id="x", withFiles=True),
    "export_read_location": lambda c: c.location.read(id="x", withFiles=True),
    "export_read_note": lambda c: c.note.read(id="x", withFiles=True),
    "export_read_opinion": lambda c: c.opinion.read(id="x", withFiles=True),
    "export_read_observed_data": lambda c: c.observed_data.read(id="x", withFiles=True),
    "export_read_grouping": lambda c: c.grouping.read(id="x", withFiles=True),
    "export_read_incident": lambda c: c.incident.read(id="x", withFiles=True),
    "export_list_attack_patterns": lambda c: c.attack_pattern.list(
        filters=None, getAll=True, withFiles=True
    ),
    "export_list_vulnerabilities": lambda c: c.vulnerability.list(
        filters=None, getAll=True, withFiles=True
    ),
    "export_list_tools": lambda c: c.tool.list(
        filters=None, getAll=True, withFiles=True
    ),
    "export_list_campaigns": lambda c: c.campaign.list(
        filters=None, getAll=True, withFiles=True
    ),
    "export_list_threat_actor_groups": lambda c: c.threat_actor_group.list(
        filters=None, getAll=True, withFiles=True
    ),
    "export_list_threat_actor_individuals": lambda c: c.threat_actor_individual.list(
        filters=None, getAll=True, withFiles=True
    ),
    "export_list_courses_of_action": lambda c: c.course_of_action.list(
        filters=None, getAll=True, withFiles=True
    ),
    "export_list_infrastructures": lambda c: c.infrastructure.list(
        filters=None, getAll=True, withFiles=True
    ),
    "export_list_locations": lambda c: c.location.list(
        filters=None, getAll=True, withFiles=True
    ),
    "export_list_notes": lambda c: c.note.list(
        filters=None, getAll=True, withFiles=True
    ),
    "export_list_opinions": lambda c: c.opinion.list(
        filters=None, getAll=True, withFiles=True
    ),
    "export_list_observed_data_list": lambda c: c.observed_data.list(
        filters=None, getAll=True, withFiles=True
    ),
    "export_list_groupings": lambda c: c.grouping.list(
        filters=None, getAll=True, withFiles=True
    ),
    "export_list_incidents": lambda c: c.incident.list(
        filters=None, getAll=True, withFiles=True
    ),
    "export_list_domain_objects_files": lambda c: c.stix_domain_object.list(
        filters=None, getAll=True, withFiles=True
    ),
    "export_list_core_objects_files": lambda c: c.stix_core_object.list(
        filters=None, getAll=True, withFiles=True
    ),
    # Export connectors upload their files with these.
    "push_entity_export": lambda c: c.stix_domain_object.push_entity_export(
        entity_id="x", file_name="f", data="d", file_markings=[]
    ),
    "push_list_export_core": lambda c: c.stix_core_object.push_list_export(
        "x", "Stix-Core-Object", "f", [], "d", ""
    ),
    "push_list_export_domain": lambda c: c.stix_domain_object.push_list_export(
        "x", "Report", "f", [], "d", ""
    ),
    "push_list_export_observable": lambda c: c.stix_cyber_observable.push_list_export(
        "x", "Stix-Cyber-Observable", "f", [], "d", ""
    ),
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, call in CALLS.items():
        documents = capture(call)
        if not documents:
            sys.exit(f"{name}: pycti sent no document")
        with open(os.path.join(out, f"pycti_{name}.graphql"), "w") as f:
            f.write(documents[0])


if __name__ == "__main__":
    main()
