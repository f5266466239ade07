//! The shipped binary reports this package's version.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reports_its_package_version() {
    let binary = env!("CARGO_BIN_EXE_opencti-import-file-stix");
    crate::shipped_binary::assert_reports_version(binary, env!("CARGO_PKG_VERSION"), &[]).await;
}
