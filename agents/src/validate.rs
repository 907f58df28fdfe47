//! Validation of user-supplied parameters: every error names the field and the allowed range.

use std::fmt;

/// One invalid parameter.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("`{field}` = {value} is invalid: {allowed}")]
pub struct Invalid {
    /// Path of the field, e.g. `agents[2].juror.accuracy`.
    pub field: String,
    /// The value found, as written.
    pub value: String,
    /// What is allowed, e.g. `must lie in [0, 1]`.
    pub allowed: String,
}

impl Invalid {
    /// An invalid field; a long value is shortened (an error must not echo a 100 kB string).
    pub fn new(field: impl Into<String>, value: impl fmt::Display, allowed: impl Into<String>) -> Self {
        Self { field: shorten(&field.into()), value: shorten(&value.to_string()), allowed: allowed.into() }
    }
}

/// Longest text an error echoes from the input.
pub const MAX_ECHO: usize = 120;

/// `text`, cut to [`MAX_ECHO`] characters with a note of how much was left out.
#[must_use]
pub fn shorten(text: &str) -> String {
    let n = text.chars().count();
    if n <= MAX_ECHO {
        return text.to_string();
    }
    let head: String = text.chars().take(MAX_ECHO).collect();
    format!("{head}… ({} more characters)", n - MAX_ECHO)
}

/// Deserialize a map whose keys must be unique: a key written twice is an error (as a field
/// written twice is), not silently the last one.
pub fn unique_keys<'de, D, V>(deserializer: D) -> Result<std::collections::BTreeMap<String, V>, D::Error>
where
    D: serde::Deserializer<'de>,
    V: serde::Deserialize<'de>,
{
    struct Unique<V>(std::marker::PhantomData<V>);
    impl<'de, V: serde::Deserialize<'de>> serde::de::Visitor<'de> for Unique<V> {
        type Value = std::collections::BTreeMap<String, V>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map with unique keys")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut map = std::collections::BTreeMap::new();
            while let Some((key, value)) = access.next_entry::<String, V>()? {
                if map.contains_key(&key) {
                    return Err(serde::de::Error::custom(format!("duplicate key {:?}", shorten(&key))));
                }
                map.insert(key, value);
            }
            Ok(map)
        }
    }
    deserializer.deserialize_map(Unique(std::marker::PhantomData))
}

/// Collects validation failures under a growing field path.
#[derive(Debug, Default)]
pub struct Checker {
    path: Vec<String>,
    pub errors: Vec<Invalid>,
}

impl Checker {
    /// Run `f` with `segment` appended to the field path (`.name` or `[3]`).
    pub fn within(&mut self, segment: impl Into<String>, f: impl FnOnce(&mut Self)) {
        self.path.push(segment.into());
        f(self);
        self.path.pop();
    }

    fn field(&self, name: &str) -> String {
        let mut s = String::new();
        for seg in &self.path {
            if !s.is_empty() && !seg.starts_with('[') {
                s.push('.');
            }
            s.push_str(seg);
        }
        if !name.is_empty() {
            if !s.is_empty() && !name.starts_with('[') {
                s.push('.');
            }
            s.push_str(name);
        }
        s
    }

    /// Record a failure of field `name` unless `ok`.
    pub fn require(&mut self, ok: bool, name: &str, value: impl fmt::Display, allowed: &str) {
        if !ok {
            let field = self.field(name);
            self.errors.push(Invalid::new(field, value, allowed));
        }
    }

    /// `lo <= value <= hi`, and finite.
    /// An endpoint: an http:// or https:// URL, and the model name it serves.
    pub fn endpoint(&mut self, base_url: &str, model: &str) {
        let uri = base_url.parse::<ureq::http::Uri>().ok();
        let scheme_ok = uri.as_ref().and_then(|u| u.scheme_str()).is_some_and(|s| s == "http" || s == "https");
        let host_ok = uri.as_ref().and_then(|u| u.host()).is_some_and(|h| !h.is_empty());
        // A port, if given, must be one (the URI parser keeps any digits).
        let authority = uri.as_ref().and_then(|u| u.authority()).map_or("", |a| a.as_str());
        let port = authority.rsplit_once(':').filter(|(host, _)| !host.contains('[') || host.ends_with(']'));
        let port_ok = port.is_none_or(|(_, p)| p.parse::<u16>().is_ok_and(|p| p > 0));
        self.require(
            scheme_ok && host_ok && port_ok,
            "base_url",
            format!("{base_url:?}"),
            "must be an http:// or https:// URL with a host and, if given, a port in [1, 65535]",
        );
        self.require(!model.trim().is_empty(), "model", format!("{model:?}"), "must not be empty");
    }

    pub fn range(&mut self, name: &str, value: f64, lo: f64, hi: f64) {
        self.require(
            value.is_finite() && (lo..=hi).contains(&value),
            name,
            value,
            &format!("must lie in [{lo}, {hi}]"),
        );
    }

    /// `value > 0`, and finite.
    pub fn count(&mut self, name: &str, value: u64, lo: u64, hi: u64) {
        self.require((lo..=hi).contains(&value), name, value, &format!("must lie in [{lo}, {hi}]"));
    }

    /// Turn the collected failures into a result.
    pub fn finish(self) -> Result<(), Invalids> {
        if self.errors.is_empty() { Ok(()) } else { Err(Invalids(self.errors)) }
    }
}

/// Every invalid field of a file or a value, printed one way: an indented bullet list, one
/// field per line.
#[derive(Clone, Debug, PartialEq)]
pub struct Invalids(pub Vec<Invalid>);

impl std::ops::Deref for Invalids {
    type Target = [Invalid];

    fn deref(&self) -> &[Invalid] {
        &self.0
    }
}

impl fmt::Display for Invalids {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Invalids {}

impl<'a> IntoIterator for &'a Invalids {
    type Item = &'a Invalid;
    type IntoIter = std::slice::Iter<'a, Invalid>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_like_field_accesses() {
        let mut c = Checker::default();
        c.within("agents", |c| {
            c.within("[2]", |c| c.within("juror", |c| c.range("accuracy", 1.5, 0.0, 1.0)));
        });
        let errs = c.finish().unwrap_err();
        assert_eq!(errs[0].field, "agents[2].juror.accuracy");
        assert_eq!(errs[0].to_string(), "`agents[2].juror.accuracy` = 1.5 is invalid: must lie in [0, 1]");
    }

    #[test]
    fn nan_is_never_in_range() {
        let mut c = Checker::default();
        c.range("x", f64::NAN, 0.0, 1.0);
        c.range("y", f64::NAN, f64::NEG_INFINITY, f64::INFINITY);
        assert_eq!(c.finish().unwrap_err().len(), 2);
    }

    #[test]
    fn endpoints_need_a_scheme_a_host_and_a_real_port() {
        for bad in ["http://", "ftp://host/v1", "http://127.0.0.1:99999/v1", "localhost:8080", "http://:80/v1"] {
            let mut c = Checker::default();
            c.endpoint(bad, "m");
            assert!(c.finish().is_err(), "{bad} passed");
        }
        for good in ["http://127.0.0.1:8080/v1", "https://api.example.com/v1", "http://localhost/v1"] {
            let mut c = Checker::default();
            c.endpoint(good, "m");
            assert!(c.finish().is_ok(), "{good} refused");
        }
    }
}
