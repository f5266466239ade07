//! The shipped binary reports this package's version.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reports_its_package_version() {
    let env = [
        ("SEKOIA_INTEL_URL", "http://127.0.0.1:9"),
        ("SEKOIA_INTEL_APIKEY", "key"),
        (
            "SEKOIA_INTEL_IOC_COLLECTION_UUID",
            "3e1b2c4d-5f60-4a7b-8c9d-0e1f2a3b4c5d",
        ),
    ];
    let binary = env!("CARGO_BIN_EXE_opencti-sekoia-intel");
    crate::shipped_binary::assert_reports_version(binary, env!("CARGO_PKG_VERSION"), &env).await;
}
