//! One definition per scenario field: a field's name, type, default, allowed values and meaning
//! are written once, in [`fields!`] (pool-wide numeric parameters, every field optional at its
//! default) or [`documented!`] (any scenario struct, its serde attributes kept), which make the
//! serde struct, its range checks and the table the docs show ([`FieldDoc`], [`markdown_table`]).
//! Nothing else lists the fields, so a new one cannot reach the scenario without reaching the
//! docs (as ripgrep's flags make its help and man page).

use crate::validate::Checker;

/// A field's default as the docs show it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shown {
    /// The scenario must give it.
    Required,
    /// A number: the value the code defaults to.
    Number(f64),
    /// In words (markdown), where the default is not a number: `Shuffled`, "its price".
    Text(&'static str),
}

/// What a field allows, as the docs show it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Allowed {
    /// A number in `[min, max]`, inclusive; checked by the definition's `check_ranges`.
    Range(f64, f64),
    /// In words (markdown): the variants of an enum, "non-empty"; checked by the struct's own
    /// validation.
    Text(&'static str),
}

/// A field as the docs show it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FieldDoc {
    pub name: &'static str,
    pub default: Shown,
    pub allowed: Allowed,
    /// Its doc comment (markdown, one line per source line).
    pub doc: &'static str,
    /// Not a scenario field (a value the struct keeps once prepared); the docs leave it out.
    pub internal: bool,
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

/// Whole numbers: their bounds are written as numbers in the one definition.
macro_rules! bounded_count {
    ($($t:ty),*) => {$(
        impl Bounded for $t {
            fn check_range(self, c: &mut Checker, name: &str, min: f64, max: f64) {
                c.count(name, self as u64, min as u64, max as u64);
            }
        }
    )*};
}
bounded_count!(u8, u16, u32, u64, usize);

/// An optional value is checked when given.
impl<T: Bounded> Bounded for Option<T> {
    fn check_range(self, c: &mut Checker, name: &str, min: f64, max: f64) {
        if let Some(v) = self {
            v.check_range(c, name, min, max);
        }
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
                    default: $crate::fields::Shown::Number($default as f64),
                    allowed: $crate::fields::Allowed::Range($min as f64, $max as f64),
                    doc: concat!($($doc, "\n"),+),
                    internal: false,
                }, )*
            ];

            /// Check every field against its range.
            pub fn check_ranges(&self, c: &mut $crate::validate::Checker) {
                $( $crate::fields::Bounded::check_range(self.$field, c, stringify!($field), $min as f64, $max as f64); )*
            }
        }
    };
}

/// Defines any scenario struct from one definition per field, keeping the struct's derives and
/// every field's serde attributes. After each field's type come its default and what it allows:
///
/// - the default: `default EXPR` (a number; name the same `const fn` serde's `default = "..."`
///   calls, so the value is written once), `shown "TEXT"` (in words), or nothing (required);
/// - what it allows: `in [MIN, MAX]` (a number, checked by the generated `check_ranges`; an
///   `Option` is checked when given) or `allowed "TEXT"` (in words; the struct's own validation
///   checks it);
/// - or `internal "WHY"`: not a scenario field (`#[serde(skip)]`, say); the docs leave it out.
///
/// It makes the struct, `FIELDS` (the docs' rows) and `check_ranges`.
#[macro_export]
macro_rules! documented {
    (
        $(#[doc = $sdoc:literal])*
        #[derive $derive:tt]
        $(#[serde $sserde:tt])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])+
                $(#[serde $fserde:tt])*
                pub $field:ident : $ty:ty
                $(, default $dvalue:expr)? $(, shown $dtext:literal)?
                $(, in [$min:expr, $max:expr])? $(, allowed $atext:literal)? $(, internal $why:literal)?;
            )*
        }
    ) => {
        $(#[doc = $sdoc])*
        #[derive $derive]
        $(#[serde $sserde])*
        pub struct $name {
            $( $(#[doc = $doc])+ $(#[serde $fserde])* pub $field: $ty, )*
        }

        impl $name {
            /// Every field's name, default, allowed values and meaning, in definition order.
            pub const FIELDS: &'static [$crate::fields::FieldDoc] = &[
                $( $crate::fields::FieldDoc {
                    name: stringify!($field),
                    default: {
                        #[allow(unused_variables)]
                        let shown = $crate::fields::Shown::Required;
                        $( let shown = $crate::fields::Shown::Number($dvalue as f64); )?
                        $( let shown = $crate::fields::Shown::Text($dtext); )?
                        shown
                    },
                    allowed: {
                        #[allow(unused_variables)]
                        let allowed = $crate::fields::Allowed::Text("");
                        $( let allowed = $crate::fields::Allowed::Range($min as f64, $max as f64); )?
                        $( let allowed = $crate::fields::Allowed::Text($atext); )?
                        allowed
                    },
                    doc: concat!($($doc, "\n"),+),
                    internal: {
                        #[allow(unused_variables)]
                        let internal = false;
                        $( let internal = !$why.is_empty(); )?
                        internal
                    },
                }, )*
            ];

            /// Check every field given a range against it.
            #[allow(unused_variables)]
            pub fn check_ranges(&self, c: &mut $crate::validate::Checker) {
                $( $( $crate::fields::Bounded::check_range(self.$field, c, stringify!($field), $min as f64, $max as f64); )? )*
            }
        }
    };
}

/// A number as the docs write it: whole numbers without a fraction, thousands grouped, up to ten
/// million; larger and tiny bounds as powers of ten (`1e9`, `1e-9`).
fn number(x: f64) -> String {
    let a = x.abs();
    if a >= 1e7 || (a > 0.0 && a < 1e-4) {
        format!("{x:e}")
    } else if x.fract() == 0.0 {
        let digits = format!("{}", a as u64);
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

impl Shown {
    /// As a table cell.
    #[must_use]
    pub fn cell(&self) -> String {
        match self {
            Self::Required => "required".to_string(),
            Self::Number(x) => number(*x),
            Self::Text(t) => (*t).to_string(),
        }
    }
}

impl Allowed {
    /// As a table cell.
    #[must_use]
    pub fn cell(&self) -> String {
        match self {
            Self::Range(min, max) => format!("[{}, {}]", number(*min), number(*max)),
            Self::Text(t) => (*t).to_string(),
        }
    }
}

/// A doc comment on one line.
fn one_line(doc: &str) -> String {
    doc.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The markdown table of `fields`: name, default, what it allows and its meaning (the doc
/// comment on one line).
#[must_use]
pub fn markdown_table(fields: &[FieldDoc]) -> String {
    let mut s = String::from("| field | default | allowed | what it means |\n|---|---|---|---|\n");
    for f in fields.iter().filter(|f| !f.internal) {
        let cells = [f.default.cell(), f.allowed.cell(), one_line(f.doc)].map(|c| c.replace('|', "\\|"));
        s.push_str(&format!("| `{}` | {} | {} | {} |\n", f.name, cells[0], cells[1], cells[2]));
    }
    s
}

/// `fields` on a few lines: each name with its default and what it allows.
#[must_use]
pub fn compact_list(fields: &[FieldDoc]) -> String {
    let items: Vec<String> = fields
        .iter()
        .filter(|f| !f.internal)
        .map(|f| format!("`{}` ({}; {})", f.name, f.default.cell(), f.allowed.cell()))
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

    const fn default_gain() -> f64 {
        1.2
    }

    crate::documented! {
        /// A struct with a required field, a numeric default, a default in words and an option.
        #[derive(Clone, Debug, PartialEq, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Mixed {
            /// Its name.
            pub name: String, allowed "non-empty";
            /// A gain.
            #[serde(default = "default_gain")]
            pub gain: f64, default default_gain(), in [0.0, 5.0];
            /// A price, when it differs.
            #[serde(default)]
            pub price: Option<f64>, shown "`gain`", in [0, 1e6];
        }
    }

    #[test]
    fn a_documented_struct_keeps_its_serde_attributes_and_shows_its_one_default() {
        let m: Mixed = serde_json::from_str(r#"{"name": "a"}"#).expect("parses");
        assert_eq!(m, Mixed { name: "a".into(), gain: 1.2, price: None });
        assert!(serde_json::from_str::<Mixed>(r#"{"gain": 1}"#).is_err(), "name is required");
        assert_eq!(Mixed::FIELDS[0].default, Shown::Required);
        assert_eq!(Mixed::FIELDS[1].default, Shown::Number(default_gain()));
        let mut c = Checker::default();
        Mixed { name: "a".into(), gain: 6.0, price: Some(-1.0) }.check_ranges(&mut c);
        let err = c.finish().expect_err("both out of range").to_string();
        assert!(err.contains("gain") && err.contains("price"), "{err}");
        let mut c = Checker::default();
        Mixed { name: "a".into(), gain: 1.0, price: None }.check_ranges(&mut c);
        assert!(c.finish().is_ok(), "an option not given is not checked");
        let table = markdown_table(Mixed::FIELDS);
        assert!(table.contains("| `name` | required | non-empty | Its name. |"), "{table}");
        assert!(table.contains("| `gain` | 1.2 | [0, 5] | A gain. |"), "{table}");
        assert!(table.contains("| `price` | `gain` | [0, 1,000,000] | A price, when it differs. |"), "{table}");
    }
}
