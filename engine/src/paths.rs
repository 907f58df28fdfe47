//! Following a path (`mechanisms.sale.w_c`, `agents[2].price`, `agents["qwen2.5-0.5b"].price`)
//! through a scenario as JSON: the machinery sweeps and calibration share. A path is followed
//! through the scenario as JSON: object keys by name, list entries by `[index]`, by the value of
//! their `name` field (bare, or quoted in brackets when it holds a dot), or, in `mechanisms`, by
//! their kind or table name. Two spellings of one place resolve to the same [`canonical`] path.

use serde_json::Value;

use crate::sweep_spec::{ParamSpec, SweepError};

/// Check that every path leads somewhere in `tree` (a scenario as JSON); `names` are its
/// mechanisms' table names, lower-cased, with their entry in `mechanisms`.
/// No place may be named twice, by any spelling.
pub fn check(tree: &Value, names: &[(usize, String)], params: &[ParamSpec]) -> Result<(), SweepError> {
    let mut seen: Vec<(String, &str)> = Vec::new();
    for p in params {
        let place = canonical(tree, &p.path, names)?;
        if let Some((_, first)) = seen.iter().find(|(c, _)| *c == place) {
            let message = if *first == p.path {
                "is swept twice; give each path once, with all its values".to_string()
            } else {
                format!(
                    "names the same parameter as `{first}` ({place}); give each parameter once, with all its values"
                )
            };
            return Err(SweepError::Path { path: p.path.clone(), message });
        }
        seen.push((place, &p.path));
    }
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
    walk(tree, path, mechanism_names, &mut Vec::new())
}

/// The one spelling of the place `path` names: every list entry by index, every key as stored
/// (`mechanisms.sale.w_c` and `mechanisms[0].w_c` are both `mechanisms[0].Sale.w_c`).
pub fn canonical(tree: &Value, path: &str, mechanism_names: &[(usize, String)]) -> Result<String, SweepError> {
    let mut tree = tree.clone();
    let mut trail = Vec::new();
    walk(&mut tree, path, mechanism_names, &mut trail)?;
    Ok(trail.concat())
}

/// Follow `path`, pushing each step's canonical spelling onto `trail`.
fn walk<'a>(
    tree: &'a mut Value,
    path: &str,
    mechanism_names: &[(usize, String)],
    trail: &mut Vec<String>,
) -> Result<&'a mut Value, SweepError> {
    let fail = |message: String| SweepError::Path { path: path.to_string(), message };
    let mut node = tree;
    let mut parent_key = String::new();
    for raw in split_path(path).map_err(fail)? {
        let segment = raw.as_str();
        node = match node {
            Value::Object(map) => {
                // Optional fields left out of a scenario appear as nulls; a variant's payload is
                // entered transparently.
                if !map.contains_key(segment) && map.len() == 1 {
                    let (variant, inner) = map.iter_mut().next().ok_or_else(|| fail("empty object".into()))?;
                    match inner {
                        Value::Object(m) if m.contains_key(segment) => {
                            trail.push(format!(".{variant}.{segment}"));
                            m.get_mut(segment).ok_or_else(|| fail(segment.into()))?
                        }
                        _ => return Err(fail(format!("no field `{segment}`"))),
                    }
                } else {
                    let keys: Vec<String> = map.keys().cloned().collect();
                    trail.push(format!(".{segment}"));
                    map.get_mut(segment)
                        .ok_or_else(|| fail(format!("no field `{segment}`; fields here: {}", keys.join(", "))))?
                }
            }
            Value::Array(items) => {
                let index = if let Some(i) = segment.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                    i.parse::<usize>().map_err(|_| fail(format!("`{segment}` is not an index")))?
                } else {
                    find_entry(items, segment, &parent_key, mechanism_names)
                        .ok_or_else(|| fail(no_entry(items, segment, &parent_key)))?
                };
                let len = items.len();
                trail.push(format!("[{index}]"));
                items.get_mut(index).ok_or_else(|| fail(format!("index {index} out of range (length {len})")))?
            }
            _ => return Err(fail(format!("`{segment}` goes below a value"))),
        };
        parent_key = segment.to_string();
    }
    Ok(node)
}

/// What to say when a list has no entry named `segment`: its entries, each with the index that
/// names it whatever its name holds.
fn no_entry(items: &[Value], segment: &str, list: &str) -> String {
    let names: Vec<String> = items
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.get("name").and_then(Value::as_str).map(|n| format!("{n:?} ({list}[{i}])")))
        .collect();
    if names.is_empty() {
        return format!("no entry `{segment}` in `{list}`; give it by index, `{list}[0]`");
    }
    let dotted = items
        .iter()
        .enumerate()
        .find(|(_, v)| v.get("name").and_then(Value::as_str).is_some_and(|n| n.starts_with(&format!("{segment}."))));
    let hint = match dotted {
        Some((i, v)) => format!(
            "; a name with a dot is quoted, `{list}[{:?}]`, or given by index, `{list}[{i}]`",
            v.get("name").and_then(Value::as_str).unwrap_or_default()
        ),
        None => String::new(),
    };
    format!("no entry `{segment}` in `{list}`{hint}; entries: {}", names.join(", "))
}

/// A path's segments: split on dots outside brackets; `mechanisms[1]` is `mechanisms` then `[1]`;
/// `agents["qwen2.5-0.5b"]` is `agents` then the entry named `qwen2.5-0.5b`.
fn split_path(path: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix("[\"") {
            let end = quoted.find("\"]").ok_or_else(|| format!("`{rest}`: a quoted name ends with `\"]`"))?;
            out.push(quoted[..end].to_string());
            rest = &quoted[end + 2..];
        } else if rest.starts_with('[') {
            let end = rest.find(']').ok_or_else(|| format!("`{rest}`: `[` without `]`"))?;
            out.push(rest[..=end].to_string());
            rest = &rest[end + 1..];
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            out.push(rest[..end].to_string());
            rest = &rest[end..];
        }
        if let Some(after) = rest.strip_prefix('.') {
            if after.is_empty() {
                return Err(format!("`{path}` ends with a dot"));
            }
            rest = after;
        }
    }
    Ok(out)
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
