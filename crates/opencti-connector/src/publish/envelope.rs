//! pycti's queue message: the envelope around one (split) bundle.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use opencti_stix::split::SplitPlan;
use serde::Serialize;
use serde_json::Value;

use super::SendOptions;
use super::python_json::{python_json_bytes, write_python_json};
use crate::amqp::OutgoingMessage;
use crate::api::Generation;

/// Everything a message envelope carries besides the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeFields<'a> {
    /// Registration `connector_user_id`.
    pub applicant_id: Option<&'a str>,
    /// Work the message accounts to.
    pub work_id: Option<&'a str>,
    /// Decides whether `no_split` is present.
    pub generation: Generation,
    /// Options of the send.
    pub options: &'a SendOptions,
}

#[derive(Serialize)]
struct Envelope<'a> {
    bundle_type: &'static str,
    applicant_id: Option<&'a str>,
    action_sequence: usize,
    entities_types: &'a [String],
    content: String,
    update: bool,
    draft_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    no_split: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    work_id: Option<&'a str>,
}

/// The queue message for one (split) bundle, key for key what pycti
/// publishes: `content` is the standard Base64 of the bundle serialised the
/// way Python's `json.dumps` does it; `no_split` only for 7.x platforms;
/// `work_id` only when there is a work.
pub fn encode_envelope(
    bundle: &impl Serialize,
    sequence: usize,
    fields: &EnvelopeFields<'_>,
) -> Vec<u8> {
    let mut content = Vec::with_capacity(1024);
    write_python_json(&mut content, bundle);
    let envelope = Envelope {
        bundle_type: "QUEUE_BUNDLE",
        applicant_id: fields.applicant_id,
        action_sequence: sequence,
        entities_types: &fields.options.entities_types,
        content: STANDARD.encode(content),
        update: fields.options.update,
        draft_id: fields.options.draft_id.as_deref(),
        no_split: (fields.generation >= Generation::V7).then_some(fields.options.no_split),
        work_id: fields.work_id,
    };
    python_json_bytes(&envelope)
}

/// The messages of a split bundle, each part written and encoded only when
/// the publisher asks for it.
pub(crate) fn plan_messages<'p>(
    plan: &'p SplitPlan,
    fields: &'p EnvelopeFields<'p>,
) -> impl Iterator<Item = OutgoingMessage> + 'p {
    plan.parts()
        .enumerate()
        .map(|(index, part): (usize, Value)| OutgoingMessage {
            body: encode_envelope(&part, index + 1, fields),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelopes_match_pycti_per_generation() {
        let bundle = json!({"type": "bundle", "id": "bundle--1", "objects": [{"id": "x--1"}]});
        let options = SendOptions {
            entities_types: vec!["Indicator".to_owned()],
            ..SendOptions::default()
        };
        let mut fields = EnvelopeFields {
            applicant_id: Some("user-1"),
            work_id: Some("work_1"),
            generation: Generation::V6,
            options: &options,
        };
        let content = STANDARD.encode(
            "{\"type\": \"bundle\", \"id\": \"bundle--1\", \"objects\": [{\"id\": \"x--1\"}]}",
        );
        assert_eq!(
            String::from_utf8(encode_envelope(&bundle, 3, &fields)).unwrap(),
            format!(
                "{{\"bundle_type\": \"QUEUE_BUNDLE\", \"applicant_id\": \"user-1\", \"action_sequence\": 3, \"entities_types\": [\"Indicator\"], \"content\": \"{content}\", \"update\": false, \"draft_id\": null, \"work_id\": \"work_1\"}}"
            )
        );
        fields.generation = Generation::V7;
        fields.work_id = None;
        assert_eq!(
            String::from_utf8(encode_envelope(&bundle, 1, &fields)).unwrap(),
            format!(
                "{{\"bundle_type\": \"QUEUE_BUNDLE\", \"applicant_id\": \"user-1\", \"action_sequence\": 1, \"entities_types\": [\"Indicator\"], \"content\": \"{content}\", \"update\": false, \"draft_id\": null, \"no_split\": false}}"
            )
        );
    }
}
