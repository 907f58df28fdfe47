//! Mechanisms written in Python: a class whose instances `choose` the agent for each task (and
//! may `observe` each outcome), run by the engine beside its own mechanisms, on the same draws.
//!
//! The scenario names such a mechanism as `Python(name: ..., handle: N)`: the handle is the
//! factory's place in this process's registry ([`FACTORIES`]), filled by `tender.run` just
//! before the run and emptied after it. Every episode makes a fresh instance, so an episode's
//! choices depend only on its own tasks and outcomes, and results do not depend on how episodes
//! are spread over threads (each call takes the GIL; calls within an episode are in order).
//!
//! A failure in Python (an exception, an unknown agent name) cannot stop an ECS system: it is
//! kept in the factory's slot, the task goes to no agent, and `tender.run` raises it when the
//! batch ends.

use std::sync::{Arc, LazyLock, Mutex};

use bevy_ecs::prelude::*;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use serde::{Deserialize, Serialize};
use tender_agents::validate::Checker;
use tender_engine::ledger::Ledger;
use tender_engine::mechanisms::{Aggregate, Meaning, Mechanism, MechanismKind, PAYMENT, Pool, Quantity, Resolved};
use tender_engine::world::{Decision, EpisodeSeed, OpenTask, Phase, TaskStream};

/// A Python mechanism of one run: its factory, what it reports, and the first error it raised.
struct Factory {
    /// Shared so that an episode can take it without the GIL while the registry is locked.
    factory: Arc<Py<PyAny>>,
    reports: Vec<&'static Quantity>,
    error: Option<String>,
}

/// The factories of the runs in progress, by handle (`None` once a run is done with it).
static FACTORIES: LazyLock<Mutex<Vec<Option<Factory>>>> = LazyLock::new(|| Mutex::new(Vec::new()));

/// What each handle's mechanism declares it reports, kept after its run (the result's tables
/// are laid out from it).
static DECLARED: LazyLock<Mutex<Vec<Vec<Quantity>>>> = LazyLock::new(|| Mutex::new(Vec::new()));

/// A quantity a Python mechanism reports, by name: `payment_usd` is the payment every output
/// and the money accounts read ([`PAYMENT`]), any other name a number averaged over an episode.
/// The engine's quantities are static; names are interned once per process, so repeated runs do
/// not grow memory.
fn quantity(name: &str) -> &'static Quantity {
    if name == PAYMENT.id {
        return &PAYMENT;
    }
    static INTERNED: LazyLock<Mutex<Vec<&'static Quantity>>> = LazyLock::new(|| Mutex::new(Vec::new()));
    let mut interned = INTERNED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(q) = interned.iter().find(|q| q.id == name) {
        return q;
    }
    let id: &'static str = Box::leak(name.to_string().into_boxed_str());
    let q: &'static Quantity = Box::leak(Box::new(Quantity {
        id,
        label: id,
        meaning: Meaning::Number(Aggregate::Mean),
        scale: 1.0,
        decimals: 3,
    }));
    interned.push(q);
    q
}

/// Put a factory in the registry for one run; its handle.
pub fn enter(factory: Py<PyAny>, reports: &[String]) -> u64 {
    let mut all = FACTORIES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let reports: Vec<&'static Quantity> = reports.iter().map(|r| quantity(r)).collect();
    let mut declared = DECLARED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Handles index both registries, which grow together under the factories' lock.
    declared.push(reports.iter().map(|q| **q).collect());
    all.push(Some(Factory { factory: Arc::new(factory), reports, error: None }));
    (all.len() - 1) as u64
}

/// Take a factory out of the registry after its run; the first error it raised, if any.
pub fn leave(handle: u64) -> Option<String> {
    let mut all = FACTORIES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    all.get_mut(handle as usize).and_then(Option::take).and_then(|f| f.error)
}

fn with_factory<T>(handle: u64, f: impl FnOnce(&mut Factory) -> T) -> Option<T> {
    let mut all = FACTORIES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    all.get_mut(handle as usize).and_then(Option::as_mut).map(f)
}

/// Keep the first error of a run.
fn fail(handle: u64, message: String) {
    with_factory(handle, |f| {
        f.error.get_or_insert(message);
    });
}

/// `Python(name: "...", handle: N)`: a mechanism `tender.run` adds for a Python class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PythonParams {
    pub name: String,
    pub handle: u64,
    /// The workload's domain names, by index (what `task["domain"]` says).
    #[serde(default)]
    pub domains: Vec<String>,
}

impl MechanismKind for PythonParams {
    const NAME: &'static str = "Python";

    fn check(&self, c: &mut Checker, _: &Pool<'_>) {
        c.require(!self.name.trim().is_empty(), "name", format!("{:?}", self.name), "must not be empty");
        c.require(
            with_factory(self.handle, |_| ()).is_some(),
            "handle",
            self.handle,
            "must be a Python mechanism of a run in progress (give classes to tender.run's `mechanisms`)",
        );
    }

    fn resolve(&self, _: &Pool<'_>) -> Vec<Resolved> {
        vec![Resolved::new(self.name.clone(), self.clone())]
    }
}

/// An episode's instance of the Python class, and what its calls are given.
#[derive(Resource)]
struct Instance {
    handle: u64,
    object: Option<Py<PyAny>>,
    agents: Py<PyList>,
    names: Vec<String>,
    domains: Vec<String>,
    reports: Vec<&'static Quantity>,
    observes: bool,
}

impl Mechanism for PythonParams {
    fn reports(&self) -> Vec<Quantity> {
        let declared = DECLARED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        declared.get(self.handle as usize).cloned().unwrap_or_default()
    }

    fn install(&self, world: &mut World, schedule: &mut Schedule) {
        let pool: Vec<(String, f64)> =
            world.resource::<Ledger>().agents().iter().map(|a| (a.name.clone(), a.output_price)).collect();
        let factory = with_factory(self.handle, |f| (Arc::clone(&f.factory), f.reports.clone()));
        let Some((factory, reports)) = factory else { return };
        let made = Python::attach(|py| -> PyResult<(Py<PyAny>, Py<PyList>, bool)> {
            let object = factory.call0(py)?;
            let agents = PyList::empty(py);
            for (name, price) in &pool {
                let d = PyDict::new(py);
                d.set_item("name", name)?;
                d.set_item("price", price)?;
                agents.append(d)?;
            }
            let observes = object.bind(py).hasattr("observe")?;
            Ok((object, agents.unbind(), observes))
        });
        let (object, agents, observes) = match made {
            Ok((o, a, observes)) => (Some(o), a, observes),
            Err(e) => {
                fail(self.handle, format!("{}: making an instance: {e}", self.name));
                (None, Python::attach(|py| PyList::empty(py).unbind()), false)
            }
        };
        world.insert_resource(Instance {
            handle: self.handle,
            object,
            agents,
            names: pool.into_iter().map(|(n, _)| n).collect(),
            domains: self.domains.clone(),
            reports,
            observes,
        });
        schedule.add_systems((choose.in_set(Phase::Award), observe.in_set(Phase::MemoryUpdate)));
    }
}

/// What `choose` sees of a task.
fn task_dict<'py>(
    py: Python<'py>,
    task: &tender_agents::Task,
    domains: &[String],
    step: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("id", task.id)?;
    d.set_item("domain", domains.get(usize::from(task.domain)).cloned().unwrap_or_else(|| task.domain.to_string()))?;
    d.set_item("bin", task.bin)?;
    d.set_item("tau", task.tau)?;
    d.set_item("topic", task.topic)?;
    d.set_item("value", task.value)?;
    d.set_item("step", step)?;
    d.set_item("embedding", task.embedding.to_vec())?;
    d.set_item("text", task.content.as_ref().map(|c| c.text.clone()))?;
    Ok(d)
}

/// The agent a `choose` reply names (a name or an index), and its reported quantities.
fn read_choice(reply: &Bound<'_, PyAny>, names: &[String]) -> PyResult<(usize, Vec<(String, f64)>)> {
    let (pick, reported) = if reply.is_instance_of::<PyTuple>() {
        let t = reply.cast::<PyTuple>()?;
        let mut extra: Vec<(String, f64)> = Vec::new();
        if let Ok(d) = t.get_item(1) {
            for (k, v) in d.cast::<PyDict>()?.iter() {
                extra.push((k.extract()?, v.extract()?));
            }
        }
        (t.get_item(0)?, extra)
    } else {
        (reply.clone(), Vec::new())
    };
    let index = if let Ok(name) = pick.extract::<String>() {
        names.iter().position(|n| *n == name).ok_or_else(|| {
            pyo3::exceptions::PyValueError::new_err(format!(
                "choose returned {name:?}, which is not an agent: {names:?}"
            ))
        })?
    } else {
        let i: usize = pick.extract()?;
        if i >= names.len() {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "choose returned agent index {i} of {}",
                names.len()
            )));
        }
        i
    };
    Ok((index, reported))
}

fn choose(
    mut tasks: Query<(&OpenTask, &mut Decision)>,
    stream: Res<TaskStream>,
    seed: Res<EpisodeSeed>,
    instance: Res<Instance>,
) {
    let Some(object) = &instance.object else { return };
    for (open, mut decision) in &mut tasks {
        let task = stream.get(open);
        let step = open.step;
        let outcome = Python::attach(|py| -> PyResult<(usize, Vec<(String, f64)>)> {
            let context = PyDict::new(py);
            context.set_item("episode_seed", seed.0)?;
            let reply = object.call_method1(
                py,
                "choose",
                (task_dict(py, task, &instance.domains, step)?, instance.agents.bind(py), context),
            )?;
            read_choice(reply.bind(py), &instance.names)
        });
        match outcome {
            Ok((winner, reported)) => {
                decision.winner = Some(winner);
                for (name, value) in reported {
                    match instance.reports.iter().find(|q| q.id == name) {
                        Some(q) => decision.report(q, value),
                        None => fail(
                            instance.handle,
                            format!("choose reported {name:?}, which the mechanism does not declare in `reports`"),
                        ),
                    }
                }
            }
            Err(e) => fail(instance.handle, format!("choose: {e}")),
        }
    }
}

/// Each executed task's outcome, to an instance that has `observe`.
fn observe(tasks: Query<(&OpenTask, &Decision)>, stream: Res<TaskStream>, instance: Res<Instance>) {
    let (Some(object), true) = (&instance.object, instance.observes) else { return };
    for (open, decision) in &tasks {
        let (Some(agent), Some(success)) = (decision.winner, decision.success) else { continue };
        let task = stream.get(open);
        let result = Python::attach(|py| -> PyResult<()> {
            let d = PyDict::new(py);
            d.set_item("task", task_dict(py, task, &instance.domains, open.step)?)?;
            d.set_item("agent", &instance.names[agent])?;
            d.set_item("agent_index", agent)?;
            d.set_item("success", success)?;
            d.set_item("cost", decision.tab.execution_cost)?;
            object.call_method1(py, "observe", (d,))?;
            Ok(())
        });
        if let Err(e) = result {
            fail(instance.handle, format!("observe: {e}"));
        }
    }
}
