//! The registry of mechanism kinds, and [`MechanismSpec`]: one mechanism as a scenario writes
//! it, read and written through whichever kind its name selects.

use std::any::{Any, TypeId};
use std::fmt;
use std::path::Path;
use std::sync::{LazyLock, RwLock};

use serde::de::{self, DeserializeSeed, EnumAccess, VariantAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tender_agents::validate::Checker;

use crate::fit::FitError;

use super::api::{AttachError, MechanismKind, Needs, Pool, ReadFile, Resolved, TrainingData};

/// A kind's parameters behind the registry's back: [`MechanismKind`] made object-safe.
trait Spec: fmt::Debug + Send + Sync {
    fn kind(&self) -> &'static str;
    fn bare(&self) -> bool;
    fn check(&self, c: &mut Checker, pool: &Pool<'_>);
    fn warnings(&self, pool: &Pool<'_>) -> Vec<String>;
    fn needs(&self) -> Needs;
    fn resolve(&self, pool: &Pool<'_>) -> Vec<Resolved>;
    fn attach_files(&mut self, base: &Path, read: ReadFile<'_>) -> Result<bool, AttachError>;
    fn after_assignments(&mut self);
    fn fit_weights(&mut self, data: &dyn TrainingData) -> Result<bool, FitError>;
    fn params(&self) -> &dyn erased_serde::Serialize;
    fn boxed(&self) -> Box<dyn Spec>;
    fn same(&self, other: &dyn Spec) -> bool;
    fn any(&self) -> &dyn Any;
    fn any_mut(&mut self) -> &mut dyn Any;
}

impl<K: MechanismKind> Spec for K {
    fn kind(&self) -> &'static str {
        K::NAME
    }
    fn bare(&self) -> bool {
        K::bare().is_some()
    }
    fn check(&self, c: &mut Checker, pool: &Pool<'_>) {
        MechanismKind::check(self, c, pool);
    }
    fn warnings(&self, pool: &Pool<'_>) -> Vec<String> {
        MechanismKind::warnings(self, pool)
    }
    fn needs(&self) -> Needs {
        MechanismKind::needs(self)
    }
    fn resolve(&self, pool: &Pool<'_>) -> Vec<Resolved> {
        MechanismKind::resolve(self, pool)
    }
    fn attach_files(&mut self, base: &Path, read: ReadFile<'_>) -> Result<bool, AttachError> {
        MechanismKind::attach_files(self, base, read)
    }
    fn after_assignments(&mut self) {
        MechanismKind::after_assignments(self);
    }
    fn fit_weights(&mut self, data: &dyn TrainingData) -> Result<bool, FitError> {
        MechanismKind::fit_weights(self, data)
    }
    fn params(&self) -> &dyn erased_serde::Serialize {
        self
    }
    fn boxed(&self) -> Box<dyn Spec> {
        Box::new(self.clone())
    }
    fn same(&self, other: &dyn Spec) -> bool {
        other.any().downcast_ref::<K>() == Some(self)
    }
    fn any(&self) -> &dyn Any {
        self
    }
    fn any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

type Parse = fn(&mut dyn erased_serde::Deserializer<'_>) -> Result<Box<dyn Spec>, erased_serde::Error>;

/// One registered kind: its name and how to read it.
#[derive(Clone, Copy)]
pub struct Entry {
    name: &'static str,
    parameters: &'static [tender_agents::fields::FieldDoc],
    type_id: TypeId,
    parse: Parse,
    bare: fn() -> Option<Box<dyn Spec>>,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry").field("name", &self.name).finish_non_exhaustive()
    }
}

/// The registry entry of kind `K`: the one line that makes a mechanism known.
#[must_use]
pub fn entry<K: MechanismKind>() -> Entry {
    Entry {
        name: K::NAME,
        parameters: K::PARAMETERS,
        type_id: TypeId::of::<K>(),
        parse: |d| Ok(Box::new(erased_serde::deserialize::<K>(d)?)),
        bare: || K::bare().map(|k| Box::new(k) as Box<dyn Spec>),
    }
}

static REGISTRY: LazyLock<RwLock<Vec<Entry>>> =
    LazyLock::new(|| RwLock::new(super::BUILTIN.iter().map(|f| f()).collect()));

fn with_registry<T>(f: impl FnOnce(&[Entry]) -> T) -> T {
    // A panic while holding the lock leaves the list intact: entries are only ever appended.
    let guard = REGISTRY.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    f(&guard)
}

/// Why a kind cannot be registered.
#[derive(Debug, thiserror::Error)]
#[error("a mechanism named {0:?} is already registered")]
pub struct DuplicateKind(pub &'static str);

/// Make an out-of-tree kind known to scenario files (the library's own are listed in
/// [`super::BUILTIN`]). Call before any scenario is parsed; registering the same kind twice is
/// harmless, a different kind under a taken name is an error.
pub fn register(entry: Entry) -> Result<(), DuplicateKind> {
    let mut list = REGISTRY.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    match list.iter().find(|e| e.name == entry.name) {
        Some(e) if e.type_id == entry.type_id => Ok(()),
        Some(_) => Err(DuplicateKind(entry.name)),
        None => {
            list.push(entry);
            Ok(())
        }
    }
}

/// The names of every registered kind, in registration order.
#[must_use]
pub fn kinds() -> Vec<&'static str> {
    with_registry(|list| list.iter().map(|e| e.name).collect())
}

/// Every registered kind's name and parameters (none for a kind written bare), in registration
/// order: what the docs' tables of mechanisms are made from.
#[must_use]
pub fn parameters() -> Vec<(&'static str, &'static [tender_agents::fields::FieldDoc])> {
    with_registry(|list| list.iter().map(|e| (e.name, e.parameters)).collect())
}

/// A mechanism as written in a scenario file: `Sale(w_c: 0.01, w_h: 1.0)`, `EachAgent`, ...
pub struct MechanismSpec(Box<dyn Spec>);

impl MechanismSpec {
    /// The spec of a kind's parameters.
    pub fn new<K: MechanismKind>(params: K) -> Self {
        Self(Box::new(params))
    }

    /// The kind's name, as a scenario writes it.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        self.0.kind()
    }

    /// The parameters, if the spec is of kind `K`.
    #[must_use]
    pub fn get<K: MechanismKind>(&self) -> Option<&K> {
        self.0.any().downcast_ref()
    }

    /// The parameters, mutably, if the spec is of kind `K`.
    pub fn get_mut<K: MechanismKind>(&mut self) -> Option<&mut K> {
        self.0.any_mut().downcast_mut()
    }

    /// Check the parameters against their ranges and the pool.
    pub fn check(&self, c: &mut Checker, pool: &Pool<'_>) {
        self.0.check(c, pool);
    }

    /// What a user should know of the setting although it is valid.
    #[must_use]
    pub fn warnings(&self, pool: &Pool<'_>) -> Vec<String> {
        self.0.warnings(pool)
    }

    #[must_use]
    pub fn needs(&self) -> Needs {
        self.0.needs()
    }

    /// The named mechanisms the spec stands for. Call after [`MechanismSpec::check`] passed.
    #[must_use]
    pub fn resolve(&self, pool: &Pool<'_>) -> Vec<Resolved> {
        let needs = self.needs();
        self.0.resolve(pool).into_iter().map(|r| Resolved { needs, ..r }).collect()
    }

    /// See [`MechanismKind::attach_files`].
    pub fn attach_files(&mut self, base: &Path, read: ReadFile<'_>) -> Result<bool, AttachError> {
        self.0.attach_files(base, read)
    }

    /// See [`MechanismKind::after_assignments`].
    pub fn after_assignments(&mut self) {
        self.0.after_assignments();
    }

    /// See [`MechanismKind::fit_weights`].
    pub fn fit_weights(&mut self, data: &dyn TrainingData) -> Result<bool, FitError> {
        self.0.fit_weights(data)
    }
}

impl Clone for MechanismSpec {
    fn clone(&self) -> Self {
        Self(self.0.boxed())
    }
}

impl PartialEq for MechanismSpec {
    fn eq(&self, other: &Self) -> bool {
        self.0.same(other.0.as_ref())
    }
}

impl fmt::Debug for MechanismSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.bare() { f.write_str(self.kind()) } else { write!(f, "{}({:?})", self.kind(), self.0) }
    }
}

/// Serialized as serde's externally tagged enum, so RON writes `Name(...)` or `Name`, JSON
/// `{"Name": {...}}` or `"Name"`.
impl Serialize for MechanismSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.bare() {
            s.serialize_unit_variant("MechanismSpec", 0, self.kind())
        } else {
            s.serialize_newtype_variant("MechanismSpec", 0, self.kind(), self.0.params())
        }
    }
}

impl<'de> Deserialize<'de> for MechanismSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_enum("MechanismSpec", &[], SpecVisitor)
    }
}

struct SpecVisitor;

impl<'de> Visitor<'de> for SpecVisitor {
    type Value = MechanismSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a mechanism: one of {}", kinds().join(", "))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        let (name, variant) = data.variant_seed(KindName)?;
        let Some(entry) = with_registry(|list| list.iter().find(|e| e.name == name).copied()) else {
            return Err(de::Error::custom(format_args!(
                "unknown mechanism `{name}`, expected one of {}",
                kinds().iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            )));
        };
        match (entry.bare)() {
            Some(bare) => {
                variant.unit_variant()?;
                Ok(MechanismSpec(bare))
            }
            None => variant.newtype_variant_seed(ParamsSeed(entry.parse)).map(MechanismSpec),
        }
    }
}

/// A kind's name, read as the identifier it is (not as a quoted string).
struct KindName;

impl<'de> DeserializeSeed<'de> for KindName {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl Visitor<'_> for KindName {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mechanism's name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
}

struct ParamsSeed(Parse);

impl<'de> DeserializeSeed<'de> for ParamsSeed {
    type Value = Box<dyn Spec>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let mut erased = <dyn erased_serde::Deserializer>::erase(d);
        (self.0)(&mut erased).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::{Scenario, ScenarioError};

    use super::*;
    use crate::mechanisms::four_agents;

    fn parse(mechanisms: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(&four_agents("training: Separate(1),", mechanisms), "x.ron")
    }

    #[test]
    fn an_unknown_kind_is_named_with_the_registered_ones_and_its_position() {
        let e = parse("[Random, Sael(w_c: 1.0, w_h: 1.0)]").unwrap_err();
        let ScenarioError::Syntax { line, column, message, .. } = &e else { panic!("{e}") };
        assert_eq!(*line, 13, "{e}");
        assert!(*column > 1);
        assert!(message.contains("unknown mechanism `Sael`") && message.contains("`Sale`, `Single`"), "{message}");
    }

    #[test]
    fn a_parameter_error_keeps_its_position_and_field() {
        let e = parse("[Carrot(k: 5,\n lamda: 2.0)]").unwrap_err();
        let ScenarioError::Syntax { line, message, .. } = &e else { panic!("{e}") };
        assert_eq!(*line, 14, "{e}");
        assert!(message.contains("lamda"), "{message}");
        let e = parse("[Random()]").unwrap_err();
        assert!(matches!(e, ScenarioError::Syntax { .. }), "{e}");
    }

    #[test]
    fn specs_round_trip_through_ron_and_json() {
        let s = parse("[Sale(w_c: 0.5, w_h: 1.0, jury: PeerOnly), EachAgent, Carrot(lambdas: [1.0, 2.0]), Random]")
            .unwrap();
        let ron_text = crate::format::to_ron(&s).unwrap();
        assert_eq!(Scenario::parse(&ron_text, "again.ron").unwrap(), s);
        let json: Scenario = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(json, s);
        assert_eq!(s.mechanisms[1].kind(), "EachAgent");
        assert!(s.mechanisms[0].get::<crate::SaleParams>().is_some());
        assert!(s.mechanisms[1].get::<crate::SaleParams>().is_none());
    }

    #[test]
    fn registering_twice_is_harmless_and_a_taken_name_is_refused() {
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        struct Sale;
        impl MechanismKind for Sale {
            const NAME: &'static str = "Sale";
            fn resolve(&self, _: &Pool<'_>) -> Vec<Resolved> {
                Vec::new()
            }
        }
        register(entry::<crate::SaleParams>()).unwrap();
        assert_eq!(register(entry::<Sale>()).unwrap_err().0, "Sale");
        assert_eq!(kinds().iter().filter(|k| **k == "Sale").count(), 1);
    }
}
