//! Throughput of a whole run without the platform: a package of 10,000 IOC
//! records (with duplicates to merge) and 10,000 IP records with a location
//! and an AS each, downloaded from the fake NTI server over loopback HTTP,
//! unzipped, converted and handed to a recording run context.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opencti_connector::config::{Settings, Var};
use opencti_connector::{Connector, ImportSource, RunContext};
use opencti_nti::Nti;
use opencti_nti::fake::{self, FakeNti};
use opencti_nti::{NtiConfig, VARS};
use serde_json::{Value, json};

const RECORDS: usize = 10_000;
const KEY: &str = "bench-key";

fn ioc(index: usize) -> Value {
    // Every tenth record repeats an earlier address: merged.
    let address = if index % 10 == 9 { index - 9 } else { index };
    let address = format!(
        "10.{}.{}.{}",
        address / 65_536,
        address / 256 % 256,
        address % 256
    );
    json!({"type": "indicator", "pattern": format!("[ipv4-addr:value = '{address}']"),
        "observables": [{"type": "ipv4-addr", "value": address}], "threat_types": [104, 40702],
        "threat_level": 4, "confidence": 85,
        "tags": [{"tag_type": "malware_family", "tag_values": ["Mirai"]}, {"tag_type": "direction", "tag_values": ["in"]}],
        "modified": "2025-04-25T01:23:45Z", "valid_until": "2025-05-25T01:23:45Z", "revoked": false})
}

fn ip(index: usize) -> Value {
    let address = format!(
        "172.{}.{}.{}",
        index / 65_536 + 16,
        index / 256 % 256,
        index % 256
    );
    json!({"object": {"type": "ipv4-addr", "value": address}, "modified": "2025-04-25T00:00:00Z",
        "locations": [{"country": "United States", "region": "California", "city": format!("City {}", index % 50),
            "latitude": 34.05, "longitude": -118.24, "postal_code": "90001", "street_address": ""}],
        "ases": [{"number": format!("AS{}", 64_500 + index % 100), "name": "EXAMPLE-NET", "rir": "ARIN",
            "country_code": "US", "registered": ["2001-05-01"], "first_seen": "2024-01-01", "last_seen": "2025-04-24"}]})
}

fn package() -> Vec<u8> {
    let iocs: Vec<Value> = (0..RECORDS).map(ioc).collect();
    let ips: Vec<Value> = (0..RECORDS).map(ip).collect();
    fake::package(&[
        (
            "data.NTI.API.V2.0.ioc-updated.20250425.0001.json",
            fake::entry_content(&iocs),
        ),
        (
            "data.NTI.API.V2.0.ip-basic-updated.20250425.0001.json",
            fake::entry_content(&ips),
        ),
    ])
}

fn import(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(FakeNti::start(KEY));
    server.set_package(package());
    let tables: Vec<&[Var]> = vec![VARS];
    let settings = Settings::from_env_pairs(
        &tables,
        [
            ("NTI_BASE_URL", server.base_url()),
            ("NTI_API_KEY", KEY.to_owned()),
            ("NTI_CREATE_IOC", "true".to_owned()),
            ("NTI_CREATE_IP", "true".to_owned()),
        ],
    );
    let config = NtiConfig::try_from(&settings).expect("configuration");
    let run = || async {
        let mut connector = Nti::from_config(config.clone()).expect("connector");
        let (ctx, probe) = RunContext::for_test(None);
        connector.run(&ctx).await.expect("run");
        probe
    };
    // Checked once, outside the measurement (reading the probe copies every bundle).
    let probe = runtime.block_on(run());
    assert_eq!(probe.bundles().len(), 19, "9 IOC slices and 10 IP slices");
    let mut group = c.benchmark_group("import_package");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(2 * RECORDS as u64));
    group.bench_function("ioc_and_ip_20k_records", |bencher| {
        bencher.iter(|| runtime.block_on(run()));
    });
    group.finish();
}

criterion_group!(benches, import);
criterion_main!(benches);
