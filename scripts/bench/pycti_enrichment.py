"""The pycti side of the enrichment benchmark
(examples/enrichment-connector/benches/enrichment_vs_pycti.rs): an
INTERNAL_ENRICHMENT connector on OpenCTIConnectorHelper.listen doing what
the Rust connector does for an IPv4 or IPv6 address: check the entity's TLP
against CONNECTOR_MAX_TLP, find the special-purpose range the address falls
in, and send the entity back with that range as a label, with the
connector's author identity. Configured from the environment the benchmark
sets (OPENCTI_URL, OPENCTI_TOKEN, CONNECTOR_ID); runs until it is stopped.
"""

import ipaddress
import os

import stix2
from pycti import Identity, OpenCTIConnectorHelper

PREFIX = "ip-"

# The same ranges, in the same order, as the Rust connector's mapping.rs.
RANGES = [
    (ipaddress.ip_network(network), name)
    for network, name in [
        ("0.0.0.0/32", "unspecified"),
        ("255.255.255.255/32", "broadcast"),
        ("0.0.0.0/8", "reserved"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "reserved"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("100::/64", "reserved"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("2001:2::/48", "benchmarking"),
        ("2001::/23", "reserved"),
        ("fc00::/7", "private"),
        ("fe80::/10", "link-local"),
        ("ff00::/8", "multicast"),
    ]
]


def classify(value: str):
    address = ipaddress.ip_address(value)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    for network, name in RANGES:
        if address.version == network.version and address in network:
            return name
    return None


def main() -> None:
    helper = OpenCTIConnectorHelper(
        {
            "opencti": {
                "url": os.environ["OPENCTI_URL"],
                "token": os.environ["OPENCTI_TOKEN"],
                "json_logging": True,
            },
            "connector": {
                "id": os.environ["CONNECTOR_ID"],
                "type": "INTERNAL_ENRICHMENT",
                "name": "pycti observable enricher",
                "scope": "IPv4-Addr,IPv6-Addr",
                "log_level": "error",
            },
        },
        playbook_compatible=True,
    )
    max_tlp = os.environ.get("CONNECTOR_MAX_TLP")
    author = stix2.Identity(
        id=Identity.generate_id("Observable enricher", "organization"),
        name="Observable enricher",
        identity_class="organization",
    )

    def enrich(data: dict) -> str:
        tlp = None
        for marking in data["enrichment_entity"].get("objectMarking", []):
            if marking["definition_type"] == "TLP":
                tlp = marking["definition"]
        if tlp and max_tlp and not OpenCTIConnectorHelper.check_max_tlp(tlp, max_tlp):
            raise ValueError(f"TLP of the entity ({tlp}) is greater than MAX TLP ({max_tlp})")
        entity = data["stix_entity"]
        if entity["type"] not in ("ipv4-addr", "ipv6-addr"):
            raise ValueError(f"cannot enrich a {entity['type']}")
        name = classify(entity["value"])
        if name is None:
            return f"Nothing to add to {entity['value']}"
        labels = list(entity.get("labels", []))
        if PREFIX + name not in labels:
            labels.append(PREFIX + name)
        entity = {**entity, "labels": labels}
        objects = [
            entity if o.get("id") == entity["id"] else o for o in data["stix_objects"]
        ]
        bundle = helper.stix2_create_bundle(objects + [author])
        helper.send_stix2_bundle(bundle)
        return f"Enriched {entity['value']}: labelled {PREFIX + name}"

    helper.listen(enrich)


if __name__ == "__main__":
    main()
