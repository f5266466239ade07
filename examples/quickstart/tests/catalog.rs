//! `catalog/manifest.json`, the catalog an operator loads into OpenCTI so
//! that its connector manager deploys our images: generated from the
//! shipped connectors' code (`UPDATE_METADATA=1 cargo test -p
//! opencti-quickstart --test tests catalog` rewrites it), in the platform's
//! V1 catalog format, within the manifest vocabularies, and in line with
//! each connector's `__metadata__/` files and image name.

use opencti_connector::catalog;
use serde_json::{Value, json};

use crate::shipped::{repo_root, shipped};

fn generated() -> Value {
    let shipped = shipped();
    let connectors: Vec<_> = shipped
        .iter()
        .map(|connector| (&connector.spec, connector.connector_type))
        .collect();
    catalog::catalog(env!("CARGO_PKG_VERSION"), &connectors)
}

fn committed() -> Value {
    let text = std::fs::read_to_string(repo_root().join("catalog/manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// What a contract of a V1 catalog must be, in our words: the fields the
/// platform reads and the vocabularies of upstream's manifest schema
/// (OpenCTI-Platform/connectors, `connector_manifest_schema.json`).
fn contract_schema() -> Value {
    let slug = "^[a-z0-9]+(?:-[a-z0-9]+)*$";
    json!({
        "$schema": catalog::SCHEMA_DIALECT,
        "type": "object",
        "required": [
            "id", "title", "slug", "description", "short_description", "logo", "use_cases",
            "solution_categories", "license_type", "contact", "verified", "last_verified_date",
            "subscription_link", "source_code", "manager_supported", "min_version", "version",
            "image_name", "image_type", "platform", "integration_type", "additional_properties",
            "config_schema"
        ],
        "properties": {
            "id": { "type": "string", "pattern": slug },
            "slug": { "type": "string", "pattern": slug },
            "title": { "type": "string", "minLength": 1 },
            "description": { "type": "string", "minLength": 1 },
            "short_description": { "type": "string", "minLength": 1, "maxLength": 200 },
            "logo": { "type": "string", "pattern": "^data:image/[a-z+]+;base64," },
            "use_cases": {
                "type": "array", "minItems": 1, "maxItems": 3, "uniqueItems": true,
                "items": { "enum": [
                    "Adversary & Campaign Insights",
                    "Vulnerability & Exploit Awareness",
                    "Infrastructure & Attack Surface Visibility",
                    "Detection & Response Enablement",
                    "Fraud, Financial Crime & Cryptocurrency Monitoring",
                    "Brand, Digital Risk & Underground Exposure",
                    "Third-Party & Supply Chain Oversight",
                    "Cloud, SaaS & Platform Security",
                    "Geopolitical, Physical & Hybrid Risk Analysis",
                    "Market Vertical & Mission-Specific Intelligence",
                    "FIMI & Disinformation",
                    "Other"
                ] }
            },
            "solution_categories": {
                "type": "array", "minItems": 1, "maxItems": 3, "uniqueItems": true,
                "items": { "enum": [
                    "Threat Intelligence Feed",
                    "Endpoint Detection & Response",
                    "SIEM & Security Analytics",
                    "Malware Analysis & Sandbox",
                    "SOAR & Security Automation",
                    "Vulnerability & Exposure Management",
                    "Attack Surface Management",
                    "Network Security",
                    "Email Security",
                    "AI Security",
                    "Incident Response & Case Management",
                    "Digital Risk Protection",
                    "Governance, Risk & Compliance",
                    "Cloud Security",
                    "Enrichment & Reputation",
                    "Import, Export & Sharing",
                    "Other"
                ] }
            },
            "license_type": { "enum": ["Free", "Commercial", ""] },
            "contact": { "type": "string" },
            "verified": { "type": ["boolean", "null"] },
            "last_verified_date": { "type": ["string", "null"], "format": "date" },
            "subscription_link": { "type": "string" },
            "source_code": { "type": "string", "format": "uri" },
            "manager_supported": { "const": true },
            "min_version": { "type": "string", "pattern": "^[0-9]+\\.[0-9]{1,6}\\.?[0-9]*$" },
            "version": { "type": "string", "pattern": "^[0-9]+\\.[0-9]{1,6}\\.[0-9]+(-lts\\.[0-9]+)?$" },
            "image_name": { "type": "string", "pattern": "^[a-z0-9]+(?:[._/-][a-z0-9]+)*$" },
            "image_type": { "enum": [
                "EXTERNAL_IMPORT", "INTERNAL_ENRICHMENT", "INTERNAL_EXPORT_FILE",
                "INTERNAL_IMPORT_FILE", "STREAM"
            ] },
            "platform": { "const": "OpenCTI" },
            "integration_type": { "const": "connector" },
            "additional_properties": {
                "type": "object",
                "properties": {
                    "playbook_supported": { "type": "boolean" },
                    "max_confidence_level": { "type": "integer", "minimum": 0, "maximum": 100 }
                }
            },
            "config_schema": { "type": "object" }
        }
    })
}

#[test]
fn the_committed_catalog_is_the_generated_one() {
    let generated = catalog::to_file_text(&generated());
    let path = repo_root().join("catalog/manifest.json");
    if std::env::var_os("UPDATE_METADATA").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "catalog/manifest.json is not what the code generates; run `UPDATE_METADATA=1 cargo test -p opencti-quickstart --test tests catalog` and commit the result"
    );
}

#[test]
fn the_catalog_is_a_v1_catalog_of_every_shipped_connector() {
    let catalog = committed();
    let keys: Vec<&str> = catalog
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "name",
            "description",
            "manifest_schema_version",
            "manifest_version",
            "product_version",
            "contracts"
        ]
    );
    assert_eq!(catalog["manifest_schema_version"], "1");
    let slugs: Vec<&str> = catalog["contracts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|contract| contract["slug"].as_str().unwrap())
        .collect();
    let mut on_disk: Vec<String> = std::fs::read_dir(repo_root().join("connectors"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = slugs.iter().map(|slug| (*slug).to_owned()).collect();
    listed.sort();
    assert_eq!(listed, on_disk);
}

#[test]
fn every_contract_meets_the_manifest_vocabularies() {
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&contract_schema())
        .unwrap();
    for contract in committed()["contracts"].as_array().unwrap() {
        let errors: Vec<String> = validator
            .iter_errors(contract)
            .map(|error| format!("{}: {error}", error.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", contract["slug"]);
        jsonschema::draft202012::meta::validate(&contract["config_schema"])
            .unwrap_or_else(|error| panic!("{}: {error}", contract["slug"]));
    }
}

#[test]
fn the_vocabulary_check_refuses_a_contract_outside_it() {
    let validator = jsonschema::validator_for(&contract_schema()).unwrap();
    let mut contract = committed()["contracts"][0].clone();
    assert!(validator.is_valid(&contract));
    contract["use_cases"] = json!(["Threat hunting"]);
    assert!(!validator.is_valid(&contract));
}

#[test]
fn every_contract_matches_its_connectors_metadata_and_image() {
    let catalog = committed();
    let root = repo_root();
    let compose = std::fs::read_to_string(root.join("docker/docker-compose.yml")).unwrap();
    let images_script = std::fs::read_to_string(root.join("scripts/images.sh")).unwrap();
    assert!(images_script.contains("localhost/opencti-connectors/$connector:$tag"));
    for connector in shipped() {
        let contract = catalog["contracts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|contract| contract["slug"] == connector.dir)
            .unwrap_or_else(|| panic!("{} is not in the catalog", connector.dir));
        let metadata = root
            .join("connectors")
            .join(connector.dir)
            .join("__metadata__");
        let read = |name: &str| -> Value {
            serde_json::from_str(&std::fs::read_to_string(metadata.join(name)).unwrap()).unwrap()
        };
        let manifest = read("connector_manifest.json");
        assert_eq!(
            contract["config_schema"],
            read("connector_config_schema.json")
        );
        assert_eq!(contract["title"], manifest["title"]);
        assert_eq!(contract["image_name"], manifest["container_image"]);
        assert_eq!(contract["image_type"], manifest["container_type"]);
        assert_eq!(contract["version"], manifest["container_version"]);
        let image = format!("opencti-connectors/{}", connector.dir);
        assert_eq!(contract["image_name"], image);
        assert!(
            compose.contains(&format!("image: {image}:latest")),
            "docker-compose.yml does not run {image}"
        );
    }
}
