//! Cyber observables (SCOs): every STIX 2.1 observable and the custom ones
//! OpenCTI defines.
//!
//! Properties that make up the id (see [`crate::id`]) are typed; the others
//! most connectors set are typed too; anything else stays in `extra`.

use super::fields::model;
use super::{Hashes, ObservableProperties};

model! {
    /// An `artifact`: binary content, inline or by URL.
    pub struct Artifact("artifact", ObservableProperties) {
        /// MIME type.
        opt mime_type: String,
        /// Base64 content.
        opt payload_bin: String,
        /// URL of the content.
        opt url: String,
        /// Hashes.
        opt hashes: Hashes,
    }
}

model! {
    /// An `autonomous-system`.
    pub struct AutonomousSystem("autonomous-system", ObservableProperties) {
        /// AS number.
        req number: i64,
        /// Name.
        opt name: String,
        /// Regional Internet Registry.
        opt rir: String,
    }
}

model! {
    /// A `directory`.
    pub struct Directory("directory", ObservableProperties) {
        /// Path.
        req path: String,
        /// Ids of the files and directories it contains.
        opt contains_refs: Vec<String>,
    }
}

model! {
    /// A `domain-name`.
    pub struct DomainName("domain-name", ObservableProperties) {
        /// The domain.
        req value: String,
        /// Ids of the addresses or domains it resolves to.
        opt resolves_to_refs: Vec<String>,
    }
}

model! {
    /// An `email-addr`.
    pub struct EmailAddress("email-addr", ObservableProperties) {
        /// The address.
        req value: String,
        /// Display name.
        opt display_name: String,
        /// Id of the owning `user-account`.
        opt belongs_to_ref: String,
    }
}

model! {
    /// An `email-message`.
    pub struct EmailMessage("email-message", ObservableProperties) {
        /// Whether the body is multipart.
        opt is_multipart: bool,
        /// Date sent, as given.
        opt date: String,
        /// Content type.
        opt content_type: String,
        /// Id of the `From` address.
        opt from_ref: String,
        /// Id of the `Sender` address.
        opt sender_ref: String,
        /// Ids of the `To` addresses.
        opt to_refs: Vec<String>,
        /// Ids of the `Cc` addresses.
        opt cc_refs: Vec<String>,
        /// Ids of the `Bcc` addresses.
        opt bcc_refs: Vec<String>,
        /// Message id.
        opt message_id: String,
        /// Subject.
        opt subject: String,
        /// Body (when not multipart).
        opt body: String,
    }
}

model! {
    /// A `file`.
    pub struct File("file", ObservableProperties) {
        /// Hashes.
        opt hashes: Hashes,
        /// Size in bytes.
        opt size: i64,
        /// Name.
        opt name: String,
        /// MIME type.
        opt mime_type: String,
        /// Creation time, as given.
        opt ctime: String,
        /// Modification time, as given.
        opt mtime: String,
        /// Access time, as given.
        opt atime: String,
        /// Id of the parent `directory`.
        opt parent_directory_ref: String,
        /// Ids of contained objects (archives).
        opt contains_refs: Vec<String>,
        /// Id of the `artifact` holding the content.
        opt content_ref: String,
    }
}

model! {
    /// An `ipv4-addr` (address or CIDR).
    pub struct Ipv4Address("ipv4-addr", ObservableProperties) {
        /// The address.
        req value: String,
        /// Ids of the `mac-addr`s it resolves to.
        opt resolves_to_refs: Vec<String>,
        /// Ids of the `autonomous-system`s it belongs to.
        opt belongs_to_refs: Vec<String>,
    }
}

model! {
    /// An `ipv6-addr` (address or CIDR).
    pub struct Ipv6Address("ipv6-addr", ObservableProperties) {
        /// The address.
        req value: String,
        /// Ids of the `mac-addr`s it resolves to.
        opt resolves_to_refs: Vec<String>,
        /// Ids of the `autonomous-system`s it belongs to.
        opt belongs_to_refs: Vec<String>,
    }
}

model! {
    /// A `mac-addr`.
    pub struct MacAddress("mac-addr", ObservableProperties) {
        /// The address.
        req value: String,
    }
}

model! {
    /// A `mutex`.
    pub struct Mutex("mutex", ObservableProperties) {
        /// Name.
        req name: String,
    }
}

model! {
    /// A `network-traffic` flow.
    pub struct NetworkTraffic("network-traffic", ObservableProperties) {
        /// Start, as given.
        opt start: String,
        /// End, as given.
        opt end: String,
        /// Whether the flow is ongoing.
        opt is_active: bool,
        /// Id of the source address.
        opt src_ref: String,
        /// Id of the destination address.
        opt dst_ref: String,
        /// Source port.
        opt src_port: i64,
        /// Destination port.
        opt dst_port: i64,
        /// Protocols, outermost first (`["ipv4", "tcp"]`).
        opt protocols: Vec<String>,
        /// Bytes sent by the source.
        opt src_byte_count: i64,
        /// Bytes sent by the destination.
        opt dst_byte_count: i64,
        /// Packets sent by the source.
        opt src_packets: i64,
        /// Packets sent by the destination.
        opt dst_packets: i64,
        /// Ids of encapsulated flows.
        opt encapsulates_refs: Vec<String>,
        /// Id of the encapsulating flow.
        opt encapsulated_by_ref: String,
    }
}

model! {
    /// A `process` (stix2 gives processes random ids).
    pub struct Process("process", ObservableProperties) {
        /// Process id.
        opt pid: i64,
        /// Creation time, as given.
        opt created_time: String,
        /// Working directory.
        opt cwd: String,
        /// Command line.
        opt command_line: String,
        /// Ids of the `network-traffic` it opened.
        opt opened_connection_refs: Vec<String>,
        /// Id of the `user-account` running it.
        opt creator_user_ref: String,
        /// Id of the executable `file`.
        opt image_ref: String,
        /// Id of the parent process.
        opt parent_ref: String,
        /// Ids of the child processes.
        opt child_refs: Vec<String>,
    }
}

model! {
    /// A `software` product.
    pub struct Software("software", ObservableProperties) {
        /// Name.
        req name: String,
        /// CPE 2.3 name.
        opt cpe: String,
        /// SWID tag id.
        opt swid: String,
        /// Languages.
        opt languages: Vec<String>,
        /// Vendor.
        opt vendor: String,
        /// Version.
        opt version: String,
    }
}

model! {
    /// A `url`.
    pub struct Url("url", ObservableProperties) {
        /// The URL.
        req value: String,
    }
}

model! {
    /// A `user-account`.
    pub struct UserAccount("user-account", ObservableProperties) {
        /// Account id (uid, SID...).
        opt user_id: String,
        /// Login.
        opt account_login: String,
        /// Account type (`unix`, `windows-local`...).
        opt account_type: String,
        /// Display name.
        opt display_name: String,
        /// Whether it is a service account.
        opt is_service_account: bool,
        /// Whether it is privileged.
        opt is_privileged: bool,
        /// Whether it is disabled.
        opt is_disabled: bool,
        /// Creation time, as given.
        opt account_created: String,
        /// Last login, as given.
        opt account_last_login: String,
    }
}

model! {
    /// One value of a registry key.
    pub struct WindowsRegistryValue {
        /// Value name.
        opt name: String,
        /// Data.
        opt data: String,
        /// Data type (`REG_SZ`...).
        opt data_type: String,
    }
}

model! {
    /// A `windows-registry-key`.
    pub struct WindowsRegistryKey("windows-registry-key", ObservableProperties) {
        /// Full key path.
        opt key: String,
        /// Values.
        opt values: Vec<WindowsRegistryValue>,
        /// Modification time, as given.
        opt modified_time: String,
        /// Id of the `user-account` that created it.
        opt creator_user_ref: String,
        /// Number of subkeys.
        opt number_of_subkeys: i64,
    }
}

model! {
    /// An `x509-certificate`.
    pub struct X509Certificate("x509-certificate", ObservableProperties) {
        /// Whether it is self-signed.
        opt is_self_signed: bool,
        /// Hashes of the certificate.
        opt hashes: Hashes,
        /// Version.
        opt version: String,
        /// Serial number.
        opt serial_number: String,
        /// Signature algorithm.
        opt signature_algorithm: String,
        /// Issuer.
        opt issuer: String,
        /// Start of validity, as given.
        opt validity_not_before: String,
        /// End of validity, as given.
        opt validity_not_after: String,
        /// Subject.
        opt subject: String,
        /// Public key algorithm.
        opt subject_public_key_algorithm: String,
    }
}

/// OpenCTI custom observables identified by a single `value`.
macro_rules! value_observables {
    ($($(#[$meta:meta])* $name:ident = $stix_type:literal;)*) => {$(
        model! {
            $(#[$meta])*
            pub struct $name($stix_type, ObservableProperties) {
                /// The value (the id derives from it).
                req value: String,
            }
        }
    )*};
}

value_observables! {
    /// A `hostname` (OpenCTI custom observable).
    Hostname = "hostname";
    /// A `cryptocurrency-wallet` address (OpenCTI custom observable).
    CryptocurrencyWallet = "cryptocurrency-wallet";
    /// A free `text` (OpenCTI custom observable).
    Text = "text";
    /// A `user-agent` string (OpenCTI custom observable).
    UserAgent = "user-agent";
    /// A `phone-number` (OpenCTI custom observable).
    PhoneNumber = "phone-number";
    /// A `credential` (OpenCTI custom observable).
    Credential = "credential";
    /// A parcel `tracking-number` (OpenCTI custom observable).
    TrackingNumber = "tracking-number";
    /// A `cryptographic-key` (OpenCTI custom observable).
    CryptographicKey = "cryptographic-key";
    /// An `ssh-key` (OpenCTI custom observable).
    SshKey = "ssh-key";
    /// An `ai-prompt` (OpenCTI custom observable).
    AiPrompt = "ai-prompt";
    /// A phone `imei` (OpenCTI custom observable).
    Imei = "imei";
    /// A SIM card `iccid` (OpenCTI custom observable).
    Iccid = "iccid";
    /// A subscriber `imsi` (OpenCTI custom observable).
    Imsi = "imsi";
}

model! {
    /// A `bank-account` (OpenCTI custom observable, identified by its IBAN).
    pub struct BankAccount("bank-account", ObservableProperties) {
        /// IBAN (the id derives from it).
        opt iban: String,
        /// BIC.
        opt bic: String,
        /// Account number.
        opt account_number: String,
    }
}

model! {
    /// A `payment-card` (OpenCTI custom observable).
    pub struct PaymentCard("payment-card", ObservableProperties) {
        /// Card number (the id derives from it).
        req card_number: String,
        /// Expiration date.
        opt expiration_date: String,
        /// Security code.
        opt cvv: String,
        /// Holder name.
        opt holder_name: String,
    }
}

model! {
    /// A `media-content` such as an article or a post (OpenCTI custom
    /// observable, identified by its URL).
    pub struct MediaContent("media-content", ObservableProperties) {
        /// Title.
        opt title: String,
        /// Content.
        opt content: String,
        /// Category.
        opt media_category: String,
        /// URL (the id derives from it).
        req url: String,
        /// Publication date, as given.
        opt publication_date: String,
    }
}

model! {
    /// A `persona`: an online identity (OpenCTI custom observable).
    pub struct Persona("persona", ObservableProperties) {
        /// Name on the platform.
        req persona_name: String,
        /// Platform or kind (`twitter`, `telegram`...).
        req persona_type: String,
    }
}
