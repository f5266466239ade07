//! A RabbitMQ node of a test's own: own epmd, ports, data and log
//! directories, no plugins, on loopback, killed by its pid when dropped (or
//! earlier, by the test). Without RabbitMQ on the machine the tests that
//! need one print a notice and pass, unless `CI` is set: then they fail.

use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};

/// RabbitMQ needs about 5 s on this machine; leave room for a busy one.
const NODE_START_TIMEOUT: Duration = Duration::from_secs(40);

static ONE_NODE_AT_A_TIME: LazyLock<Arc<tokio::sync::Mutex<()>>> =
    LazyLock::new(|| Arc::new(tokio::sync::Mutex::new(())));

/// The programs a private node needs.
pub(crate) struct Programs {
    rabbitmq_server: PathBuf,
    epmd: PathBuf,
}

/// `Some` when RabbitMQ (and `also`, e.g. openssl) are installed.
/// Otherwise fails under CI and returns `None` (with a notice) elsewhere.
pub(crate) fn programs(what: &str, also: &[&str]) -> Option<Programs> {
    // The Debian wrapper in /usr/sbin switches to the rabbitmq user; the
    // script it wraps runs the node as whoever calls it.
    let rabbitmq_server = [PathBuf::from("/usr/lib/rabbitmq/bin/rabbitmq-server")]
        .into_iter()
        .find(|path| path.is_file())
        .or_else(|| on_path("rabbitmq-server"));
    let epmd = on_path("epmd");
    let mut missing: Vec<&str> = [
        ("rabbitmq-server", rabbitmq_server.is_none()),
        ("epmd", epmd.is_none()),
    ]
    .into_iter()
    .filter_map(|(name, absent)| absent.then_some(name))
    .collect();
    missing.extend(also.iter().filter(|program| on_path(program).is_none()));
    if let (Some(rabbitmq_server), Some(epmd), true) = (rabbitmq_server, epmd, missing.is_empty()) {
        return Some(Programs {
            rabbitmq_server,
            epmd,
        });
    }
    let missing = missing.join(", ");
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} need rabbitmq-server, epmd and {also:?}; missing: {missing}"
    );
    notice(&format!(
        "{what} skipped, missing: {missing} (set CI to fail instead)"
    ));
    None
}

#[expect(
    clippy::print_stderr,
    reason = "stderr is where the test harness shows why a test passed without running"
)]
pub(crate) fn notice(message: &str) {
    eprintln!("NOTICE: {message}");
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
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

/// A TLS listener's configuration (`ssl_options.*`).
pub(crate) struct TlsListener {
    pub(crate) ca: String,
    pub(crate) cert: String,
    pub(crate) key: String,
    /// Ask clients for a certificate and refuse them without one.
    pub(crate) require_client_certificates: bool,
}

/// A private node with a plain listener and, optionally, a TLS listener.
/// Dropping it kills the node, then its epmd.
pub(crate) struct PrivateBroker {
    node: KillOnDrop,
    _turn: tokio::sync::OwnedMutexGuard<()>,
    _epmd: KillOnDrop,
    pub(crate) amqp_port: u16,
    pub(crate) tls_port: u16,
}

impl PrivateBroker {
    pub(crate) async fn start(programs: &Programs, dir: &Path, tls: Option<&TlsListener>) -> Self {
        Self::start_configured(programs, dir, tls, "").await
    }

    /// [`PrivateBroker::start`] with `extra` lines in the node's
    /// `rabbitmq.conf`.
    pub(crate) async fn start_configured(
        programs: &Programs,
        dir: &Path,
        tls: Option<&TlsListener>,
        extra: &str,
    ) -> Self {
        // One private node at a time: several starting together on a busy
        // two-core machine made a stopped node's publish come back
        // confirmed (seen three times in four parallel runs, never serially).
        let turn = Arc::clone(&ONE_NODE_AT_A_TIME).lock_owned().await;
        let started = Instant::now();
        let [amqp_port, tls_port, dist_port, epmd_port] = free_ports();
        for sub in ["home", "mnesia", "log"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::write(dir.join("enabled_plugins"), "[].\n").unwrap();
        // Replaces the machine's rabbitmq-env.conf, which names the shared node.
        std::fs::write(dir.join("rabbitmq-env.conf"), "").unwrap();
        let mut config = format!("listeners.tcp.1 = 127.0.0.1:{amqp_port}\n");
        if let Some(tls) = tls {
            let (verify, fail_if_no_peer_cert) = if tls.require_client_certificates {
                ("verify_peer", true)
            } else {
                ("verify_none", false)
            };
            config.push_str(&format!(
                "listeners.ssl.1 = 127.0.0.1:{tls_port}\n\
                 ssl_options.cacertfile = {ca}\n\
                 ssl_options.certfile = {cert}\n\
                 ssl_options.keyfile = {key}\n\
                 ssl_options.verify = {verify}\n\
                 ssl_options.fail_if_no_peer_cert = {fail_if_no_peer_cert}\n",
                ca = tls.ca,
                cert = tls.cert,
                key = tls.key,
            ));
        }
        config.push_str(extra);
        std::fs::write(dir.join("rabbitmq.conf"), config).unwrap();

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
            "test-{}@localhost",
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
        let (port, listener) = match tls {
            Some(_) => (tls_port, "the node's TLS listener"),
            None => (amqp_port, "the node's listener"),
        };
        wait_for_port(port, &mut node.0, listener, dir).await;
        notice(&format!(
            "private RabbitMQ node accepting connections after {:.1?}",
            started.elapsed()
        ));
        Self {
            node,
            _turn: turn,
            _epmd: epmd,
            amqp_port,
            tls_port,
        }
    }

    /// Kills the node by its pid and reaps it: the broker is gone.
    pub(crate) fn kill(&mut self) {
        let _ = self.node.0.kill();
        let _ = self.node.0.wait();
    }

    /// Stops the node (SIGSTOP) and waits until every thread of it has
    /// stopped (a loaded host may take a while to get there), so that what
    /// the test does next meets a node that answers nothing.
    pub(crate) fn pause(&self) {
        self.signal("STOP");
        self.wait_until_stopped();
    }

    /// Lets a paused node go on (SIGCONT).
    pub(crate) fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.node.0.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    fn wait_until_stopped(&self) {
        let threads = PathBuf::from(format!("/proc/{}/task", self.node.0.id()));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stopped = std::fs::read_dir(&threads).is_ok_and(|mut entries| {
                entries.all(|entry| {
                    entry.is_ok_and(|entry| thread_state(&entry.path().join("stat")) == Some('T'))
                })
            });
            if stopped {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the node's threads did not all stop within 10 s of SIGSTOP"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A fresh queue reachable through the default exchange, declared over
    /// the plain listener.
    pub(crate) async fn declare_queue(&self) -> PrivateQueue {
        let connection = Connection::connect(
            &format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.amqp_port),
            ConnectionProperties::default(),
        )
        .await
        .expect("the private node's plain listener accepts guest");
        let channel = connection.create_channel().await.unwrap();
        let name = format!("private-push-{}", uuid::Uuid::new_v4());
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

pub(crate) struct PrivateQueue {
    pub(crate) name: String,
    connection: Connection,
}

impl PrivateQueue {
    /// Every message body, in order, until `count` arrived or none came for
    /// a second.
    pub(crate) async fn drain(&self, count: usize) -> Vec<Vec<u8>> {
        let channel = self.connection.create_channel().await.unwrap();
        let mut consumer = channel
            .basic_consume(
                self.name.as_str().into(),
                "private-test".into(),
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

/// A thread's state letter from its `/proc/.../stat` (after the name,
/// which may itself hold parentheses).
fn thread_state(stat: &Path) -> Option<char> {
    let text = std::fs::read_to_string(stat).ok()?;
    text[text.rfind(')')? + 1..].trim_start().chars().next()
}
