//! `tender fields`: every scenario struct's fields as the docs show them, from their one
//! definition ([`tender_agents::fields`]). The docs' generated sections
//! (`<!-- generated: NAME-fields -->`) are made here too, so the terminal, the README and docs/
//! show the same tables, and a mechanism registered out of the tree gets its table as well.

use anyhow::{Result, bail};
use tender_agents::fields::{FieldDoc, compact_list, markdown_table};
use tender_agents::live::LiveSpec;
use tender_agents::profile::EntropySpec;
use tender_agents::serving::ServingSpec;
use tender_agents::strategy::Strategy;
use tender_agents::workload::{DomainSpec, WorkloadSpec};
use tender_agents::{AgentProfile, JurorProfile, StandInParams, TaskFile, TraceSpec};
use tender_engine::Scenario;
use tender_engine::calibration::{CalibrationSpec, FreeParam, Target};
use tender_engine::game_spec::{GameSpec, Player};
use tender_engine::mechanisms::cascade::ScorerParams;
use tender_engine::sweep_spec::{ParamSpec, SweepSpec};

/// One table: its name (`tender fields NAME`), where a scenario writes it, and its fields.
pub struct Fields {
    pub name: String,
    pub place: String,
    pub fields: &'static [FieldDoc],
}

/// Every table: the scenario's structs, then each registered mechanism kind with parameters,
/// by its name in lower case.
#[must_use]
pub fn tables() -> Vec<Fields> {
    let fixed: [(&str, &str, &'static [FieldDoc]); 20] = [
        ("scenario", "the top level of a scenario", Scenario::FIELDS),
        ("agent", "an agent: `agents: [(...), ...]`", AgentProfile::FIELDS),
        ("standins", "the stand-in world: `standins: (...)`", StandInParams::FIELDS),
        ("juror", "an agent's `juror: (...)`", JurorProfile::FIELDS),
        ("trace", "an agent's `trace: (...)`", TraceSpec::FIELDS),
        ("entropy", "an agent's `entropy: (...)`", EntropySpec::FIELDS),
        ("serving", "an agent's `serving: (...)`", ServingSpec::FIELDS),
        ("strategy", "an agent's `strategy: (...)`", Strategy::FIELDS),
        ("live", "a live agent's `backend: Live(...)`", LiveSpec::FIELDS),
        ("workload", "`workload: (...)`", WorkloadSpec::FIELDS),
        ("domain", "a domain: `workload: (domains: [(...), ...])`", DomainSpec::FIELDS),
        ("tasks", "a task file: `workload: (tasks: (...))`", TaskFile::FIELDS),
        ("scorer", "a cascade's `scorer: (...)`", ScorerParams::FIELDS),
        ("sweep", "`sweep: (...)`, run by `tender sweep`", SweepSpec::FIELDS),
        ("param", "a swept parameter: `sweep: (params: [(...), ...])`", ParamSpec::FIELDS),
        ("calibrate", "`calibrate: (...)`, fitted by `tender calibrate`", CalibrationSpec::FIELDS),
        ("free", "a free parameter: `calibrate: (params: [(...), ...])`", FreeParam::FIELDS),
        ("target", "a target: `calibrate: (targets: [(...), ...])`", Target::FIELDS),
        ("game", "`game: (...)`, played by `tender game`", GameSpec::FIELDS),
        ("player", "a player: `game: (players: [(...), ...])`", Player::FIELDS),
    ];
    let mut out: Vec<Fields> = fixed
        .into_iter()
        .map(|(name, place, fields)| Fields { name: name.into(), place: place.into(), fields })
        .collect();
    for (kind, fields) in tender_engine::mechanisms::parameters() {
        if !fields.is_empty() {
            out.push(Fields { name: kind.to_lowercase(), place: format!("the mechanism `{kind}(...)`"), fields });
        }
    }
    out
}

/// The text of the docs' section `name`: `NAME-fields` (a table), `standins-fields-compact`
/// (the README's list) or `mechanism-kinds` (every kind with its parameters' names); `None` for
/// a name none of these is.
#[must_use]
pub fn generated(name: &str) -> Option<String> {
    if name == "mechanism-kinds" {
        return Some(mechanism_kinds());
    }
    if name == "standins-fields-compact" {
        return Some(compact_list(StandInParams::FIELDS));
    }
    let table = name.strip_suffix("-fields")?;
    tables().into_iter().find(|t| t.name == table).map(|t| markdown_table(t.fields))
}

/// Every registered mechanism kind with its parameters' names.
fn mechanism_kinds() -> String {
    let mut s = String::from("| mechanism | parameters |\n|---|---|\n");
    for (kind, fields) in tender_engine::mechanisms::parameters() {
        let names: Vec<String> = fields.iter().filter(|f| !f.internal).map(|f| format!("`{}`", f.name)).collect();
        let names = if names.is_empty() { "none: written bare".to_string() } else { names.join(", ") };
        s.push_str(&format!("| `{kind}` | {names} |\n"));
    }
    s
}

/// `tender fields [NAME]`: the list of tables, or one table.
pub fn fields(name: Option<&str>) -> Result<()> {
    let all = tables();
    let Some(name) = name else {
        let mut text = String::from("Scenario fields, each table from the fields' one definition in the code:\n\n");
        for t in &all {
            let n = t.fields.iter().filter(|f| !f.internal).count();
            text.push_str(&format!("  {:<10} {} ({n} fields)\n", t.name, t.place));
        }
        text.push_str("\n`tender fields NAME` prints one table (markdown): each field's default, what it allows and what it means.");
        return crate::io::emit(&text);
    };
    let wanted = name.to_lowercase();
    match all.iter().find(|t| t.name == wanted) {
        Some(t) => crate::io::emit(&format!("Fields of {}:\n\n{}", t.place, markdown_table(t.fields).trim_end())),
        None => bail!(
            "no table named {name:?}; the tables: {}",
            all.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}
