//! Deterministic JSON. Attestations are serialised compactly from types whose fields have a
//! fixed order and whose maps are `BTreeMap`s; key ids use securesystemslib's canonical JSON.

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// Compact JSON of `value` (struct fields in declaration order, maps sorted).
pub fn to_compact<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Serialising our own types to a Vec cannot fail: they have string keys and no
    // non-finite floats.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Indented JSON for files people read; ends with a newline.
pub fn to_pretty<T: Serialize + ?Sized>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// securesystemslib's canonical JSON (OLPC style): object keys sorted, no whitespace, strings
/// escape only `"` and `\`, integers only.
pub fn canonical(value: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    write_canonical(value, &mut out)?;
    Ok(out)
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) -> Result<()> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) if n.is_i64() || n.is_u64() => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Number(n) => return Err(Error::invalid(n, "canonical JSON has no floating-point numbers")),
        Value::String(s) => write_canonical_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort(); // byte order; serde_json's map is already sorted, but say it here.
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical_string(key, out);
                out.push(b':');
                write_canonical(&map[key], out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_canonical_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for b in s.bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_sorts_and_escapes_minimally() {
        let v = json!({"b": [1, true, null], "a": "q\"u\\o\nte", "é": {}});
        assert_eq!(
            String::from_utf8(canonical(&v).unwrap()).unwrap(),
            "{\"a\":\"q\\\"u\\\\o\nte\",\"b\":[1,true,null],\"é\":{}}"
        );
        assert!(canonical(&json!(1.5)).is_err());
    }
}
