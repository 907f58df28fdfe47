//! Assembling a scenario's outcome source: reading its task file, setting up live agents
//! (servers, cache, trace) or a replayed trace, and recorded tables.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use tender_agents::live::{LiveSource, Mode, embed_texts};
use tender_agents::pool::{Kind, assemble};
use tender_agents::recorded::{RecordedTable, RouteLlmFile};
use tender_agents::taskfile::parse_jsonl;
use tender_agents::{AgentInfo, AgentProfile, Backend, Embedding, TaskFormat, TaskRow};
use tender_engine::{Prepared, Scenario};

use crate::io::read_bounded;

/// Where live agents' answers come from, as the command line says.
#[derive(Clone, Debug, Default)]
pub struct LiveOptions {
    /// Answer from this recorded trace only, calling nothing.
    pub replay: Option<PathBuf>,
    /// The response cache [default: OUTPUT/cache.jsonl].
    pub cache: Option<PathBuf>,
    pub no_cache: bool,
    /// Where this run's trace goes [default: the scenario's output folder].
    pub trace_dir: Option<PathBuf>,
    /// Record no trace (`tender doctor`'s sample calls are not a run).
    pub no_trace: bool,
}

/// A scenario prepared to run, and its live side when it has one.
pub struct Backends {
    pub prepared: Prepared,
    pub live: Option<Arc<LiveSource>>,
}

fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

/// Prepare a validated scenario: read its task file (if any) into the workload, build its source
/// and resolve its mechanisms, once. `file` is the scenario file (task paths are relative to its
/// folder); the cache and the trace go to the scenario's output folder.
pub fn prepare(mut scenario: Scenario, file: &Path, options: &LiveOptions) -> Result<Backends> {
    let out = scenario.output.clone();
    let kinds: Vec<Kind> = scenario.agents.iter().map(|a| Kind::of(&a.backend)).collect();
    let server_embedding = matches!(scenario.workload.tasks.as_ref().map(|t| &t.embedding), Some(Embedding::Server(_)));
    let live = if kinds.contains(&Kind::Live) || server_embedding {
        let mode = match &options.replay {
            Some(trace) => Mode::Replay { trace: trace.clone() },
            None => Mode::Live {
                cache: (!options.no_cache).then(|| options.cache.clone().unwrap_or_else(|| out.join("cache.jsonl"))),
                trace: (!options.no_trace).then(|| options.trace_dir.as_ref().unwrap_or(&out).join("trace.jsonl")),
            },
        };
        let agents: Vec<AgentInfo> = scenario.agents.iter().map(AgentProfile::info).collect();
        let specs: Vec<_> = scenario
            .agents
            .iter()
            .map(|a| match &a.backend {
                Backend::Live(spec) => Some(spec.clone()),
                _ => None,
            })
            .collect();
        Some(Arc::new(LiveSource::new(&agents, &specs, &mode, &env)?))
    } else {
        None
    };
    let recorded = load_tasks(&mut scenario, file, live.as_deref())?;
    // The tasks change what is valid (a training split's size); without them the scenario is as
    // validated when parsed.
    if scenario.workload.loaded.is_some()
        && let Err(errors) = scenario.validate()
    {
        bail!("{}: invalid scenario with its tasks:\n{errors}", file.display());
    }
    if kinds.contains(&Kind::Live) && scenario.workload.loaded.is_none() {
        bail!("{}: live agents need real tasks: add `tasks: (path: \"tasks.jsonl\")` to the workload", file.display());
    }
    let synthetic = scenario.source()?;
    let source = assemble(&scenario.agents, synthetic, live.clone(), recorded.as_ref())
        .with_context(|| format!("{}: cannot assemble the pool", file.display()))?;
    Ok(Backends { prepared: Prepared::new(scenario, source)?, live })
}

/// Largest task file or recorded table read.
const MAX_TASK_FILE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Read the workload's task file, embed the tasks and attach them; a recorded table comes
/// back for trace formats.
fn load_tasks(scenario: &mut Scenario, file: &Path, live: Option<&LiveSource>) -> Result<Option<RecordedTable>> {
    let Some(spec) = scenario.workload.tasks.clone() else { return Ok(None) };
    let base = file.parent().unwrap_or(Path::new("."));
    let path = base.join(&spec.path);
    let shown = path.display().to_string();
    // Task files and traces are data, often large: bounded well above any benchmark's.
    let read = |p: &Path| -> Result<String> {
        let bytes =
            read_bounded(p, MAX_TASK_FILE_BYTES).with_context(|| format!("cannot read task file {}", p.display()))?;
        String::from_utf8(bytes).map_err(|e| {
            anyhow::anyhow!("task file {}: not UTF-8 text (byte {})", p.display(), e.utf8_error().valid_up_to())
        })
    };
    let (rows, table): (Vec<TaskRow>, Option<RecordedTable>) = match spec.format {
        TaskFormat::Jsonl => (parse_jsonl(&read(&path)?, &shown)?, None),
        TaskFormat::RouterBench => {
            let table = RecordedTable::routerbench(&read(&path)?, &shown)?;
            (table.rows.clone(), Some(table))
        }
        TaskFormat::RouteLlm => {
            let files: Vec<PathBuf> = if path.is_dir() {
                let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
                    .with_context(|| format!("cannot list {shown}"))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "csv"))
                    .collect();
                files.sort();
                files
            } else {
                vec![path.clone()]
            };
            // A folder's files are topics (MMLU's subjects) of one domain each, or of the one
            // `domain:` names; ids are `FILE:ROW`, unique across the folder.
            let folder = path.is_dir();
            let mut inputs = Vec::with_capacity(files.len());
            for f in &files {
                let stem = f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                let domain = spec.domain.clone().unwrap_or_else(|| stem.clone());
                inputs.push(RouteLlmFile {
                    prefix: if folder { stem.clone() } else { domain.clone() },
                    topic: folder.then_some(stem),
                    domain,
                    file: f.display().to_string(),
                    text: read(f)?,
                });
            }
            let table = RecordedTable::routellm(&inputs)?;
            (table.rows.clone(), Some(table))
        }
    };
    let (rows, table) = match &spec.split {
        None => (rows, table),
        Some(split) => {
            let units: Vec<(&str, &str)> =
                rows.iter().map(|r| (r.topic.as_deref().unwrap_or(&r.domain), r.key.as_str())).collect();
            let keep = split.keep(&units);
            let rows: Vec<TaskRow> = rows.into_iter().zip(&keep).filter(|(_, k)| **k).map(|(r, _)| r).collect();
            if rows.is_empty() {
                bail!("task file {shown}: part {} of its {}-part split holds no tasks", split.part, split.parts);
            }
            (
                rows,
                table.map(|mut t| {
                    t.retain(&keep);
                    t
                }),
            )
        }
    };
    let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
    let embeddings = embed_texts(&spec.embedding, &texts, live, &env)?;
    scenario.workload.attach_tasks(&rows, embeddings, &shown)?;
    Ok(table)
}

/// Read and check the task file without calling anything (`tender validate`): server
/// embeddings are replaced by hashed ones, since only the tasks' placement is checked.
pub fn check_tasks(scenario: &mut Scenario, file: &Path) -> Result<()> {
    if let Some(tasks) = &mut scenario.workload.tasks {
        tasks.embedding = Embedding::Hashed(16);
    } else {
        return Ok(());
    }
    let table = load_tasks(scenario, file, None)?;
    if let Err(errors) = scenario.validate() {
        bail!("{}: invalid scenario with its tasks:\n{errors}", file.display());
    }
    // Recorded agents' columns, as `run` would check them.
    let synthetic = scenario.source()?;
    tender_agents::pool::recorded(&scenario.agents, tender_agents::OutcomeSource::agents(&synthetic), table.as_ref())
        .with_context(|| format!("{}: cannot assemble the pool", file.display()))?;
    Ok(())
}

/// How long the preflight waits for each endpoint.
pub const PREFLIGHT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Read, parse and validate a scenario, with the files its mechanisms name (fitted weights).
pub fn load(file: &Path) -> Result<Scenario> {
    let mut scenario = parse(file)?;
    attach_files(&mut scenario, file.parent().unwrap_or(Path::new(".")), &file.display().to_string())?;
    Ok(scenario)
}

/// Read the files a scenario's mechanisms name (fitted weights), relative to `base`; `shown`
/// names the scenario in errors.
pub fn attach_files(scenario: &mut Scenario, base: &Path, shown: &str) -> Result<()> {
    scenario.attach_files(base, shown, &|p| {
        let bytes = read_bounded(p, tender_engine::scenario::MAX_SCENARIO_BYTES)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{e:#}")))?;
        String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    })?;
    Ok(())
}

/// Read, parse and validate a scenario, leaving the files its mechanisms name unread.
pub fn parse(file: &Path) -> Result<Scenario> {
    let bytes = read_bounded(file, tender_engine::scenario::MAX_SCENARIO_BYTES)?;
    let shown = file.display().to_string();
    let text = tender_engine::scenario::text_of(bytes, &shown)?;
    Ok(Scenario::parse(&text, &shown)?)
}

/// The scenario of a command that runs its market many times (`command`: `shapley`, `game`),
/// with the flags' seed and episodes, and the folder it writes (`OUTPUT/COMMAND` by default);
/// live agents are refused, `doing` saying why (each run would call their servers).
pub fn load_for_many_runs(
    file: &Path,
    runs: &crate::cli::ManyRuns,
    command: &str,
    doing: &str,
) -> Result<(Scenario, PathBuf)> {
    for_many_runs(load(file)?, file, (runs.episodes, runs.seed), runs.out.clone(), command, doing)
}

/// A scenario for a command that runs its market many times: `episodes` and `seed` replace the
/// scenario's, live agents are refused, and the output folder is `out` or `OUTPUT/COMMAND`.
pub fn for_many_runs(
    mut scenario: Scenario,
    file: &Path,
    (episodes, seed): (Option<u32>, Option<u64>),
    out: Option<PathBuf>,
    command: &str,
    doing: &str,
) -> Result<(Scenario, PathBuf)> {
    if let Some(seed) = seed {
        scenario.seed = seed;
    }
    if let Some(episodes) = episodes {
        if episodes < 2 {
            bail!("{}: {episodes} episodes; {command} needs at least 2 for its intervals", file.display());
        }
        scenario.episodes = episodes;
    }
    refuse_live(&scenario, file, doing)?;
    let out = out.unwrap_or_else(|| scenario.output.join(command));
    Ok((scenario, out))
}

/// Refuse a scenario with live agents for a command that runs its market many times
/// (`doing` says how), naming them.
fn refuse_live(scenario: &Scenario, file: &Path, doing: &str) -> Result<()> {
    let live: Vec<&str> =
        scenario.agents.iter().filter(|a| Kind::of(&a.backend) == Kind::Live).map(|a| a.name.as_str()).collect();
    if live.is_empty() {
        return Ok(());
    }
    bail!(
        "{}: {} live ({}): {doing}, calling the servers each time; calibrate stand-ins to them (`tender calibrate \
         --targets-from`) and use those",
        file.display(),
        if live.len() == 1 { "an agent is" } else { "agents are" },
        live.join(", ")
    )
}
