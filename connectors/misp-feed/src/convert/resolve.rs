//! MISP attribute types: which observable and which pattern each one gives.

/// How a value is turned into a pattern and an observable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolver {
    Yara,
    Sigma,
    FileMd5,
    FileSha1,
    FileSha256,
    FileName,
    PdbPath,
    Ipv4,
    Ipv6,
    Hostname,
    Domain,
    EmailSubject,
    EmailAddress,
    Url,
    WindowsScheduledTask,
    RegistryKey,
    UserAgent,
    PhoneNumber,
    Text,
    UserAccountGithub,
    IdentityIndividual,
}

/// One value of an attribute (composite types have two).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub(crate) resolver: Resolver,
    /// OpenCTI observable type (`IPv4-Addr`, `File`, ...); `None` for rules.
    pub(crate) observable_type: Option<&'static str>,
    pub(crate) value: String,
}

use Resolver as R;

/// The resolvers of a MISP type; an IPv4 resolver is refined per value.
fn resolvers(kind: &str) -> Option<&'static [(Resolver, Option<&'static str>)]> {
    const FILE: Option<&str> = Some("File");
    const IP: Option<&str> = Some("IPv4-Addr");
    const TEXT: Option<&str> = Some("Text");
    Some(match kind {
        "yara" => &[(R::Yara, None)],
        "sigma" => &[(R::Sigma, None)],
        "md5" => &[(R::FileMd5, FILE)],
        "sha1" => &[(R::FileSha1, FILE)],
        "sha256" => &[(R::FileSha256, FILE)],
        "filename" => &[(R::FileName, FILE)],
        "pdb" => &[(R::PdbPath, FILE)],
        "filename|md5" => &[(R::FileName, FILE), (R::FileMd5, FILE)],
        "filename|sha1" => &[(R::FileName, FILE), (R::FileSha1, FILE)],
        "filename|sha256" => &[(R::FileName, FILE), (R::FileSha256, FILE)],
        "ip-src" | "ip-dst" => &[(R::Ipv4, IP)],
        "ip-src|port" | "ip-dst|port" => &[(R::Ipv4, IP), (R::Text, TEXT)],
        "hostname" => &[(R::Hostname, Some("Hostname"))],
        "hostname|port" => &[(R::Hostname, Some("Hostname")), (R::Text, TEXT)],
        "domain" => &[(R::Domain, Some("Domain-Name"))],
        "domain|ip" => &[(R::Domain, Some("Domain-Name")), (R::Ipv4, IP)],
        "email-subject" => &[(R::EmailSubject, Some("Email-Message"))],
        "email" | "email-src" | "email-dst" | "whois-registrant-email" => {
            &[(R::EmailAddress, Some("Email-Addr"))]
        }
        "url" => &[(R::Url, Some("Url"))],
        "windows-scheduled-task" => &[(R::WindowsScheduledTask, TEXT)],
        "regkey" => &[(R::RegistryKey, Some("Windows-Registry-Key"))],
        "user-agent" => &[(R::UserAgent, Some("User-Agent"))],
        "phone-number" => &[(R::PhoneNumber, Some("Phone-Number"))],
        "text" => &[(R::Text, TEXT)],
        "github-username" => &[(R::UserAccountGithub, Some("User-Account"))],
        "full-name" => &[(R::IdentityIndividual, Some("Identity"))],
        _ => return None,
    })
}

/// The values of an attribute, with their resolvers. `None`: the type is
/// not supported (and `unsupported_as_text` is off), or a composite value
/// does not split into exactly two parts.
pub(crate) fn resolve(kind: &str, value: &str, unsupported_as_text: bool) -> Option<Vec<Resolved>> {
    let Some(rules) = resolvers(kind) else {
        return unsupported_as_text.then(|| {
            vec![Resolved {
                resolver: R::Text,
                observable_type: Some("Text"),
                value: format!("{value} (type={kind})"),
            }]
        });
    };
    let values: Vec<&str> = if rules.len() == 2 {
        let parts: Vec<&str> = value.split('|').collect();
        if parts.len() != 2 {
            return None;
        }
        parts
    } else {
        vec![value]
    };
    Some(
        rules
            .iter()
            .zip(values)
            .map(|(&(resolver, observable_type), value)| {
                let (resolver, observable_type) = match resolver {
                    R::Ipv4 if !looks_like_ipv4(value) => (R::Ipv6, Some("IPv6-Addr")),
                    _ => (resolver, observable_type),
                };
                Resolved {
                    resolver,
                    observable_type,
                    value: value.to_owned(),
                }
            })
            .collect(),
    )
}

/// The Python connector's IPv4 test: a dotted quad of 0-255 without leading
/// zeros, optionally `/1`..`/32`. Anything else counts as IPv6.
pub(crate) fn looks_like_ipv4(value: &str) -> bool {
    // Python's `$` also matches just before a final newline.
    let value = value.strip_suffix('\n').unwrap_or(value);
    let (address, prefix) = match value.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (value, None),
    };
    let number = |text: &str, max: u32| {
        !text.is_empty()
            && text.len() <= 3
            && text.bytes().all(|b| b.is_ascii_digit())
            && (text == "0" || !text.starts_with('0'))
            && text.parse::<u32>().is_ok_and(|n| n <= max)
    };
    let octets: Vec<&str> = address.split('.').collect();
    octets.len() == 4
        && octets.iter().all(|octet| number(octet, 255))
        && prefix.is_none_or(|prefix| prefix != "0" && number(prefix, 32))
}

/// Where a resolver's value goes in a STIX pattern: object type and path.
pub(crate) fn pattern_path(resolver: Resolver) -> Option<(&'static str, &'static [&'static str])> {
    Some(match resolver {
        R::Hostname => ("hostname", &["value"]),
        R::Domain => ("domain-name", &["value"]),
        R::Ipv4 => ("ipv4-addr", &["value"]),
        R::Ipv6 => ("ipv6-addr", &["value"]),
        R::Url => ("url", &["value"]),
        R::EmailAddress => ("email-addr", &["value"]),
        R::EmailSubject => ("email-message", &["subject"]),
        R::FileName | R::PdbPath => ("file", &["name"]),
        R::FileMd5 => ("file", &["hashes", "MD5"]),
        R::FileSha1 => ("file", &["hashes", "SHA-1"]),
        R::FileSha256 => ("file", &["hashes", "SHA-256"]),
        R::RegistryKey => ("windows-registry-key", &["key"]),
        R::Text => ("text", &["value"]),
        R::UserAgent => ("user-agent", &["value"]),
        R::PhoneNumber => ("phone-number", &["value"]),
        R::UserAccountGithub => ("user-account", &["account_login"]),
        R::Yara | R::Sigma | R::WindowsScheduledTask | R::IdentityIndividual => return None,
    })
}

/// `[type:path = 'value']` exactly as stix2 prints an equality observation:
/// path parts containing `-` quoted, `\` and `'` escaped in the literal.
pub(crate) fn equality_pattern(object_type: &str, path: &[&str], value: &str) -> String {
    let mut pattern = String::with_capacity(value.len() + 40);
    pattern.push('[');
    pattern.push_str(object_type);
    pattern.push(':');
    for (index, part) in path.iter().enumerate() {
        if index > 0 {
            pattern.push('.');
        }
        if part.contains('-') {
            pattern.push('\'');
            pattern.push_str(part);
            pattern.push('\'');
        } else {
            pattern.push_str(part);
        }
    }
    pattern.push_str(" = '");
    for c in value.chars() {
        if c == '\\' || c == '\'' {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push_str("']");
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_detection_matches_the_python_regex() {
        for yes in [
            "198.51.100.7",
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.0/8",
            "1.2.3.4/32",
            "1.2.3.4\n",
        ] {
            assert!(looks_like_ipv4(yes), "{yes:?}");
        }
        for no in [
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.",
            "1.2.3.4/0",
            "1.2.3.4/33",
            "1.2.3.4/",
            "1.2.3.4/08",
            "::1",
            "2001:db8::1",
            "garbage",
            "",
            " 1.2.3.4",
        ] {
            assert!(!looks_like_ipv4(no), "{no:?}");
        }
    }

    #[test]
    fn composite_types_give_both_values() {
        let resolved = resolve("filename|md5", "a.exe|44d8", false).unwrap();
        assert_eq!(resolved.len(), 2);
        assert_eq!(resolved[0].resolver, Resolver::FileName);
        assert_eq!(resolved[1].resolver, Resolver::FileMd5);
        assert_eq!(resolved[1].value, "44d8");
        let ip = resolve("domain|ip", "x.org|2001:db8::1", false).unwrap();
        assert_eq!(ip[1].resolver, Resolver::Ipv6);
        assert_eq!(ip[1].observable_type, Some("IPv6-Addr"));
        assert!(resolve("ip-dst|port", "1.2.3.4", false).is_none());
        assert!(resolve("ip-dst|port", "1.2.3.4|80|x", false).is_none());
    }

    #[test]
    fn unsupported_types_become_text_only_when_asked() {
        assert!(resolve("AS", "AS64500", false).is_none());
        let text = resolve("AS", "AS64500", true).unwrap();
        assert_eq!(text[0].value, "AS64500 (type=AS)");
        assert_eq!(text[0].resolver, Resolver::Text);
    }

    #[test]
    fn patterns_quote_and_escape_like_stix2() {
        assert_eq!(
            equality_pattern("file", &["hashes", "SHA-256"], "ab"),
            "[file:hashes.'SHA-256' = 'ab']"
        );
        assert_eq!(
            equality_pattern("url", &["value"], r"http://x/'a'\b"),
            r"[url:value = 'http://x/\'a\'\\b']"
        );
        assert_eq!(
            equality_pattern("windows-registry-key", &["key"], "HKLM"),
            "[windows-registry-key:key = 'HKLM']"
        );
    }
}
