//! URLs as they may be shown: without query, fragment or user info.
//!
//! A pre-signed download URL carries its signature in the query, a feed URL
//! may carry `user:password@`; both end up in errors (reqwest puts the full
//! URL in its error text), log lines and work messages, which platform users
//! read. Everything shown goes through these helpers.

use reqwest::Url;

use crate::error::error_chain;

/// `url` without user info, query and fragment, for errors and logs.
pub fn redact_url(url: &Url) -> String {
    if url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none()
    {
        return url.to_string();
    }
    let mut shown = url.clone();
    // Both setters only fail for URLs that cannot carry credentials at all.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// `text` with every URL in it (`scheme://...`) redacted as [`redact_url`]
/// does; a URL that does not parse loses everything after `?` or `#` and
/// its `...@` part all the same.
pub fn redact_urls(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(separator) = rest.find("://") {
        let scheme_start = rest[..separator]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |position| position + 1);
        let after = &rest[separator + 3..];
        let mut length = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .unwrap_or(after.len());
        // "(for url (https://host/x?q)): ...": closing brackets and
        // punctuation at the end are prose, not part of the URL.
        while let Some(last) = after[..length].chars().next_back() {
            let prose = match last {
                ')' => !after[..length].contains('('),
                ']' => !after[..length].contains('['),
                ',' | ';' | ':' | '.' | '!' => true,
                _ => false,
            };
            if !prose {
                break;
            }
            length -= 1;
        }
        let candidate = &rest[scheme_start..separator + 3 + length];
        shown.push_str(&rest[..scheme_start]);
        if scheme_start == separator {
            // No scheme before "://": not a URL.
            shown.push_str(&rest[separator..separator + 3]);
            rest = after;
            continue;
        }
        match Url::parse(candidate) {
            Ok(url) => shown.push_str(&redact_url(&url)),
            Err(_) => shown.push_str(&crude_redaction(candidate)),
        }
        rest = &rest[separator + 3 + length..];
    }
    shown.push_str(rest);
    shown
}

/// What can be said of a URL the parser refused: no query, no fragment, no
/// user info.
fn crude_redaction(candidate: &str) -> String {
    let cut = candidate.find(['?', '#']).unwrap_or(candidate.len());
    let kept = &candidate[..cut];
    let Some(separator) = kept.find("://") else {
        return kept.to_owned();
    };
    let (scheme, rest) = kept.split_at(separator + 3);
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}{}", &rest[at + 1..]),
        None => kept.to_owned(),
    }
}

/// A reqwest error and its causes on one line ([`error_chain`]), every URL
/// in it redacted.
pub fn error_text(mut error: reqwest::Error) -> String {
    if let Some(url) = error.url_mut() {
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_query(None);
        url.set_fragment(None);
    }
    redact_urls(&error_chain(&error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_credentials_and_fragments_are_dropped() {
        let url =
            Url::parse("https://alice:s3cret@feeds.example.org/misp/manifest.json?sig=abc#top")
                .unwrap();
        assert_eq!(
            redact_url(&url),
            "https://feeds.example.org/misp/manifest.json"
        );
        let plain = Url::parse("https://feeds.example.org/x").unwrap();
        assert_eq!(redact_url(&plain), "https://feeds.example.org/x");
    }

    #[test]
    fn urls_inside_text_are_redacted() {
        let text = "error sending request for url (https://cdn.example.org/a.json?X-Signature=SECRET&e=1): \
                    connect to http://bob:pw@proxy:3128 failed; see \"https://x.example/p?token=SECRET\"";
        let shown = redact_urls(text);
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(!shown.contains("pw"), "{shown}");
        assert_eq!(
            shown,
            "error sending request for url (https://cdn.example.org/a.json): \
             connect to http://proxy:3128/ failed; see \"https://x.example/p\""
        );
    }

    #[test]
    fn unparsable_urls_still_lose_their_secrets() {
        let shown = redact_urls("at http://u:p@[bad/x?sig=SECRET and s3:// alone");
        assert!(
            !shown.contains("SECRET") && !shown.contains("u:p"),
            "{shown}"
        );
        assert_eq!(redact_urls("no url here: a://"), "no url here: a://");
        assert_eq!(redact_urls("://x?y"), "://x?y");
    }

    #[tokio::test]
    async fn reqwest_errors_name_the_url_without_its_query() {
        // A refused connection: nothing listens on the port just freed.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        crate::tls::install_crypto_provider();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let error = client
            .get(format!(
                "http://user:pw@127.0.0.1:{port}/stix?signature=SECRET"
            ))
            .send()
            .await
            .unwrap_err();
        let raw = error_chain(&error);
        assert!(raw.contains("SECRET"), "the raw chain leaks: {raw}");
        let shown = error_text(error);
        assert!(
            !shown.contains("SECRET") && !shown.contains("pw"),
            "{shown}"
        );
        assert!(shown.contains(&format!("127.0.0.1:{port}/stix")), "{shown}");
    }
}
