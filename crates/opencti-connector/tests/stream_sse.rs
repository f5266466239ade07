//! The SSE parser yields the same events however the bytes are chunked.

use opencti_connector::stream::sse::{SseEvent, SseParser};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Block {
    comment: Option<String>,
    id: Option<String>,
    event: Option<String>,
    data: Vec<String>,
    retry: Option<u32>,
}

fn line_text() -> impl Strategy<Value = String> {
    // Any characters except line breaks, including colons, spaces and non-ASCII.
    proptest::string::string_regex("[^\r\n]{0,12}").expect("valid regex")
}

fn block() -> impl Strategy<Value = Block> {
    (
        proptest::option::of(line_text()),
        proptest::option::of("[0-9]{1,13}-[0-9]{1,3}"),
        proptest::option::of("[a-z_-]{1,10}"),
        proptest::collection::vec(line_text(), 0..4),
        proptest::option::of(0u32..100_000),
    )
        .prop_map(|(comment, id, event, data, retry)| Block {
            comment,
            id,
            event,
            data,
            retry,
        })
}

fn expected(blocks: &[Block]) -> Vec<SseEvent> {
    blocks
        .iter()
        .filter(|b| b.id.is_some() || b.event.is_some() || !b.data.is_empty())
        .map(|b| SseEvent {
            id: b.id.clone(),
            event: b.event.clone().unwrap_or_else(|| "message".to_owned()),
            data: b.data.join("\n"),
        })
        .collect()
}

fn encode(blocks: &[Block], endings: &[&str], bom: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if bom {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let mut n = 0;
    let mut line = |out: &mut Vec<u8>, text: &str| {
        let mut ending = endings[n % endings.len()];
        // `\r` then an empty line ended by `\n` would read as one `\r\n`.
        if text.is_empty() && ending == "\n" && out.last() == Some(&b'\r') {
            ending = "\r";
        }
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(ending.as_bytes());
        n += 1;
    };
    for b in blocks {
        if let Some(comment) = &b.comment {
            line(&mut out, &format!(":{comment}"));
        }
        if let Some(retry) = b.retry {
            line(&mut out, &format!("retry: {retry}"));
        }
        if let Some(event) = &b.event {
            line(&mut out, &format!("event: {event}"));
        }
        for data in &b.data {
            line(&mut out, &format!("data: {data}"));
        }
        if let Some(id) = &b.id {
            line(&mut out, &format!("id: {id}"));
        }
        line(&mut out, "");
    }
    out
}

fn parse(bytes: &[u8], cuts: &[usize]) -> (Vec<SseEvent>, Option<std::time::Duration>) {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    let mut start = 0;
    for &cut in cuts {
        parser.feed(&bytes[start..cut], &mut events).unwrap();
        start = cut;
    }
    parser.feed(&bytes[start..], &mut events).unwrap();
    (events, parser.retry())
}

proptest! {
    #[test]
    fn chunking_does_not_change_the_events(
        blocks in proptest::collection::vec(block(), 0..8),
        endings in proptest::sample::subsequence(vec!["\n", "\r\n", "\r"], 1..=3),
        bom in any::<bool>(),
        raw_cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
    ) {
        let bytes = encode(&blocks, &endings, bom);
        let mut cuts: Vec<usize> = raw_cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let whole = parse(&bytes, &[]);
        let chunked = parse(&bytes, &cuts);
        let byte_by_byte = parse(&bytes, &(1..bytes.len()).collect::<Vec<_>>());
        prop_assert_eq!(&whole.0, &expected(&blocks));
        let last_retry = blocks.iter().rev().find_map(|b| b.retry);
        prop_assert_eq!(whole.1, last_retry.map(|ms| std::time::Duration::from_millis(ms.into())));
        prop_assert_eq!(&chunked, &whole);
        prop_assert_eq!(&byte_by_byte, &whole);
    }

    #[test]
    fn a_truncated_event_is_never_dispatched(
        blocks in proptest::collection::vec(block(), 1..5),
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = encode(&blocks, &["\n"], false);
        let cut = cut.index(bytes.len());
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        parser.feed(&bytes[..cut], &mut events).unwrap();
        parser.reset();
        // Whatever was dispatched before the cut is a prefix of the full parse.
        let all = expected(&blocks);
        prop_assert!(events.len() <= all.len());
        prop_assert_eq!(&events[..], &all[..events.len()]);
    }
}
