//! Logs: one JSON object per line with pycti's keys (`timestamp`, `level`,
//! `name`, `message`, `attributes`), or plain text.
//!
//! Event fields named `attributes.<key>` (and any other field) land in
//! `attributes`; the message is the event's message.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Installs the process-wide subscriber (once; later calls are ignored).
pub fn init(connector_name: &str, level: LevelFilter, json: bool) {
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr);
    let installed = if json {
        builder
            .event_format(PyctiJson {
                name: connector_name.to_owned(),
            })
            .try_init()
    } else {
        builder.try_init()
    };
    // Already installed (tests, embedding): keep the existing one.
    drop(installed);
}

/// The pycti JSON line format.
#[derive(Debug, Clone)]
pub struct PyctiJson {
    /// The `name` key (pycti: the connector's name).
    pub name: String,
}

#[derive(Default)]
struct Fields {
    message: String,
    attributes: Map<String, Value>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        let name = field.name();
        if name == "message" {
            self.message = match value {
                Value::String(text) => text,
                other => other.to_string(),
            };
        } else {
            let key = name.strip_prefix("attributes.").unwrap_or(name);
            self.attributes.insert(key.to_owned(), value);
        }
    }
}

impl<S, N> FormatEvent<S, N> for PyctiJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        writeln!(
            writer,
            "{}",
            render(&self.name, event.metadata().level(), fields)
        )
    }
}

fn render(name: &str, level: &tracing::Level, fields: Fields) -> String {
    let mut line = Map::new();
    line.insert(
        "timestamp".to_owned(),
        Value::String(
            chrono::Utc::now()
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string(),
        ),
    );
    let level = match *level {
        tracing::Level::WARN => "WARNING".to_owned(),
        other => other.as_str().to_owned(),
    };
    line.insert("level".to_owned(), Value::String(level));
    line.insert("name".to_owned(), Value::String(name.to_owned()));
    line.insert("message".to_owned(), Value::String(fields.message));
    if !fields.attributes.is_empty() {
        line.insert("attributes".to_owned(), Value::Object(fields.attributes));
    }
    Value::Object(line).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    #[test]
    fn lines_carry_pycti_keys() {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(capture.clone())
            .event_format(PyctiJson {
                name: "MISP Feed".to_owned(),
            })
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(
                attributes.work_id = "w1",
                attributes.count = 3,
                "Work created"
            );
        });
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        let keys: Vec<&str> = line
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["timestamp", "level", "name", "message", "attributes"]
        );
        assert_eq!(line["level"], "WARNING");
        assert_eq!(line["name"], "MISP Feed");
        assert_eq!(line["message"], "Work created");
        assert_eq!(
            line["attributes"],
            serde_json::json!({"work_id": "w1", "count": 3})
        );
    }
}
