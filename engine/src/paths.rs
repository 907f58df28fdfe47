//! Following a path (`mechanisms.sale.w_c`, `agents[2].price`) through a scenario as JSON: the
//! machinery sweeps and calibration share. A path is followed through the scenario as JSON: object
//! keys by name, list entries by `[index]`, by the value of their `name` field, or, in
//! `mechanisms`, by their kind or table name.

use serde_json::Value;

use crate::sweep_spec::{ParamSpec, SweepError};

/// Check that every path leads somewhere in `tree` (a scenario as JSON); `names` are its
/// mechanisms' table names, lower-cased, with their entry in `mechanisms`.
pub fn check(tree: &Value, names: &[(usize, String)], params: &[ParamSpec]) -> Result<(), SweepError> {
    let mut tree = tree.clone();
    for p in params {
        let probe = lookup(&mut tree, &p.path, names)?.clone();
        set(&mut tree, &p.path, probe, names)?;
    }
    Ok(())
}

/// Put `value` where `path` leads.
pub fn set(tree: &mut Value, path: &str, value: Value, names: &[(usize, String)]) -> Result<(), SweepError> {
    let slot = lookup(tree, path, names)?;
    // Keep integers integers (a count swept as 4.0 would not parse back).
    *slot = match (&*slot, &value) {
        (Value::Number(old), Value::Number(new)) if old.is_u64() || old.is_i64() => {
            new.as_f64().filter(|f| f.fract() == 0.0).map_or(value.clone(), |f| Value::from(f as i64))
        }
        _ => value,
    };
    Ok(())
}

/// The JSON slot a path names.
pub fn lookup<'a>(
    tree: &'a mut Value,
    path: &str,
    mechanism_names: &[(usize, String)],
) -> Result<&'a mut Value, SweepError> {
    let fail = |message: String| SweepError::Path { path: path.to_string(), message };
    let mut node = tree;
    let mut parent_key = String::new();
    for raw in split_path(path) {
        let segment = raw.as_str();
        node = match node {
            Value::Object(map) => {
                // Optional fields left out of a scenario appear as nulls; a variant's payload is
                // entered transparently.
                if !map.contains_key(segment) && map.len() == 1 {
                    let (_, inner) = map.iter_mut().next().ok_or_else(|| fail("empty object".into()))?;
                    match inner {
                        Value::Object(m) if m.contains_key(segment) => {
                            m.get_mut(segment).ok_or_else(|| fail(segment.into()))?
                        }
                        _ => return Err(fail(format!("no field `{segment}`"))),
                    }
                } else {
                    let keys: Vec<String> = map.keys().cloned().collect();
                    map.get_mut(segment)
                        .ok_or_else(|| fail(format!("no field `{segment}`; fields here: {}", keys.join(", "))))?
                }
            }
            Value::Array(items) => {
                let index = if let Some(i) = segment.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                    i.parse::<usize>().map_err(|_| fail(format!("`{segment}` is not an index")))?
                } else {
                    find_entry(items, segment, &parent_key, mechanism_names)
                        .ok_or_else(|| fail(format!("no entry `{segment}` in `{parent_key}`")))?
                };
                let len = items.len();
                items.get_mut(index).ok_or_else(|| fail(format!("index {index} out of range (length {len})")))?
            }
            _ => return Err(fail(format!("`{segment}` goes below a value"))),
        };
        parent_key = segment.to_string();
    }
    Ok(node)
}

fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        // `mechanisms[1]` is `mechanisms` then `[1]`.
        match part.find('[') {
            Some(i) if i > 0 => {
                out.push(part[..i].to_string());
                out.push(part[i..].to_string());
            }
            _ => out.push(part.to_string()),
        }
    }
    out
}

/// An entry of a list by its `name`, or a mechanism by kind or table name.
fn find_entry(items: &[Value], segment: &str, list: &str, mechanism_names: &[(usize, String)]) -> Option<usize> {
    let wanted = segment.to_lowercase();
    if let Some(i) =
        items.iter().position(|v| v.get("name").and_then(Value::as_str).is_some_and(|n| n.to_lowercase() == wanted))
    {
        return Some(i);
    }
    if list == "mechanisms" {
        // A table name, then a kind (the first mechanism of that kind).
        if let Some((i, _)) = mechanism_names.iter().find(|(_, n)| *n == wanted) {
            return Some(*i).filter(|&i| i < items.len());
        }
        return items.iter().position(|v| match v {
            Value::Object(m) => m.keys().next().is_some_and(|k| k.to_lowercase() == wanted),
            Value::String(s) => s.to_lowercase() == wanted,
            _ => false,
        });
    }
    None
}
