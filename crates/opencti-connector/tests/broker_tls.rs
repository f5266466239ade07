//! `amqps` against a private RabbitMQ node with throwaway certificates,
//! configured the way an operator does it: through the `MQ_*` variables.
//!
//! Each test starts its own node (own epmd, ports, data and log
//! directories, no plugins) and kills it when dropped, so a failing test
//! leaves nothing running. Without RabbitMQ or openssl on the machine the
//! tests print a notice and pass, unless `CI` is set: then they fail.

use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
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

/// RabbitMQ needs about 5 s on this machine; leave room for a busy one.
const NODE_START_TIMEOUT: Duration = Duration::from_secs(40);
/// Bounds every publish: a TLS failure must be reported, not retried.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(15);
const PASSPHRASE: &str = "correct horse battery staple";

/// Whether the server asks clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientCertificates {
    NotAsked,
    Required,
}

/// The programs a private node needs.
struct Programs {
    rabbitmq_server: PathBuf,
    epmd: PathBuf,
}

/// `Some` when RabbitMQ and openssl are installed. Otherwise fails under CI
/// and returns `None` (with a notice) elsewhere.
fn programs() -> Option<Programs> {
    // The Debian wrapper in /usr/sbin switches to the rabbitmq user; the
    // script it wraps runs the node as whoever calls it.
    let rabbitmq_server = [PathBuf::from("/usr/lib/rabbitmq/bin/rabbitmq-server")]
        .into_iter()
        .find(|path| path.is_file())
        .or_else(|| on_path("rabbitmq-server"));
    let (epmd, openssl) = (on_path("epmd"), on_path("openssl"));
    let missing: Vec<&str> = [
        ("rabbitmq-server", rabbitmq_server.is_none()),
        ("epmd", epmd.is_none()),
        ("openssl", openssl.is_none()),
    ]
    .into_iter()
    .filter_map(|(name, absent)| absent.then_some(name))
    .collect();
    if let (Some(rabbitmq_server), Some(epmd), Some(_)) = (rabbitmq_server, epmd, openssl) {
        return Some(Programs {
            rabbitmq_server,
            epmd,
        });
    }
    let missing = missing.join(", ");
    assert!(
        std::env::var_os("CI").is_none(),
        "the broker TLS tests need rabbitmq-server, epmd and openssl; missing: {missing}"
    );
    notice(&format!(
        "broker TLS tests skipped, missing: {missing} (set CI to fail instead)"
    ));
    None
}

#[expect(
    clippy::print_stderr,
    reason = "stderr is where the test harness shows why a test passed without running"
)]
fn notice(message: &str) {
    eprintln!("NOTICE: {message}");
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
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

fn free_ports<const N: usize>() -> [u16; N] {
    // Held together so the ports are distinct, released before use.
    let listeners: [TcpListener; N] =
        std::array::from_fn(|_| TcpListener::bind("127.0.0.1:0").unwrap());
    listeners.map(|listener| listener.local_addr().unwrap().port())
}

/// A child process killed (by pid) and reaped when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A RabbitMQ node of our own with a plain listener (test plumbing) and a
/// TLS listener (under test), both on loopback. Dropping it kills the node,
/// then its epmd.
struct PrivateBroker {
    _node: KillOnDrop,
    _epmd: KillOnDrop,
    amqp_port: u16,
    tls_port: u16,
}

impl PrivateBroker {
    async fn start(
        programs: &Programs,
        dir: &Path,
        pki: &Pki,
        clients: ClientCertificates,
    ) -> Self {
        let started = Instant::now();
        let [amqp_port, tls_port, dist_port, epmd_port] = free_ports();
        for sub in ["home", "mnesia", "log"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::write(dir.join("enabled_plugins"), "[].\n").unwrap();
        // Replaces the machine's rabbitmq-env.conf, which names the shared node.
        std::fs::write(dir.join("rabbitmq-env.conf"), "").unwrap();
        let (verify, fail_if_no_peer_cert) = match clients {
            ClientCertificates::NotAsked => ("verify_none", false),
            ClientCertificates::Required => ("verify_peer", true),
        };
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!(
                "listeners.tcp.1 = 127.0.0.1:{amqp_port}\n\
                 listeners.ssl.1 = 127.0.0.1:{tls_port}\n\
                 ssl_options.cacertfile = {ca}\n\
                 ssl_options.certfile = {cert}\n\
                 ssl_options.keyfile = {key}\n\
                 ssl_options.verify = {verify}\n\
                 ssl_options.fail_if_no_peer_cert = {fail_if_no_peer_cert}\n",
                ca = pki.path("ca.pem"),
                cert = pki.path("server.pem"),
                key = pki.path("server.key"),
            ),
        )
        .unwrap();

        // Our own epmd in the foreground, up before the node: a node that
        // finds no epmd starts a daemonised one that would outlive the test.
        let mut epmd = KillOnDrop(
            Command::new(&programs.epmd)
                .args(["-port", &epmd_port.to_string(), "-address", "127.0.0.1"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("epmd starts"),
        );
        wait_for_port(epmd_port, &mut epmd.0, "epmd", dir).await;
        let log = |name: &str| std::fs::File::create(dir.join(name)).unwrap();
        let node_name = format!(
            "tls-{}@localhost",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let mut node = KillOnDrop(
            Command::new(&programs.rabbitmq_server)
                .current_dir(dir)
                .env("HOME", dir.join("home"))
                .env("ERL_EPMD_PORT", epmd_port.to_string())
                .env("RABBITMQ_NODENAME", node_name)
                .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
                .env("RABBITMQ_NODE_PORT", amqp_port.to_string())
                .env("RABBITMQ_DIST_PORT", dist_port.to_string())
                .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
                .env("RABBITMQ_CONF_ENV_FILE", dir.join("rabbitmq-env.conf"))
                .env("RABBITMQ_ADVANCED_CONFIG_FILE", dir.join("advanced.config"))
                .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
                .env("RABBITMQ_LOG_BASE", dir.join("log"))
                .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
                .env(
                    "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                    "-kernel inet_dist_use_interface {127,0,0,1}",
                )
                // Makes the script exec the Erlang VM instead of supervising
                // it from a shell: the pid we hold is the node itself.
                .env("RUNNING_UNDER_SYSTEMD", "true")
                .env_remove("ERL_FLAGS")
                .env_remove("ERL_ZFLAGS")
                .stdin(Stdio::null())
                .stdout(log("node.stdout"))
                .stderr(log("node.stderr"))
                .spawn()
                .expect("rabbitmq-server starts"),
        );
        wait_for_port(tls_port, &mut node.0, "the node's TLS listener", dir).await;
        notice(&format!(
            "private RabbitMQ node ({clients:?}) accepting TLS after {:.1?}",
            started.elapsed()
        ));
        Self {
            _node: node,
            _epmd: epmd,
            amqp_port,
            tls_port,
        }
    }

    /// A fresh durable-less queue reachable through the default exchange,
    /// declared over the plain listener.
    async fn declare_queue(&self) -> PrivateQueue {
        let connection = Connection::connect(
            &format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.amqp_port),
            ConnectionProperties::default(),
        )
        .await
        .expect("the private node's plain listener accepts guest");
        let channel = connection.create_channel().await.unwrap();
        let name = format!("tls-push-{}", uuid::Uuid::new_v4());
        channel
            .queue_declare(
                name.as_str().into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        PrivateQueue { name, connection }
    }
}

/// Waits until `port` accepts connections; fails if `process` exits or
/// the time runs out, showing the node's output.
async fn wait_for_port(port: u16, process: &mut Child, what: &str, dir: &Path) {
    let deadline = Instant::now() + NODE_START_TIMEOUT;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        if let Ok(Some(status)) = process.try_wait() {
            panic!(
                "{what} exited ({status}) before listening:\n{}",
                node_output(dir)
            );
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen within {NODE_START_TIMEOUT:?}:\n{}",
            node_output(dir)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The tail of the node's output, for failure messages.
fn node_output(dir: &Path) -> String {
    let mut text = String::new();
    for file in ["node.stdout", "node.stderr"] {
        if let Ok(mut handle) = std::fs::File::open(dir.join(file)) {
            let _ = handle.read_to_string(&mut text);
        }
    }
    let tail_start = text.floor_char_boundary(text.len().saturating_sub(4000));
    text[tail_start..].to_owned()
}

struct PrivateQueue {
    name: String,
    connection: Connection,
}

impl PrivateQueue {
    /// Every message body, in order, until `count` arrived or none came for
    /// a second.
    async fn drain(&self, count: usize) -> Vec<Vec<u8>> {
        let channel = self.connection.create_channel().await.unwrap();
        let mut consumer = channel
            .basic_consume(
                self.name.as_str().into(),
                "tls-test".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let mut bodies = Vec::new();
        while bodies.len() < count {
            let Ok(Some(Ok(delivery))) =
                tokio::time::timeout(Duration::from_secs(1), consumer.next()).await
            else {
                break;
            };
            delivery.ack(BasicAckOptions::default()).await.unwrap();
            bodies.push(delivery.data);
        }
        channel.close(200, "done".into()).await.ok();
        bodies
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
        let programs = programs()?;
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::generate(dir.path());
        let broker = PrivateBroker::start(&programs, &dir.path().join("node"), &pki, clients).await;
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
