//! The connectors this repository ships, as the documentation checks see
//! them: where each lives and which variables it reads. A new connector is
//! added here, and the README and compose checks then cover it.

use opencti_connector::ConnectorSpec;
use opencti_connector::config::{ConnectorType, Var};

/// One shipped connector.
pub(crate) struct Shipped {
    /// Its directory under `connectors/` (also the Docker `CONNECTOR` build
    /// argument, and the binary's name after `opencti-`).
    pub(crate) dir: &'static str,
    /// Its command-line description and variable tables.
    pub(crate) spec: ConnectorSpec,
    /// What it registers as (the kind its `main` runs).
    pub(crate) connector_type: ConnectorType,
}

impl Shipped {
    /// Every variable table it resolves: the runtime's, then its own.
    pub(crate) fn tables(&self) -> [&'static [Var]; 5] {
        self.spec.tables()
    }

    /// Whether `name` is a variable it reads (by its name or a legacy one).
    pub(crate) fn reads(&self, name: &str) -> bool {
        self.tables()
            .iter()
            .flat_map(|table| table.iter())
            .any(|var| var.env == name || var.aliases.contains(&name))
    }
}

/// The shipped connectors, in README order.
pub(crate) fn shipped() -> Vec<Shipped> {
    vec![
        Shipped {
            dir: "misp-feed",
            spec: opencti_misp_feed::SPEC,
            connector_type: ConnectorType::ExternalImport,
        },
        Shipped {
            dir: "ptnad",
            spec: opencti_ptnad::SPEC,
            connector_type: ConnectorType::Stream,
        },
        Shipped {
            dir: "sekoia-intel",
            spec: opencti_sekoia_intel::SPEC,
            connector_type: ConnectorType::Stream,
        },
        Shipped {
            dir: "teamt5",
            spec: opencti_teamt5::SPEC,
            connector_type: ConnectorType::ExternalImport,
        },
        Shipped {
            dir: "nti",
            spec: opencti_nti::SPEC,
            connector_type: ConnectorType::ExternalImport,
        },
        Shipped {
            dir: "import-file-stix",
            spec: opencti_import_file_stix::SPEC,
            connector_type: ConnectorType::InternalImportFile,
        },
        Shipped {
            dir: "export-file-stix",
            spec: opencti_export_file_stix::SPEC,
            connector_type: ConnectorType::InternalExportFile,
        },
        Shipped {
            dir: "export-file-txt",
            spec: opencti_export_file_txt::SPEC,
            connector_type: ConnectorType::InternalExportFile,
        },
    ]
}

/// The repository root.
pub(crate) fn repo_root() -> std::path::PathBuf {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.join("../..").canonicalize().unwrap()
}

#[test]
fn each_connector_is_the_package_and_binary_the_dockerfile_builds() {
    let root = repo_root();
    let dockerfile = std::fs::read_to_string(root.join("docker/Dockerfile")).unwrap();
    assert!(dockerfile.contains(r#"--package "opencti-${CONNECTOR}""#));
    assert!(dockerfile.contains(r#"--profile dist"#));
    assert!(dockerfile.contains(r#"target/dist/opencti-${CONNECTOR}"#));
    for connector in shipped() {
        let manifest = root
            .join("connectors")
            .join(connector.dir)
            .join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let package = format!("name = \"opencti-{}\"", connector.dir);
        assert!(
            text.contains(&package),
            "{} lacks {package}",
            manifest.display()
        );
        assert_eq!(connector.spec.name, format!("opencti-{}", connector.dir));
    }
}
