//! The shipped binary reports this package's version.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reports_its_package_version() {
    let env = [
        ("NTI_BASE_URL", "http://127.0.0.1:9"),
        ("NTI_API_KEY", "key"),
    ];
    let binary = env!("CARGO_BIN_EXE_opencti-nti");
    crate::shipped_binary::assert_reports_version(binary, env!("CARGO_PKG_VERSION"), &env).await;
}
