//! Every credential Tender holds, and its redaction in every encoding a server might echo it in.
//!
//! A key is held here from the moment a live client is built. Every reply a server sends is
//! redacted before anything reads it, so a key a server echoes (in an error, or in a 200 reply's
//! content) reaches neither the cache, the trace, the results nor the terminal, and a replay sees
//! exactly what the live run saw. The CLI redacts its error messages too.
//!
//! Encodings matched, in any mix within one occurrence: the raw key, URL-encoded characters
//! (`%2D`, either case), JSON `\u` escapes (`\u002d`, also doubly escaped `\\u002d`); and the
//! key's base64 (standard or URL-safe alphabet) at any alignment, so `base64("Bearer KEY")` and
//! the base64 of a longer header are caught.

use std::sync::{OnceLock, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use regex::Regex;

/// Shortest key held.
pub const MIN_KEY: usize = 4;

/// What replaces a credential.
pub const REDACTED: &str = "[redacted]";

/// Shortest key whose base64 forms are redacted: a shorter key's base64 core would match ordinary text.
const MIN_BASE64_KEY: usize = 6;

struct Secret {
    key: String,
    /// The key with each character raw, URL-encoded or JSON-escaped.
    escaped: Regex,
    /// The key's base64 at each of the three alignments (the characters fixed by the key alone).
    base64: Vec<String>,
}

fn held() -> &'static RwLock<Vec<Secret>> {
    static HELD: OnceLock<RwLock<Vec<Secret>>> = OnceLock::new();
    HELD.get_or_init(|| RwLock::new(Vec::new()))
}

/// Hold `key` for redaction from now on, for the rest of the process. Keys shorter than
/// [`MIN_KEY`] are not secrets (a local server's placeholder such as `no`), and redacting them
/// would wreck ordinary text.
pub fn hold(key: &str) {
    if key.chars().count() < MIN_KEY {
        return;
    }
    let mut held = held().write().unwrap_or_else(std::sync::PoisonError::into_inner);
    if held.iter().any(|s| s.key == key) {
        return;
    }
    let Some(escaped) = escaped_pattern(key) else { return };
    held.push(Secret { key: key.to_string(), escaped, base64: base64_cores(key.as_bytes()) });
    // Longer keys first, so a key containing another is redacted whole.
    held.sort_by_key(|s| std::cmp::Reverse(s.key.len()));
}

/// `text` with every held key, in every encoding above, and every `Bearer …`, `Authorization: …`
/// and `api-key: …` value replaced by `[redacted]`: for error texts and the terminal.
#[must_use]
pub fn redact(text: &str) -> String {
    let out = redact_keys(text);
    static HEADERS: OnceLock<Option<Regex>> = OnceLock::new();
    let headers = HEADERS.get_or_init(|| {
        Regex::new(
            r#"(?i)(authorization["']?\s*[:=]\s*["']?(?:[a-z]+\s+)?|bearer\s+|api[-_]?key["']?\s*[:=]\s*["']?)[^\s"',;\[]+"#,
        )
        .ok()
    });
    match headers {
        Some(re) => re.replace_all(&out, "${1}[redacted]").into_owned(),
        None => out,
    }
}

/// `text` with every held key, in every encoding above, replaced by `[redacted]`: for replies,
/// whose ordinary words ("the bearer of") must stay as the model wrote them.
#[must_use]
pub fn redact_keys(text: &str) -> String {
    let mut out = std::borrow::Cow::Borrowed(text);
    {
        let held = held().read().unwrap_or_else(std::sync::PoisonError::into_inner);
        for secret in held.iter() {
            if let std::borrow::Cow::Owned(s) = secret.escaped.replace_all(&out, REDACTED) {
                out = std::borrow::Cow::Owned(s);
            }
            for core in &secret.base64 {
                if out.contains(core.as_str()) {
                    out = std::borrow::Cow::Owned(out.replace(core.as_str(), REDACTED));
                }
            }
        }
    }
    out.into_owned()
}

/// A pattern matching `key` with each character raw, `%XX` or `\u00XX` (any number of
/// backslashes), hex in either case.
fn escaped_pattern(key: &str) -> Option<Regex> {
    let mut pattern = String::new();
    for c in key.chars() {
        let raw = regex::escape(&c.to_string());
        if c.is_ascii() {
            let code = c as u32;
            pattern.push_str(&format!("(?:{raw}|%(?i:{code:02x})|\\\\+u(?i:{code:04x}))"));
        } else {
            pattern.push_str(&format!("(?:{raw}|\\\\+u(?i:{:04x}))", c as u32));
        }
    }
    Regex::new(&pattern).ok()
}

/// The base64 characters that encode `key`'s bytes alone when the key starts at byte offset 0,
/// 1 or 2 of the encoded text, in the standard and URL-safe alphabets.
fn base64_cores(key: &[u8]) -> Vec<String> {
    if key.len() < MIN_BASE64_KEY {
        return Vec::new();
    }
    let mut cores = Vec::new();
    for offset in 0..3 {
        let mut bytes = vec![0u8; offset];
        bytes.extend_from_slice(key);
        // Character k covers bits 6k..6k+6; keep those inside the key's bits.
        let (start_bit, end_bit) = (8 * offset, 8 * (offset + key.len()));
        let first = start_bit.div_ceil(6);
        let last = end_bit / 6; // exclusive
        for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
            let encoded = engine.encode(&bytes);
            if let Some(core) = encoded.get(first..last) {
                cores.push(core.to_string());
            }
        }
    }
    cores.sort();
    cores.dedup();
    cores
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    #[test]
    fn every_encoding_of_a_held_key_is_redacted() {
        let key = "sk-abc_123/x+y";
        hold(key);
        let encodings = [
            key.to_string(),
            "sk%2Dabc_123%2fx%2By".to_string(),
            r"sk\u002dabc_123\u002Fx\u002by".to_string(),
            r"sk\\u002dabc_123/x+y".to_string(),
            STANDARD.encode(format!("Bearer {key}")),
            URL_SAFE_NO_PAD.encode(format!("Bearer {key}")),
            STANDARD.encode(format!("Authorization: Bearer {key}")),
            STANDARD.encode(key),
            STANDARD.encode(format!("x{key}")),
        ];
        for e in &encodings {
            let text = format!("the server says: {e} (end)");
            let out = redact(&text);
            assert!(out.contains(REDACTED), "{e} was not redacted: {out}");
            assert!(!out.contains("abc_123") && !out.contains(e.as_str()), "{e}: {out}");
        }
        assert_eq!(redact("nothing secret here"), "nothing secret here");
    }

    #[test]
    fn credentials_in_headers_are_redacted_held_or_not() {
        let text = "invalid api key you sent: Bearer sk-secret-123, Authorization: Basic abc, \"api-key\": \"xyz\"";
        let out = redact(text);
        for secret in ["sk-secret-123", "abc", "xyz"] {
            assert!(!out.contains(secret), "{out}");
        }
        hold("sk-secret-456");
        assert_eq!(redact("echo: sk-secret-456!"), "echo: [redacted]!");
    }
}
