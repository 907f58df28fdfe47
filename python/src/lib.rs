//! `tender._tender`: the Python binding, a thin layer over the command line's own path
//! ([`tender::api`]): a scenario parsed and validated as `tender validate` does, prepared and run
//! as `tender run` does, and the result tables of [`tender_analysis::columns`] handed over as
//! Arrow tables. The Python package (`python/tender/`) adds progress bars and conveniences.

mod mechanism;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use pyo3::create_exception;
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3_arrow::PyTable;
use tender::api::{self, Finished, RunRequest};
use tender_analysis::columns::{self, Table};
use tender_engine::ScenarioError as EngineScenarioError;
use tender_engine::sweep_spec::Point;

create_exception!(
    _tender,
    ScenarioError,
    PyValueError,
    "A scenario that cannot be read or is invalid. `file`, `line` and `column` locate a syntax error; `errors` lists each invalid field as (field, value, allowed)."
);

/// A scenario error as Python sees it: the message, and where the error is.
fn scenario_error(py: Python<'_>, e: &anyhow::Error) -> PyErr {
    let err = ScenarioError::new_err(format!("{e:#}"));
    let value = err.value(py);
    // Attributes for programs; the message already says it all.
    let _ = match e.downcast_ref::<EngineScenarioError>() {
        Some(EngineScenarioError::Syntax { file, line, column, .. }) => value
            .setattr("file", file.as_str())
            .and_then(|()| value.setattr("line", *line))
            .and_then(|()| value.setattr("column", *column)),
        Some(EngineScenarioError::Invalid { file, errors }) => {
            let list: Vec<(String, String, String)> =
                errors.iter().map(|i| (i.field.clone(), i.value.clone(), i.allowed.clone())).collect();
            value.setattr("file", file.as_str()).and_then(|()| value.setattr("errors", list))
        }
        _ => Ok(()),
    };
    err
}

fn runtime_error(e: &anyhow::Error) -> PyErr {
    PyRuntimeError::new_err(format!("{e:#}"))
}

/// A scenario: parsed, validated and ready to run.
#[pyclass(module = "tender._tender", frozen)]
struct Scenario {
    inner: tender_engine::Scenario,
    /// Where relative paths (task files, fitted weights) start: the scenario file, or a file
    /// name in the working folder for text.
    file: PathBuf,
}

#[pymethods]
impl Scenario {
    /// Check the scenario as `tender validate` does, raising `ScenarioError` on the first
    /// problem.
    fn validate(&self, py: Python<'_>) -> PyResult<()> {
        let shown = self.file.display().to_string();
        self.inner.validate().map_err(|errors| {
            scenario_error(py, &anyhow::Error::new(EngineScenarioError::Invalid { file: shown.clone(), errors }))
        })?;
        self.inner.validate_run().map_err(|errors| {
            scenario_error(py, &anyhow::Error::new(EngineScenarioError::Invalid { file: shown, errors }))
        })
    }

    /// The scenario with values replaced by path, as `tender sweep --set` names them:
    /// `with_(**{"mechanisms.sale.w_c": 0.02, "episodes": 10})`. The result is validated.
    #[pyo3(signature = (**overrides))]
    fn with_(&self, py: Python<'_>, overrides: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut assignments = Vec::new();
        for (k, v) in overrides.into_iter().flat_map(|d| d.iter()) {
            assignments.push((k.extract::<String>()?, to_json(&v)?));
        }
        let point = Point { index: 0, assignments };
        let shown = format!("{} with {}", self.file.display(), point.label());
        let at = self.inner.assigned(&point).map_err(|e| scenario_error(py, &anyhow::anyhow!("{shown}: {e}")))?;
        at.validate().map_err(|errors| {
            scenario_error(py, &anyhow::Error::new(EngineScenarioError::Invalid { file: shown, errors }))
        })?;
        Ok(Self { inner: at, file: self.file.clone() })
    }

    #[getter]
    fn name(&self) -> String {
        self.inner.name.clone()
    }

    /// The folder the scenario's relative paths (task file, fitted weights) start at.
    #[getter]
    fn folder(&self) -> PathBuf {
        self.file.parent().map(std::path::Path::to_path_buf).unwrap_or_default()
    }

    #[getter]
    fn episodes(&self) -> u32 {
        self.inner.episodes
    }

    #[getter]
    fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// The agents' names, in pool order.
    #[getter]
    fn agents(&self) -> Vec<String> {
        self.inner.agents.iter().map(|a| a.name.clone()).collect()
    }

    /// The mechanisms' names as tables show them.
    #[getter]
    fn mechanisms(&self) -> Vec<String> {
        self.inner.resolve_mechanisms().into_iter().map(|m| m.name).collect()
    }

    /// The scenario as RON text, every default written out (what a run's scenario.ron holds).
    fn to_ron(&self) -> PyResult<String> {
        tender_engine::format::to_ron(&self.inner).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    fn __repr__(&self) -> String {
        format!(
            "Scenario(name={:?}, agents={}, mechanisms={}, episodes={}, seed={})",
            self.inner.name,
            self.inner.agents.len(),
            self.inner.mechanisms.len(),
            self.inner.episodes,
            self.inner.seed
        )
    }
}

/// A Python value as the JSON value a scenario path takes.
fn to_json(v: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    use serde_json::Value;
    if v.is_none() {
        return Ok(Value::Null);
    }
    if v.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(v.extract()?));
    }
    if v.is_instance_of::<PyInt>() {
        if let Ok(i) = v.extract::<i64>() {
            return Ok(Value::from(i));
        }
        return Ok(Value::from(v.extract::<u64>()?));
    }
    if v.is_instance_of::<PyFloat>() {
        let x: f64 = v.extract()?;
        return serde_json::Number::from_f64(x)
            .map(Value::Number)
            .ok_or_else(|| PyValueError::new_err(format!("{x} is not a finite number")));
    }
    if v.is_instance_of::<PyString>() {
        return Ok(Value::String(v.extract()?));
    }
    if v.is_instance_of::<PyDict>() {
        let mut map = serde_json::Map::new();
        for item in v.try_iter()? {
            let k = item?;
            map.insert(k.extract::<String>()?, to_json(&v.get_item(&k)?)?);
        }
        return Ok(Value::Object(map));
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        return v.try_iter()?.map(|x| to_json(&x?)).collect::<PyResult<Vec<_>>>().map(Value::Array);
    }
    // numpy scalars and other numbers: as an integer if they are one, else as a float.
    if let Ok(i) = v.extract::<i64>() {
        return Ok(Value::from(i));
    }
    if let Ok(x) = v.extract::<f64>() {
        return serde_json::Number::from_f64(x)
            .map(Value::Number)
            .ok_or_else(|| PyValueError::new_err(format!("{x} is not a finite number")));
    }
    Err(PyValueError::new_err(format!("cannot use a {} as a scenario value", v.get_type().name()?)))
}

/// Read a scenario: `source` is a path (`str` or `os.PathLike`) to a .ron file, or the
/// scenario's text itself, whose relative paths start at `base` (default: the working folder). Raises `ScenarioError` with the file, line and column of a syntax
/// error, or the field and allowed range of an invalid value.
#[pyfunction]
#[pyo3(signature = (source, base = None))]
fn load(py: Python<'_>, source: &Bound<'_, PyAny>, base: Option<PathBuf>) -> PyResult<Scenario> {
    let path: Option<PathBuf> = if source.is_instance_of::<PyString>() {
        let s: String = source.extract()?;
        let p = PathBuf::from(&s);
        (!s.contains('\n') && (p.is_file() || s.ends_with(".ron"))).then_some(p)
    } else {
        Some(source.extract::<PathBuf>()?)
    };
    match path {
        Some(file) => {
            let inner = api::load_file(&file).map_err(|e| scenario_error(py, &e))?;
            Ok(Scenario { inner, file })
        }
        None => {
            let text: String = source.extract()?;
            let name = "<scenario text>";
            let base = base.unwrap_or_default();
            let inner = api::load_text(&text, name, &base).map_err(|e| scenario_error(py, &e))?;
            Ok(Scenario { inner, file: base.join(name) })
        }
    }
}

/// A finished run: its tables, each a `pyarrow.Table`.
#[pyclass(module = "tender._tender", frozen)]
struct RunResult {
    finished: Finished,
}

fn arrow_table<'py>(py: Python<'py>, table: &Table) -> PyResult<Bound<'py, PyAny>> {
    let batch = tender_analysis::arrow::record_batch(table).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    let schema = batch.schema();
    PyTable::try_new(vec![batch], schema)?.into_pyarrow(py)
}

#[pymethods]
impl RunResult {
    /// Every metric of every mechanism, overall, per domain and per complexity bin, in tidy long
    /// form: `mechanism, scope, domain, bin, tau_max, metric, agent, metric_id, mean, ci_low,
    /// ci_high, episodes`.
    #[getter]
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        arrow_table(py, &columns::summary(&self.finished.summary))
    }

    /// Every task decision of every episode and mechanism (tasks.csv's columns, typed).
    #[getter]
    fn tasks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        arrow_table(py, &self.finished.tasks())
    }

    /// One row per episode and mechanism with its metrics: what paired comparisons are made of.
    #[getter]
    fn episodes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        arrow_table(py, &columns::episodes(&self.finished.batch))
    }

    /// The pool: names, prices and references (agents.csv).
    #[getter]
    fn agents<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        arrow_table(py, &columns::agents(&self.finished.batch.agents))
    }

    /// What each mechanism declares of itself: role, curve, whether it learns (mechanisms.csv).
    #[getter]
    fn declarations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        arrow_table(py, &columns::mechanisms(&self.finished.batch))
    }

    /// The routing view (RouteLLM's) when the run has both reference agents alone: each
    /// mechanism's strong-agent share, accuracy, cost per task and PGR; `None` otherwise.
    #[getter]
    fn routing<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.finished.routing.as_ref().map(|r| arrow_table(py, &tender_analysis::routing::table(r))).transpose()
    }

    /// Each routing curve's APGR (area under PGR against the strong share), by curve name.
    #[getter]
    fn apgr(&self) -> Vec<(String, f64)> {
        self.finished.routing.as_ref().map(|r| r.apgr.clone()).unwrap_or_default()
    }

    /// A timed run's per-task latencies; `None` for sequential arrivals.
    #[getter]
    fn latency<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        columns::latency(&self.finished.batch).map(|t| arrow_table(py, &t)).transpose()
    }

    /// The mechanisms' names, in table order.
    #[getter]
    fn mechanisms(&self) -> Vec<String> {
        self.finished.batch.names()
    }

    /// The scenario as it ran.
    #[getter]
    fn scenario(&self) -> Scenario {
        Scenario { inner: self.finished.scenario.clone(), file: PathBuf::from(&self.finished.scenario.name) }
    }

    /// `a − b` of a per-episode metric, paired by episode: a dict with the difference's `mean`,
    /// `ci_low`, `ci_high`, the number of `episodes`, and each mechanism's mean (`a`, `b`).
    #[pyo3(signature = (a, b, metric = "pass_at_1"))]
    fn compare<'py>(&self, py: Python<'py>, a: &str, b: &str, metric: &str) -> PyResult<Bound<'py, PyDict>> {
        let p = tender_analysis::compare::paired(&self.finished.batch, a, b, metric)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let d = PyDict::new(py);
        d.set_item("metric", &p.metric)?;
        d.set_item("a", a)?;
        d.set_item("b", b)?;
        d.set_item("mean", p.difference.mean)?;
        d.set_item("ci_low", p.difference.low)?;
        d.set_item("ci_high", p.difference.high)?;
        d.set_item("episodes", p.difference.n)?;
        d.set_item("a_mean", p.a.mean)?;
        d.set_item("b_mean", p.b.mean)?;
        Ok(d)
    }
}

/// Run a scenario as `tender run` does, without writing a folder. The simulation runs on other
/// threads without the GIL; `progress(done, total)` is called about ten times a second from
/// this thread, and Ctrl-C stops the run (KeyboardInterrupt) after the episodes in flight.
#[pyfunction]
#[pyo3(signature = (scenario, *, episodes = None, seed = None, jobs = None, replay = None, cache = None, progress = None, mechanisms = Vec::new()))]
#[allow(clippy::too_many_arguments)]
fn run(
    py: Python<'_>,
    scenario: &Scenario,
    episodes: Option<u32>,
    seed: Option<u64>,
    jobs: Option<usize>,
    replay: Option<PathBuf>,
    cache: Option<PathBuf>,
    progress: Option<Py<PyAny>>,
    mechanisms: Vec<(String, Py<PyAny>, Vec<String>)>,
) -> PyResult<RunResult> {
    let mut inner = scenario.inner.clone();
    // Python mechanisms join the scenario's for this run only (`mechanism.rs`).
    let handles = Handles(
        mechanisms.into_iter().map(|(name, factory, reports)| (name, mechanism::enter(factory, &reports))).collect(),
    );
    let domains: Vec<String> = inner.workload.domains.iter().map(|d| d.name.clone()).collect();
    for (name, handle) in &handles.0 {
        inner.mechanisms.push(tender_engine::MechanismSpec::new(mechanism::PythonParams {
            name: name.clone(),
            handle: *handle,
            domains: domains.clone(),
        }));
    }
    if !handles.0.is_empty() {
        inner.validate().map_err(|errors| {
            scenario_error(
                py,
                &anyhow::Error::new(EngineScenarioError::Invalid { file: scenario.file.display().to_string(), errors }),
            )
        })?;
    }
    if let Some(e) = episodes {
        if e == 0 {
            return Err(PyValueError::new_err("episodes must be at least 1"));
        }
        inner.episodes = e;
    }
    if let Some(s) = seed {
        inner.seed = s;
    }
    if jobs == Some(0) {
        return Err(PyValueError::new_err("jobs must be at least 1"));
    }
    let total = api::runs_of(&inner);
    let cancel = Arc::new(AtomicBool::new(false));
    let request = RunRequest { replay, cache, jobs, cancel: Some(Arc::clone(&cancel)) };
    let done = AtomicU64::new(0);
    let file = scenario.file.clone();
    let report = |n: u64| -> PyResult<()> {
        match &progress {
            Some(f) => f.call1(py, (n, total)).map(drop),
            None => Ok(()),
        }
    };
    let out = watch(py, &cancel, &report, &done, || {
        api::run(inner, &file, &request, &|| {
            done.fetch_add(1, Ordering::Relaxed);
        })
    });
    let failed = handles.finish();
    let finished = out?.map_err(|e| {
        if cancel.load(Ordering::Relaxed) {
            PyKeyboardInterrupt::new_err("the run was cancelled")
        } else {
            runtime_error(&e)
        }
    })?;
    if let Some((name, error)) = failed {
        return Err(PyRuntimeError::new_err(format!("Python mechanism {name:?} failed: {error}")));
    }
    report(total)?;
    Ok(RunResult { finished })
}

/// A finished sweep: its folder and what was computed now.
#[pyclass(module = "tender._tender", frozen, get_all)]
struct SweepOutcome {
    /// The results folder (rows.csv, points.csv, sweep.json).
    out: PathBuf,
    points: usize,
    replications: u32,
    mechanisms: Vec<String>,
    /// Units (point × replication) of the sweep, and how many were computed now (the rest were
    /// in the folder already).
    units: usize,
    computed: usize,
    seconds: f64,
}

/// One swept parameter's values: a list, or the CLI's text (`0..2:0.25`, `4,8,16`, `0.1~0.9`).
fn param(py: Python<'_>, path: &str, values: &Bound<'_, PyAny>) -> PyResult<api::ParamSpec> {
    if values.is_instance_of::<PyString>() {
        let text: String = values.extract()?;
        return api::parse_set(&format!("{path}={text}")).map_err(|e| scenario_error(py, &e.into()));
    }
    let list = values.try_iter()?.map(|v| to_json(&v?)).collect::<PyResult<Vec<_>>>()?;
    Ok(api::ParamSpec { path: path.to_string(), values: api::Values::List(list) })
}

/// Sweep parameters of a scenario as `tender sweep` does, into a folder that a rerun of the same
/// sweep resumes from. `set` maps paths to values (lists, or the CLI's text); `progress(done,
/// total)` counts units (point × replication); Ctrl-C stops after the units in flight, keeping
/// what is done.
#[pyfunction]
#[pyo3(signature = (scenario, set, *, design = "grid", replications = None, independent_draws = false, out = None, jobs = None, shard = None, plots = false, parquet = false, progress = None))]
#[allow(clippy::too_many_arguments)]
fn sweep(
    py: Python<'_>,
    scenario: &Scenario,
    set: &Bound<'_, PyDict>,
    design: &str,
    replications: Option<u32>,
    independent_draws: bool,
    out: Option<PathBuf>,
    jobs: Option<usize>,
    shard: Option<(usize, usize)>,
    plots: bool,
    parquet: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<SweepOutcome> {
    let mut params = Vec::new();
    for (k, v) in set.iter() {
        params.push(param(py, &k.extract::<String>()?, &v)?);
    }
    if params.is_empty() {
        return Err(PyValueError::new_err("a sweep needs at least one parameter in `set`"));
    }
    if replications == Some(0) || jobs == Some(0) {
        return Err(PyValueError::new_err("replications and jobs must be at least 1"));
    }
    let shard = match shard {
        Some((k, n)) if k >= 1 && k <= n => Some(api::Shard { k, n }),
        Some((k, n)) => {
            return Err(PyValueError::new_err(format!("shard ({k}, {n}): expected (K, N) with 1 <= K <= N")));
        }
        None => None,
    };
    let design = api::parse_design(design).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let draws = if independent_draws { api::Draws::Independent } else { api::Draws::Common };
    let spec = api::SweepSpec { params, design, replications, draws };
    let total = api::units_of(&scenario.inner, &spec).map_err(|e| scenario_error(py, &e))?;
    let cancel = Arc::new(AtomicBool::new(false));
    let request = api::SweepRequest {
        scenario: scenario.inner.clone(),
        file: scenario.file.clone(),
        spec,
        out,
        jobs,
        shard,
        plots,
        parquet,
        cancel: Some(Arc::clone(&cancel)),
    };
    let done = AtomicU64::new(0);
    let report = |n: u64| -> PyResult<()> {
        match &progress {
            Some(f) => f.call1(py, (n, total)).map(drop),
            None => Ok(()),
        }
    };
    let outcome = watch(py, &cancel, &report, &done, || {
        api::run_sweep(request, &|n| {
            done.fetch_add(n, Ordering::Relaxed);
        })
    })?;
    let d = outcome.map_err(|e| {
        if cancel.load(Ordering::Relaxed) { PyKeyboardInterrupt::new_err(format!("{e:#}")) } else { runtime_error(&e) }
    })?;
    report(total)?;
    Ok(SweepOutcome {
        out: d.out,
        points: d.manifest.points.len(),
        replications: d.manifest.replications,
        mechanisms: d.manifest.mechanisms,
        units: d.total,
        computed: d.computed,
        seconds: d.seconds,
    })
}

/// Merge shard folders of one sweep into `out`, as `tender merge` does; `partial` merges what
/// there is when units are missing.
#[pyfunction]
#[pyo3(signature = (out, shards, partial = false))]
fn merge(py: Python<'_>, out: PathBuf, shards: Vec<PathBuf>, partial: bool) -> PyResult<()> {
    py.detach(|| api::merge(&out, &shards, partial)).map_err(|e| runtime_error(&e))
}

/// A finished game or Shapley computation: its folder and the report the command prints.
#[pyclass(module = "tender._tender", frozen, get_all)]
struct ManyOutcome {
    /// The results folder (the game's payoffs.csv and profiles.csv, or shapley.csv and
    /// coalitions.csv, with the plot and the scenario as run).
    out: PathBuf,
    report: String,
}

/// The count of runs a notebook bar shows, and Ctrl-C's request to stop between markets.
#[derive(Default)]
struct Counter {
    total: AtomicU64,
    done: AtomicU64,
    cancel: Arc<AtomicBool>,
}

impl api::Progress for Counter {
    fn start(&self, total: u64, _what: &str) {
        self.total.store(total, Ordering::Relaxed);
    }
    fn tick(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// Run `work` (a game or Shapley values) as `watch` does, reporting `progress(done, total)`.
fn many(
    py: Python<'_>,
    progress: Option<Py<PyAny>>,
    work: impl FnOnce(&Counter) -> anyhow::Result<(PathBuf, String)> + Send,
) -> PyResult<ManyOutcome> {
    let counter = Counter::default();
    let report = |n: u64| -> PyResult<()> {
        match &progress {
            Some(f) => f.call1(py, (n, counter.total.load(Ordering::Relaxed))).map(drop),
            None => Ok(()),
        }
    };
    let out = watch(py, &counter.cancel, &report, &counter.done, || work(&counter))?;
    let (out, text) = out.map_err(|e| {
        if counter.cancel.load(Ordering::Relaxed) {
            PyKeyboardInterrupt::new_err(format!("{e:#}"))
        } else {
            runtime_error(&e)
        }
    })?;
    report(counter.total.load(Ordering::Relaxed))?;
    Ok(ManyOutcome { out, report: text })
}

fn many_request(
    scenario: &Scenario,
    episodes: Option<u32>,
    seed: Option<u64>,
    jobs: Option<usize>,
    out: Option<PathBuf>,
) -> PyResult<api::ManyRequest> {
    if jobs == Some(0) {
        return Err(PyValueError::new_err("jobs must be at least 1"));
    }
    Ok(api::ManyRequest { scenario: scenario.inner.clone(), file: scenario.file.clone(), episodes, seed, jobs, out })
}

/// Play the scenario's `game:` block as `tender game` does, into a folder (default
/// OUTPUT/game); `progress(done, total)` counts runs (profile × episode × mechanism).
#[pyfunction]
#[pyo3(signature = (scenario, *, episodes = None, seed = None, jobs = None, out = None, progress = None))]
fn game(
    py: Python<'_>,
    scenario: &Scenario,
    episodes: Option<u32>,
    seed: Option<u64>,
    jobs: Option<usize>,
    out: Option<PathBuf>,
    progress: Option<Py<PyAny>>,
) -> PyResult<ManyOutcome> {
    let request = many_request(scenario, episodes, seed, jobs, out)?;
    many(py, progress, |counter| api::game(request, counter))
}

/// Each agent's Shapley value as `tender shapley` does, into a folder (default
/// OUTPUT/shapley); `progress(done, total)` counts runs (coalition × episode × market).
#[pyfunction]
#[pyo3(signature = (scenario, *, metric = "welfare", mechanisms = Vec::new(), permutations = None, episodes = None, seed = None, jobs = None, out = None, progress = None))]
#[allow(clippy::too_many_arguments)]
fn shapley(
    py: Python<'_>,
    scenario: &Scenario,
    metric: &str,
    mechanisms: Vec<String>,
    permutations: Option<u32>,
    episodes: Option<u32>,
    seed: Option<u64>,
    jobs: Option<usize>,
    out: Option<PathBuf>,
    progress: Option<Py<PyAny>>,
) -> PyResult<ManyOutcome> {
    let request = many_request(scenario, episodes, seed, jobs, out)?;
    many(py, progress, |counter| api::shapley(request, metric, &mechanisms, permutations, counter))
}

/// Run `work` on another thread without the GIL while this thread reports progress (`done`)
/// about ten times a second and watches for Ctrl-C, which sets `cancel`; the work's result, or
/// the interrupt once the work has stopped.
fn watch<T: Send>(
    py: Python<'_>,
    cancel: &AtomicBool,
    report: &dyn Fn(u64) -> PyResult<()>,
    done: &AtomicU64,
    work: impl FnOnce() -> T + Send,
) -> PyResult<T> {
    let finished = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let out = work();
            finished.store(true, Ordering::Release);
            out
        });
        let mut interrupted: Option<PyErr> = None;
        while !finished.load(Ordering::Acquire) {
            py.detach(|| std::thread::sleep(Duration::from_millis(100)));
            if let Err(e) = report(done.load(Ordering::Relaxed)).and_then(|()| py.check_signals()) {
                // Stop the work, wait for what is in flight, then raise.
                cancel.store(true, Ordering::Relaxed);
                interrupted = Some(e);
                break;
            }
        }
        let out = py.detach(|| worker.join());
        if let Some(e) = interrupted {
            return Err(e);
        }
        out.map_err(|_| PyRuntimeError::new_err("the run panicked"))
    })
}

/// The Python mechanisms of one run, taken out of the registry when the run ends, however it ends.
struct Handles(Vec<(String, u64)>);

impl Handles {
    /// Leave the registry; the first mechanism's error, if any raised one.
    fn finish(&self) -> Option<(String, String)> {
        self.0.iter().filter_map(|(name, h)| mechanism::leave(*h).map(|e| (name.clone(), e))).next()
    }
}

impl Drop for Handles {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// The Rust side of the `tender` package.
#[pymodule]
fn _tender(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Scenarios of this process may name Python mechanisms (a second import finds it there).
    let _ = tender_engine::mechanisms::register(tender_engine::mechanisms::entry::<mechanism::PythonParams>());
    m.add("ScenarioError", m.py().get_type::<ScenarioError>())?;
    m.add_class::<Scenario>()?;
    m.add_class::<RunResult>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(sweep, m)?)?;
    m.add_function(wrap_pyfunction!(merge, m)?)?;
    m.add_class::<SweepOutcome>()?;
    m.add_function(wrap_pyfunction!(game, m)?)?;
    m.add_function(wrap_pyfunction!(shapley, m)?)?;
    m.add_class::<ManyOutcome>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
