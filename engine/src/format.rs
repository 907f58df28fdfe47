//! How Tender reads RON, for scenarios and the files they name.

use ron::extensions::Extensions;

/// How Tender reads RON: optional values may be written bare, and a mechanism's parameters
/// directly inside its name (`Sale(w_c: 0.01, ...)`).
#[must_use]
pub fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(Extensions::IMPLICIT_SOME | Extensions::UNWRAP_VARIANT_NEWTYPES)
}

/// RON as Tender writes it (scenario copies in results folders): pretty, and readable back with
/// [`ron_options`].
pub fn to_ron<T: serde::Serialize>(value: &T) -> Result<String, ron::Error> {
    ron::ser::to_string_pretty(
        value,
        ron::ser::PrettyConfig::new().extensions(Extensions::IMPLICIT_SOME | Extensions::UNWRAP_VARIANT_NEWTYPES),
    )
}
