//! GraphQL multipart requests (file uploads as pycti sends them): form
//! fields `operations`, `map` and one part per file.

use base64::Engine as _;
use serde_json::{Value, json};

use super::GraphqlRequest;

/// One part of a `multipart/form-data` body.
#[derive(Debug)]
struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: Vec<u8>,
}

/// Builds the request from a multipart body: each file replaces the `null`
/// its `map` entry points at with `{filename, mimetype, content}` (content
/// as UTF-8 text, or Base64 with `encoding: "base64"` when not UTF-8).
pub(crate) fn parse_multipart_request(
    content_type: &str,
    body: &[u8],
) -> Result<GraphqlRequest, String> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|param| param.strip_prefix("boundary="))
        .map(|b| b.trim_matches('"'))
        .ok_or("multipart request without a boundary")?;
    let parts = split_parts(body, boundary)?;
    let field = |name: &str| {
        parts
            .iter()
            .find(|p| p.name == name && p.filename.is_none())
    };
    let operations =
        field("operations").ok_or("multipart request without an `operations` field")?;
    let operations: Value = serde_json::from_slice(&operations.data)
        .map_err(|error| format!("`operations` is not JSON: {error}"))?;
    let mut request = GraphqlRequest::from_value(operations)?;
    let map: serde_json::Map<String, Value> = match field("map") {
        Some(map) => serde_json::from_slice(&map.data)
            .map_err(|error| format!("`map` is not a JSON object: {error}"))?,
        None => serde_json::Map::new(),
    };
    for (part_name, paths) in map {
        let part = parts
            .iter()
            .find(|p| p.name == part_name)
            .ok_or_else(|| format!("`map` names part `{part_name}`, which is missing"))?;
        let upload = match std::str::from_utf8(&part.data) {
            Ok(text) => {
                json!({"filename": part.filename, "mimetype": part.content_type, "content": text})
            }
            Err(_) => json!({
                "filename": part.filename,
                "mimetype": part.content_type,
                "content": base64::engine::general_purpose::STANDARD.encode(&part.data),
                "encoding": "base64",
            }),
        };
        for path in paths
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            set_variable(&mut request, path, upload.clone())?;
        }
    }
    Ok(request)
}

fn set_variable(request: &mut GraphqlRequest, path: &str, value: Value) -> Result<(), String> {
    let mut segments = path.split('.');
    if segments.next() != Some("variables") {
        return Err(format!(
            "upload path `{path}` does not start with `variables.`"
        ));
    }
    let segments: Vec<&str> = segments.collect();
    let Some((last, parents)) = segments.split_last() else {
        return Err(format!("upload path `{path}` names no variable"));
    };
    let mut current = &mut request.variables;
    for segment in parents {
        current = current
            .entry((*segment).to_owned())
            .or_insert_with(|| Value::Object(serde_json::Map::new()))
            .as_object_mut()
            .ok_or_else(|| format!("upload path `{path}` goes through a non-object"))?;
    }
    current.insert((*last).to_owned(), value);
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|position| position + from)
}

fn split_parts(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
    let delimiter = format!("--{boundary}");
    let mut position =
        find(body, delimiter.as_bytes(), 0).ok_or("multipart body without its boundary")?;
    let mut parts = Vec::new();
    loop {
        position += delimiter.len();
        if body.get(position..position + 2) == Some(b"--") {
            return Ok(parts);
        }
        let headers_start = position + 2; // CRLF after the delimiter
        let headers_end =
            find(body, b"\r\n\r\n", headers_start).ok_or("multipart part without headers end")?;
        let data_start = headers_end + 4;
        let next = find(body, format!("\r\n{delimiter}").as_bytes(), data_start)
            .ok_or("multipart part without a closing boundary")?;
        let headers = String::from_utf8_lossy(&body[headers_start..headers_end]);
        let mut part = Part {
            name: String::new(),
            filename: None,
            content_type: None,
            data: body[data_start..next].to_vec(),
        };
        for line in headers.lines() {
            let Some((header, value)) = line.split_once(':') else {
                continue;
            };
            if header.trim().eq_ignore_ascii_case("content-disposition") {
                for param in value.split(';').map(str::trim) {
                    if let Some(name) = param.strip_prefix("name=") {
                        part.name = name.trim_matches('"').to_owned();
                    } else if let Some(filename) = param.strip_prefix("filename=") {
                        part.filename = Some(filename.trim_matches('"').to_owned());
                    }
                }
            } else if header.trim().eq_ignore_ascii_case("content-type") {
                part.content_type = Some(value.trim().to_owned());
            }
        }
        parts.push(part);
        position = next + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pycti_style_upload_lands_in_the_variables() {
        let body = concat!(
            "--XyZ\r\n",
            "Content-Disposition: form-data; name=\"operations\"\r\n\r\n",
            "{\"query\": \"mutation UploadPending($file: Upload!) { uploadPending(file: $file) { id } }\", \"variables\": {\"file\": null}}\r\n",
            "--XyZ\r\n",
            "Content-Disposition: form-data; name=\"map\"\r\n\r\n",
            "{\"0\": [\"variables.file\"]}\r\n",
            "--XyZ\r\n",
            "Content-Disposition: form-data; name=\"0\"; filename=\"w.json\"\r\n",
            "Content-Type: application/json\r\n\r\n",
            "{\"type\": \"bundle\"}\r\n",
            "--XyZ--\r\n",
        );
        let request = parse_multipart_request("multipart/form-data; boundary=XyZ", body.as_bytes())
            .expect("parses");
        assert_eq!(
            request.variables["file"],
            json!({"filename": "w.json", "mimetype": "application/json", "content": "{\"type\": \"bundle\"}"})
        );
        assert!(request.query.starts_with("mutation UploadPending"));
    }

    #[test]
    fn broken_bodies_are_explained() {
        assert!(
            parse_multipart_request("multipart/form-data", b"")
                .unwrap_err()
                .contains("boundary")
        );
        assert!(
            parse_multipart_request("multipart/form-data; boundary=a", b"--a--")
                .unwrap_err()
                .contains("operations")
        );
    }
}
