//! A leak the soak found: every RabbitMQ connection that opened a channel,
//! once closed and dropped, leaves a task alive in the tokio runtime
//! (lapin 4 with its default runtime). The simulator's broker link and each reconnection of
//! a connector's broker link (after every broker cut) leave one each.

use std::time::{Duration, Instant};

const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn alive() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_broker_connection_leaves_no_task_behind() {
    opencti_connector::tls::install_crypto_provider();
    let before = alive();
    for _ in 0..3 {
        let connection = lapin::Connection::connect(BROKER, lapin::ConnectionProperties::default())
            .await
            .expect("RabbitMQ on 127.0.0.1:5672");
        let channel = connection.create_channel().await.expect("a channel opens");
        channel
            .close(200, "done".into())
            .await
            .expect("the channel closes");
        connection
            .close(200, "done".into())
            .await
            .expect("the connection closes");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive() > before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        alive(),
        before,
        "tasks still alive after three closed connections"
    );
}
