//! pycti's queue message: the envelope around one (split) bundle.

use std::io::BufWriter;

use base64::engine::general_purpose::STANDARD;
use base64::write::EncoderWriter;
use opencti_stix::split::SplitPlan;
use serde::Serialize;

use super::SendOptions;
use super::python_json::write_python_json;
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

/// The queue message for one (split) bundle, key for key what pycti
/// publishes: `content` is the standard Base64 of the bundle serialised the
/// way Python's `json.dumps` does it; `no_split` only for 7.x platforms;
/// `work_id` only when there is a work.
///
/// Written by hand, the bundle's JSON encoded into the Base64 as it is
/// serialised (never held whole besides), and the buffer cut to the
/// message's size: the body stays in the publishing window until the
/// broker confirms it, and a buffer grown by doubling would hold up to
/// twice its bytes there.
pub fn encode_envelope(
    bundle: &impl Serialize,
    sequence: usize,
    fields: &EnvelopeFields<'_>,
) -> Vec<u8> {
    let options = fields.options;
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"{\"bundle_type\": \"QUEUE_BUNDLE\", \"applicant_id\": ");
    write_python_json(&mut out, &fields.applicant_id);
    out.extend_from_slice(b", \"action_sequence\": ");
    write_python_json(&mut out, &sequence);
    out.extend_from_slice(b", \"entities_types\": ");
    write_python_json(&mut out, &options.entities_types);
    out.extend_from_slice(b", \"content\": \"");
    {
        let base64 = EncoderWriter::new(&mut out, &STANDARD);
        // Batches serde's many small writes before they are encoded.
        let mut buffered = BufWriter::with_capacity(CONTENT_CHUNK, base64);
        write_python_json(&mut buffered, bundle);
        // Writing into memory cannot fail.
        if let Ok(mut base64) = buffered.into_inner() {
            let _ = base64.finish();
        }
    }
    out.extend_from_slice(b"\", \"update\": ");
    write_python_json(&mut out, &options.update);
    out.extend_from_slice(b", \"draft_id\": ");
    write_python_json(&mut out, &options.draft_id);
    if fields.generation >= Generation::V7 {
        out.extend_from_slice(b", \"no_split\": ");
        write_python_json(&mut out, &options.no_split);
    }
    if let Some(work_id) = fields.work_id {
        out.extend_from_slice(b", \"work_id\": ");
        write_python_json(&mut out, &work_id);
    }
    out.push(b'}');
    out.shrink_to_fit();
    out
}

/// Bytes of the bundle's JSON gathered before each Base64 write: serde
/// writes a few bytes at a time, each of which the encoder would otherwise
/// take as a separate call. (The encoder carries leftover bytes between
/// writes itself, so the size needs no particular multiple.)
const CONTENT_CHUNK: usize = 4096;

/// The messages of a split bundle, each part written and encoded only when
/// the publisher asks for it.
pub(crate) fn plan_messages<'p>(
    plan: &'p SplitPlan,
    fields: &'p EnvelopeFields<'p>,
) -> impl Iterator<Item = OutgoingMessage> + 'p {
    (0..plan.expectations()).map(|index| plan_message(plan, fields, index))
}

/// Message `index` of a split bundle (the same every time it is written).
pub(crate) fn plan_message(
    plan: &SplitPlan,
    fields: &EnvelopeFields<'_>,
    index: usize,
) -> OutgoingMessage {
    OutgoingMessage {
        body: encode_envelope(&plan.part_view(index), index + 1, fields),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;
    use serde_json::{Value, json};

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

    #[test]
    fn envelopes_are_the_python_json_of_their_fields_in_pycti_order() {
        let bundle = json!({"type": "bundle", "objects": [{"name": "Zürich"}]});
        let content = {
            let mut text = Vec::new();
            write_python_json(&mut text, &bundle);
            STANDARD.encode(text)
        };
        let options = SendOptions {
            entities_types: vec!["Indicator".to_owned(), "Stix-Cyber-Observable".to_owned()],
            update: true,
            draft_id: Some("brouillon-é".to_owned()),
            no_split: true,
            ..SendOptions::default()
        };
        for (applicant_id, work_id, generation) in [
            (Some("user-ü"), Some("work_\"1\""), Generation::V7),
            (None, None, Generation::V6),
        ] {
            let fields = EnvelopeFields {
                applicant_id,
                work_id,
                generation,
                options: &options,
            };
            let mut expected = json!({
                "bundle_type": "QUEUE_BUNDLE",
                "applicant_id": applicant_id,
                "action_sequence": 12,
                "entities_types": options.entities_types,
                "content": content,
                "update": true,
                "draft_id": options.draft_id,
            });
            if generation >= Generation::V7 {
                expected["no_split"] = json!(true);
            }
            if let Some(work_id) = work_id {
                expected["work_id"] = json!(work_id);
            }
            assert_eq!(
                String::from_utf8(encode_envelope(&bundle, 12, &fields)).unwrap(),
                super::super::python_json::python_json(&expected)
            );
        }
    }

    /// The fields of a 7.x platform's message with a work.
    fn v7_fields(options: &SendOptions) -> EnvelopeFields<'_> {
        EnvelopeFields {
            applicant_id: Some("user-1"),
            work_id: Some("work_1"),
            generation: Generation::V7,
            options,
        }
    }

    #[test]
    fn a_message_buffer_is_the_size_of_the_message() {
        let objects: Vec<Value> = (0..2_000)
            .map(|index| json!({"id": format!("indicator--{index}"), "pattern": "[ipv4-addr:value = '10.0.0.1']"}))
            .collect();
        let bundle = json!({"type": "bundle", "objects": objects});
        let options = SendOptions::default();
        let fields = v7_fields(&options);
        let body = encode_envelope(&bundle, 1, &fields);
        assert!(body.len() > 100_000);
        assert!(
            body.capacity() == body.len(),
            "{} bytes held for a {}-byte message",
            body.capacity(),
            body.len()
        );
    }

    #[test]
    fn planned_messages_carry_each_part_as_pycti_writes_it() {
        let bundle = json!({"type": "bundle", "id": "bundle--1", "objects": [
            {"type": "identity", "id": "identity--1", "name": "Zürich \"HQ\" 😀", "x_score": 1e2},
            {"type": "malware", "id": "malware--1", "created_by_ref": "identity--1",
             "object_refs": ["identity--1", "identity--1"], "nb_deps": 9},
        ]});
        let plan = opencti_stix::split::CompactBundle::from_value(bundle)
            .unwrap()
            .split(&opencti_stix::split::SplitOptions::default())
            .unwrap();
        let options = SendOptions::default();
        let fields = v7_fields(&options);
        let messages: Vec<Vec<u8>> = plan_messages(&plan, &fields)
            .map(|message| message.body)
            .collect();
        let expected: Vec<Vec<u8>> = plan
            .parts()
            .enumerate()
            .map(|(index, part)| encode_envelope(&part, index + 1, &fields))
            .collect();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages, expected);
    }
}
