//! TLS plumbing shared by the platform client, the broker connection and
//! the listen endpoint: the process-wide rustls crypto provider, reading
//! certificates and keys given as paths or inline PEM (pycti's rule), and
//! the start-up warnings when certificates go unverified.
//!
//! pycti's defaults verify neither the platform's certificate
//! (`OPENCTI_SSL_VERIFY=false`) nor the broker's
//! (`MQ_USE_SSL_REJECT_UNAUTHORIZED=false`); the defaults stay, so that a
//! configuration behaves as it did with pycti, but an encrypted connection
//! that is not verified is named once at start, with what to set.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::amqp::BrokerParams;
use crate::config::{OpenctiConfig, PlatformTls, Secret};

/// Installs aws-lc-rs as the process-default rustls provider (idempotent).
pub fn install_crypto_provider() {
    // An error only means a provider is already installed, which is fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Warns when the platform is reached over `https` without verifying its
/// certificate (anyone on the path could then read the token).
pub fn warn_if_platform_unverified(config: &OpenctiConfig) {
    if config.url.scheme() == "https" && config.tls == PlatformTls::NoVerify {
        tracing::warn!(
            attributes.url = %config.url,
            "OPENCTI_SSL_VERIFY is false: the platform's TLS certificate is not verified, so a \
             machine in the middle could read the token and the data; set OPENCTI_SSL_VERIFY=true, \
             or to the path of the CA bundle that signed the platform's certificate"
        );
    }
}

/// Warns when the broker is reached over `amqps` without verifying its
/// certificate and host name.
pub fn warn_if_broker_unverified(params: &BrokerParams) {
    if params.tls.as_ref().is_some_and(|tls| !tls.verify) {
        tracing::warn!(
            attributes.host = %params.host,
            attributes.port = params.port,
            "MQ_USE_SSL_REJECT_UNAUTHORIZED is false: the broker's TLS certificate and host name \
             are not verified, so a machine in the middle could read the broker password and the \
             bundles; set MQ_USE_SSL_REJECT_UNAUTHORIZED=true (with MQ_USE_SSL_CA for a private CA)"
        );
    }
}

/// The PEM `value` holds inline (it starts with `-----BEGIN`), or the text
/// of the file it names; an error names `variable`.
pub(crate) fn read_pem(variable: &str, value: &str) -> Result<String, String> {
    if value.trim_start().starts_with("-----BEGIN") {
        return Ok(value.to_owned());
    }
    std::fs::read_to_string(value.trim())
        .map_err(|error| format!("{variable}: cannot read {}: {error}", value.trim()))
}

/// A private key as unencrypted PEM. An encrypted PKCS#8 key (PBES2, as
/// `openssl pkcs8 -topk8` and `openssl genpkey -aes256` write them) is
/// decrypted with the passphrase; an unencrypted key passes through and
/// the passphrase is ignored, as Python's `load_cert_chain` does. Errors
/// name `key_variable` or `passphrase_variable`.
pub(crate) fn unlock_key(
    pem: String,
    passphrase: Option<&Secret>,
    key_variable: &str,
    passphrase_variable: &str,
) -> Result<String, String> {
    if pem.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(format!(
            "{key_variable}: keys encrypted in the legacy OpenSSL format are not supported; \
             convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
        ));
    }
    let Some(encrypted) = pem_block(&pem, "ENCRYPTED PRIVATE KEY")
        .map_err(|reason| format!("{key_variable}: {reason}"))?
    else {
        return Ok(pem);
    };
    let passphrase = passphrase
        .filter(|passphrase| !passphrase.is_empty())
        .ok_or_else(|| format!("{key_variable} is encrypted: set {passphrase_variable}"))?;
    let key = decrypt_pkcs8(&encrypted, passphrase.expose(), passphrase_variable)
        .map_err(|reason| format!("{key_variable}: {reason}"))?;
    Ok(pem_encode("PRIVATE KEY", &key))
}

/// Decrypts a DER `EncryptedPrivateKeyInfo` and checks the result is a
/// private key rustls can use: a wrong passphrase usually fails the
/// padding check, and rarely yields garbage that this check catches.
fn decrypt_pkcs8(
    der: &[u8],
    passphrase: &str,
    passphrase_variable: &str,
) -> Result<Vec<u8>, String> {
    use pkcs5::der::asn1::OctetStringRef;
    use pkcs5::der::{Decode as _, Reader as _, SliceReader};

    let unreadable = |error: pkcs5::der::Error| format!("not an encrypted PKCS#8 key: {error}");
    let mut reader = SliceReader::new(der).map_err(unreadable)?;
    let (scheme, ciphertext) = reader
        .sequence(|fields| {
            Ok((
                pkcs5::EncryptionScheme::decode(fields)?,
                OctetStringRef::decode(fields)?,
            ))
        })
        .map_err(unreadable)?;
    reader.finish(()).map_err(unreadable)?;
    let wrong_passphrase =
        || format!("cannot decrypt it: wrong {passphrase_variable} or unsupported encryption");
    let key = scheme
        .decrypt(passphrase, ciphertext.as_bytes())
        .map_err(|_| wrong_passphrase())?;
    let usable = rustls::pki_types::PrivateKeyDer::Pkcs8(key.clone().into());
    rustls::crypto::aws_lc_rs::default_provider()
        .key_provider
        .load_private_key(usable)
        .map_err(|_| wrong_passphrase())?;
    Ok(key)
}

/// The DER bytes of the first `label` block of `pem`, if there is one.
fn pem_block(pem: &str, label: &str) -> Result<Option<Vec<u8>>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let Some(start) = pem.find(&begin).map(|at| at + begin.len()) else {
        return Ok(None);
    };
    let stop = pem[start..]
        .find(&end)
        .ok_or_else(|| format!("`{begin}` without `{end}`"))?
        + start;
    let body: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD
        .decode(body)
        .map(Some)
        .map_err(|error| format!("invalid Base64 in the {label} block: {error}"))
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    // Base64 is ASCII: every 64-byte chunk is valid UTF-8.
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}
