//! One definition per scenario field: a field's name, type, default, allowed range and meaning
//! are written once, in [`fields!`], which makes the serde struct, its `Default`, its range
//! checks and the table the docs show ([`FieldDoc`], [`markdown_table`]). Nothing else lists the
//! fields, so a new one cannot reach the scenario without reaching the docs (as ripgrep's flags
//! make its help and man page).

use crate::validate::Checker;

/// A field as the docs show it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FieldDoc {
    pub name: &'static str,
    pub default: f64,
    /// The allowed range, inclusive.
    pub min: f64,
    pub max: f64,
    /// Its doc comment (markdown, one line per source line).
    pub doc: &'static str,
}

/// A field's value as the checker reads it.
pub trait Bounded: Copy {
    fn check_range(self, c: &mut Checker, name: &str, min: f64, max: f64);
}

impl Bounded for f64 {
    fn check_range(self, c: &mut Checker, name: &str, min: f64, max: f64) {
        c.range(name, self, min, max);
    }
}

impl Bounded for u8 {
    fn check_range(self, c: &mut Checker, name: &str, min: f64, max: f64) {
        c.count(name, u64::from(self), min as u64, max as u64);
    }
}

impl Bounded for u32 {
    fn check_range(self, c: &mut Checker, name: &str, min: f64, max: f64) {
        // Whole-number bounds, written as numbers in the one definition.
        c.count(name, u64::from(self), min as u64, max as u64);
    }
}

/// Defines a struct of scenario fields from one definition per field: its doc comment, name,
/// type, default and range `in [min, max]`. It makes the struct (serde, `deny_unknown_fields`,
/// each field optional at its default), `Default`, `check_ranges` and `FIELDS`, the docs' rows.
#[macro_export]
macro_rules! fields {
    (
        $(#[doc = $sdoc:literal])*
        pub struct $name:ident {
            $( $(#[doc = $doc:literal])+ $field:ident : $ty:ty = $default:expr, in [$min:expr, $max:expr]; )*
        }
    ) => {
        $(#[doc = $sdoc])*
        #[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            $( $(#[doc = $doc])+ pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                Self { $( $field: $default, )* }
            }
        }

        impl $name {
            /// Every field's name, default, range and meaning, in definition order.
            pub const FIELDS: &'static [$crate::fields::FieldDoc] = &[
                $( $crate::fields::FieldDoc {
                    name: stringify!($field),
                    default: $default as f64,
                    min: $min as f64,
                    max: $max as f64,
                    doc: concat!($($doc, "\n"),+),
                }, )*
            ];

            /// Check every field against its range.
            pub fn check_ranges(&self, c: &mut $crate::validate::Checker) {
                $( $crate::fields::Bounded::check_range(self.$field, c, stringify!($field), $min as f64, $max as f64); )*
            }
        }
    };
}

/// A number as the docs write it: whole numbers without a fraction, thousands grouped.
fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        let digits = format!("{}", x.abs() as u64);
        let mut out = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        if x < 0.0 { format!("-{out}") } else { out }
    } else {
        format!("{x}")
    }
}

/// The markdown table of `fields`: name, default, range and meaning (the doc comment on one
/// line).
#[must_use]
pub fn markdown_table(fields: &[FieldDoc]) -> String {
    let mut s = String::from("| field | default | allowed | what it means |\n|---|---|---|---|\n");
    for f in fields {
        let doc = f.doc.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
        s.push_str(&format!(
            "| `{}` | {} | [{}, {}] | {} |\n",
            f.name,
            number(f.default),
            number(f.min),
            number(f.max),
            doc.replace('|', "\\|")
        ));
    }
    s
}

/// `fields` on a few lines: each name with its default and range.
#[must_use]
pub fn compact_list(fields: &[FieldDoc]) -> String {
    let items: Vec<String> = fields
        .iter()
        .map(|f| format!("`{}` ({}; [{}, {}])", f.name, number(f.default), number(f.min), number(f.max)))
        .collect();
    format!("{}.\n", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::fields! {
        /// Two fields.
        pub struct Demo {
            /// A share.
            share: f64 = 0.5, in [0.0, 1.0];
            /// A count
            /// over two lines.
            count: u32 = 3, in [1, 10_000];
        }
    }

    #[test]
    fn one_definition_gives_the_default_the_checks_and_the_docs() {
        assert_eq!(Demo::default(), Demo { share: 0.5, count: 3 });
        let mut c = Checker::default();
        Demo { share: 1.5, count: 0 }.check_ranges(&mut c);
        let err = c.finish().expect_err("both out of range").to_string();
        assert!(err.contains("share") && err.contains("count"), "{err}");
        let table = markdown_table(Demo::FIELDS);
        assert!(table.contains("| `share` | 0.5 | [0, 1] | A share. |"), "{table}");
        assert!(table.contains("| `count` | 3 | [1, 10,000] | A count over two lines. |"), "{table}");
    }
}
