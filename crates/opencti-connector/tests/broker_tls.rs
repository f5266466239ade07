//! `amqps` against a private RabbitMQ node with throwaway certificates,
//! configured the way an operator does it: through the `MQ_*` variables.
//!
//! Each test starts its own node (own epmd, ports, data and log
//! directories, no plugins) and kills it when dropped, so a failing test
//! leaves nothing running. Without RabbitMQ or openssl on the machine the
//! tests print a notice and pass, unless `CI` is set: then they fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use opencti_connector::amqp::OutgoingMessage;
use opencti_connector::amqp::{AmqpError, BrokerLink, BrokerParams, ConfirmPublisher};
use opencti_connector::api::{BrokerConnection, Generation};
use opencti_connector::config::runtime::RUNTIME_TABLES;
use opencti_connector::config::{RuntimeConfig, Settings};
use opencti_connector::metrics::Metrics;
use opencti_connector::publish::{EnvelopeFields, SendOptions, encode_envelope};
use opencti_stix::split::{SplitOptions, split_bundle};
use serde_json::json;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

use crate::private_broker::{PrivateBroker, PrivateQueue, TlsListener, programs};

/// Bounds every publish: a TLS failure must be reported, not retried.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(15);
const PASSPHRASE: &str = "correct horse battery staple";

/// Whether the server asks clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientCertificates {
    NotAsked,
    Required,
}

/// Runs openssl in `dir`, failing the test with its stderr.
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Throwaway certificates: `ca` signed `server` (localhost, 127.0.0.1) and
/// `client`; `other-ca` signed nothing the broker uses. Keys are
/// unencrypted PKCS#8, plus `client-encrypted.key` (PBES2, [`PASSPHRASE`]).
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn generate(dir: &Path) -> Self {
        let pki = Self {
            dir: dir.to_path_buf(),
        };
        pki.authority("ca");
        pki.authority("other-ca");
        pki.leaf(
            "server",
            "localhost",
            "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
        );
        pki.leaf(
            "client",
            "opencti-connector",
            "extendedKeyUsage=clientAuth\n",
        );
        openssl(
            dir,
            &[
                "pkcs8",
                "-topk8",
                "-in",
                "client.key",
                "-out",
                "client-encrypted.key",
                "-v2",
                "aes-256-cbc",
                "-v2prf",
                "hmacWithSHA256",
                "-passout",
                &format!("pass:{PASSPHRASE}"),
            ],
        );
        pki
    }

    fn authority(&self, name: &str) {
        openssl(
            &self.dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN=throwaway {name}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
            ],
        );
    }

    fn leaf(&self, name: &str, common_name: &str, extensions: &str) {
        let extension_file = format!("{name}.ext");
        std::fs::write(
            self.dir.join(&extension_file),
            format!("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n{extensions}"),
        )
        .unwrap();
        openssl(
            &self.dir,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                &format!("/CN={common_name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        let serial = format!("0x{}", uuid::Uuid::new_v4().simple());
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-days",
                "2",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                &serial,
                "-extfile",
                &extension_file,
                "-out",
                &format!("{name}.pem"),
            ],
        );
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    fn pem(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).unwrap()
    }
}

/// A node, its certificates and the directory holding both (dropped last).
struct Setup {
    broker: PrivateBroker,
    pki: Pki,
    _dir: TempDir,
}

impl Setup {
    async fn start(clients: ClientCertificates) -> Option<Self> {
        let programs = programs("the broker TLS tests", &["openssl"])?;
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::generate(dir.path());
        let listener = TlsListener {
            ca: pki.path("ca.pem"),
            cert: pki.path("server.pem"),
            key: pki.path("server.key"),
            require_client_certificates: clients == ClientCertificates::Required,
        };
        let broker =
            PrivateBroker::start(&programs, &dir.path().join("node"), Some(&listener)).await;
        Some(Self {
            broker,
            pki,
            _dir: dir,
        })
    }

    /// Broker parameters as the runtime builds them: the platform hands
    /// out a plain connection, the `MQ_*` variables turn on TLS.
    fn params(&self, host: &str, variables: &[(&str, &str)]) -> BrokerParams {
        let port = self.broker.tls_port.to_string();
        let mut env = vec![
            ("OPENCTI_URL", "http://127.0.0.1:4000/"),
            ("OPENCTI_TOKEN", "token"),
            ("CONNECTOR_ID", "5ad9b7d2-9e8f-4d0a-9f0e-2a7d1f4f6c11"),
            ("CONNECTOR_NAME", "TLS test"),
            ("MQ_HOST", host),
            ("MQ_PORT", port.as_str()),
            ("MQ_USE_SSL", "true"),
        ];
        env.extend_from_slice(variables);
        let config = RuntimeConfig::try_from(&Settings::from_env_pairs(RUNTIME_TABLES, env))
            .unwrap_or_else(|errors| panic!("configuration refused: {errors}"));
        let registration: BrokerConnection = serde_json::from_value(json!({
            "host": "rabbitmq", "vhost": "/", "use_ssl": false, "port": 5672, "user": "guest", "pass": "guest"
        }))
        .unwrap();
        BrokerParams::resolve(&registration, &config.mq).expect("broker parameters resolve")
    }
}

/// The envelopes of a split four-object bundle, as the runtime sends them.
fn bundle_messages() -> Vec<OutgoingMessage> {
    let identity = "identity--7b82b010-b1c0-4dae-981f-7756374a17df";
    let malware = "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b";
    let bundle = json!({ "type": "bundle", "id": "bundle--0d6a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b", "objects": [
        { "type": "identity", "spec_version": "2.1", "id": identity, "name": "ACME", "identity_class": "organization" },
        { "type": "malware", "spec_version": "2.1", "id": malware, "name": "Évil", "is_family": true, "created_by_ref": identity },
        { "type": "indicator", "spec_version": "2.1", "id": "indicator--1f8a9a4b-7e8c-4a0e-9b7a-2f6c0b9f2a11",
          "pattern": "[domain-name:value = 'evil.example']", "pattern_type": "stix", "created_by_ref": identity },
        { "type": "relationship", "spec_version": "2.1", "id": "relationship--9f2b0f8e-3c1b-4d8e-9a57-6c8f4b2d1e10",
          "relationship_type": "indicates", "source_ref": "indicator--1f8a9a4b-7e8c-4a0e-9b7a-2f6c0b9f2a11", "target_ref": malware }
    ] });
    let split = split_bundle(bundle, &SplitOptions::default()).unwrap();
    let options = SendOptions::default();
    let fields = EnvelopeFields {
        applicant_id: Some("user--tls"),
        work_id: Some("work_tls"),
        generation: Generation::V7,
        options: &options,
    };
    split
        .bundles
        .iter()
        .enumerate()
        .map(|(index, bundle)| OutgoingMessage {
            body: encode_envelope(bundle, index + 1, &fields),
        })
        .collect()
}

/// Publishes through a fresh link and closes it.
async fn publish(
    params: BrokerParams,
    queue: &PrivateQueue,
    messages: &[OutgoingMessage],
) -> Result<(), AmqpError> {
    let metrics = Metrics::default();
    let publisher = ConfirmPublisher::new(BrokerLink::new(params, metrics.clone()), metrics);
    let outcome = tokio::time::timeout(
        PUBLISH_TIMEOUT,
        publisher.publish_all("", &queue.name, messages, &CancellationToken::new()),
    )
    .await
    .unwrap_or_else(|_| {
        panic!("publishing neither succeeded nor failed within {PUBLISH_TIMEOUT:?}")
    });
    publisher.link().close().await;
    outcome
}

/// Publishes `messages` and checks they come back byte for byte.
async fn round_trip(setup: &Setup, case: &str, params: BrokerParams, messages: &[OutgoingMessage]) {
    let queue = setup.broker.declare_queue().await;
    let address = params.address();
    publish(params, &queue, messages)
        .await
        .unwrap_or_else(|error| panic!("{case}: publishing over TLS to {address}: {error}"));
    let received = queue.drain(messages.len()).await;
    let sent: Vec<&[u8]> = messages
        .iter()
        .map(|message| message.body.as_slice())
        .collect();
    let received: Vec<&[u8]> = received.iter().map(Vec::as_slice).collect();
    assert_eq!(
        received, sent,
        "{case}: messages published over TLS to {address}"
    );
}

fn probe() -> Vec<OutgoingMessage> {
    vec![OutgoingMessage {
        body: b"{\"probe\": true}".to_vec(),
    }]
}

#[tokio::test]
async fn amqps_verifies_the_broker_or_skips_verification_on_request() {
    let Some(setup) = Setup::start(ClientCertificates::NotAsked).await else {
        return;
    };
    let ca = setup.pki.path("ca.pem");
    let other_ca = setup.pki.path("other-ca.pem");

    // (1) Verified against the CA, by DNS name and by IP address.
    let messages = bundle_messages();
    assert_eq!(messages.len(), 4);
    let verified = [
        ("MQ_USE_SSL_CA", ca.as_str()),
        ("MQ_USE_SSL_REJECT_UNAUTHORIZED", "true"),
    ];
    round_trip(
        &setup,
        "verified by name",
        setup.params("localhost", &verified),
        &messages,
    )
    .await;
    let by_address = setup.params("127.0.0.1", &verified);
    round_trip(&setup, "verified by address", by_address, &probe()).await;

    // (2) Verification on, broker certificate from an unknown CA: a TLS
    // error, reported instead of retried.
    for ca_variables in [vec![("MQ_USE_SSL_CA", other_ca.as_str())], vec![]] {
        let mut variables = ca_variables.clone();
        variables.push(("MQ_USE_SSL_REJECT_UNAUTHORIZED", "true"));
        let queue = setup.broker.declare_queue().await;
        let error = publish(setup.params("localhost", &variables), &queue, &probe())
            .await
            .expect_err("a broker certificate from an unknown CA is refused");
        let text = error.to_string();
        assert!(
            matches!(error, AmqpError::TlsHandshake { .. })
                && text.contains("the broker's certificate is not trusted")
                && text.contains("UnknownIssuer")
                && text.contains("MQ_USE_SSL_CA"),
            "{ca_variables:?}: {text}"
        );
        assert!(queue.drain(1).await.is_empty());
    }

    // (3) Verification off: encrypted, whatever the CA.
    for ca_variables in [vec![("MQ_USE_SSL_CA", other_ca.as_str())], vec![]] {
        let mut variables = ca_variables;
        variables.push(("MQ_USE_SSL_REJECT_UNAUTHORIZED", "false"));
        let params = setup.params("localhost", &variables);
        round_trip(&setup, "unverified", params, &probe()).await;
    }
}

#[tokio::test]
async fn amqps_presents_the_client_certificate() {
    let Some(setup) = Setup::start(ClientCertificates::Required).await else {
        return;
    };
    let ca = setup.pki.path("ca.pem");
    let (cert_pem, key_pem) = (setup.pki.pem("client.pem"), setup.pki.pem("client.key"));
    let (cert_path, key_path) = (setup.pki.path("client.pem"), setup.pki.path("client.key"));
    let encrypted_key_pem = setup.pki.pem("client-encrypted.key");

    // (4) Inline PEM with verification, file paths without, an encrypted
    // key with its passphrase.
    let forms: [(&str, Vec<(&str, &str)>); 3] = [
        (
            "inline PEM, verified",
            vec![
                ("MQ_USE_SSL_CA", ca.as_str()),
                ("MQ_USE_SSL_REJECT_UNAUTHORIZED", "true"),
                ("MQ_USE_SSL_CERT", cert_pem.as_str()),
                ("MQ_USE_SSL_KEY", key_pem.as_str()),
            ],
        ),
        (
            "file paths, unverified",
            vec![
                ("MQ_USE_SSL_REJECT_UNAUTHORIZED", "false"),
                ("MQ_USE_SSL_CERT", cert_path.as_str()),
                ("MQ_USE_SSL_KEY", key_path.as_str()),
            ],
        ),
        (
            "encrypted key, verified",
            vec![
                ("MQ_USE_SSL_CA", ca.as_str()),
                ("MQ_USE_SSL_REJECT_UNAUTHORIZED", "true"),
                ("MQ_USE_SSL_CERT", cert_path.as_str()),
                ("MQ_USE_SSL_KEY", encrypted_key_pem.as_str()),
                ("MQ_USE_SSL_PASSPHRASE", PASSPHRASE),
            ],
        ),
    ];
    for (form, variables) in forms {
        round_trip(
            &setup,
            form,
            setup.params("localhost", &variables),
            &probe(),
        )
        .await;
    }

    // Without a certificate the broker refuses the client: proof the ones
    // above were presented.
    let queue = setup.broker.declare_queue().await;
    let error = publish(
        setup.params(
            "localhost",
            &[
                ("MQ_USE_SSL_CA", ca.as_str()),
                ("MQ_USE_SSL_REJECT_UNAUTHORIZED", "true"),
            ],
        ),
        &queue,
        &probe(),
    )
    .await
    .expect_err("the broker requires a client certificate");
    assert!(matches!(error, AmqpError::TlsHandshake { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("the broker refused the client certificate"),
        "{error}"
    );
}
