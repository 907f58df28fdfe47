//! The sweep store: rows stream to an append-only journal as units finish, per-point aggregates
//! follow as points complete, and an interrupted sweep resumes from what is on disk.
//!
//! Files in the output folder:
//! - `sweep.json` — the sweep's definition (points, mechanisms, metrics, seeds); a resumed or
//!   merged sweep must match it.
//! - `rows.jsonl` — the journal: one JSON line per (point, replication, mechanism), each unit's
//!   lines written in one append. Only the last unit can be torn by a crash; it is cut away and
//!   recomputed on resume.
//! - `points.jsonl` — per-point aggregates, appended when a point's last replication lands.
//! - `rows.csv`, `points.csv` — canonical tables (sorted), written atomically at the end; the same
//!   bytes whatever the thread count, interruptions or sharding.
//!
//! Memory stays flat: rows are not kept once written, except those of points still in flight;
//! the final `rows.csv` is written from a 20-byte-per-unit index by seeking into the journal.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tender_agents::live::{complete_lines, reopen_at};
use tender_engine::sweep::Point;

use crate::output::write_atomic;
use crate::stats::Estimate;

/// What a sweep is: resumed and merged runs must match it exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub scenario: String,
    pub seed: u64,
    /// `Common` or `Independent` random draws across points (sweeps before this field existed
    /// drew independently).
    #[serde(default = "independent")]
    pub draws: String,
    pub replications: u32,
    pub mechanisms: Vec<String>,
    pub metrics: Vec<String>,
    /// The metrics that are mechanisms' yes/no quantities ([`tender_engine::mechanisms::Meaning::Flag`]):
    /// their point intervals are a proportion's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    pub points: Vec<Point>,
}

fn independent() -> String {
    "Independent".into()
}

/// One row: a mechanism's metrics on one replication of one point. NaN metrics are `None`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub point: usize,
    pub replication: u32,
    pub seed: u64,
    pub mechanism: String,
    pub metrics: Vec<Option<f64>>,
}

/// A point's aggregates: for each mechanism and metric, the mean over replications with its 95%
/// interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointSummary {
    pub point: usize,
    /// `[mechanism][metric]`.
    pub estimates: Vec<Vec<Aggregate>>,
}

/// A mean over replications with its 95% interval; NaN as `None`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub mean: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub n: usize,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: holds a different sweep (its sweep.json differs); use another output folder or remove it")]
    Mismatch { path: PathBuf },
    #[error("{path}: line {line}: {message}")]
    Corrupt { path: PathBuf, line: usize, message: String },
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
    #[error("the shards do not form one sweep: {0}")]
    Shards(String),
    #[error(
        "{missing} of {total} units (point x replication) are in none of the shards: {detail}; merge every shard, or give --partial to merge what there is"
    )]
    Incomplete { missing: usize, total: usize, detail: String },
}

/// Which slice of a sweep's points a folder holds: `k` of `n` (1-based), written as `shard.json`
/// by `tender sweep --shard K/N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl Shard {
    /// Record the slice in `dir`.
    pub fn write(self, dir: &Path) -> Result<(), StoreError> {
        let path = dir.join("shard.json");
        let text = serde_json::to_string(&self).map_err(|e| io_err(&path)(e.into()))?;
        Ok(write_atomic(&path, |w| w.write_all(text.as_bytes()))?)
    }

    /// The slice `dir` holds; a folder without `shard.json` holds the whole sweep.
    pub fn read(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join("shard.json");
        match std::fs::read_to_string(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self { k: 1, n: 1 }),
            Err(e) => Err(io_err(&path)(e)),
            Ok(text) => serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                path: path.clone(),
                line: e.line(),
                message: e.to_string(),
            }),
        }
    }
}

/// The missing units, grouped by point: `point 3 (replications 0-4), point 7 (replication 2)`.
fn describe_missing(missing: &[(usize, u32)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < missing.len() && parts.len() < 8 {
        let p = missing[i].0;
        let reps: Vec<u32> = missing[i..].iter().take_while(|u| u.0 == p).map(|u| u.1).collect();
        i += reps.len();
        let (first, last) = (reps[0], reps[reps.len() - 1]);
        let contiguous = (last - first) as usize + 1 == reps.len();
        parts.push(match (reps.len(), contiguous) {
            (1, _) => format!("point {p} (replication {first})"),
            (_, true) => format!("point {p} (replications {first}-{last})"),
            _ => format!("point {p} ({} replications)", reps.len()),
        });
    }
    if i < missing.len() {
        parts.push("...".into());
    }
    parts.join(", ")
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

/// Where a unit's lines sit in the journal.
#[derive(Clone, Copy, Debug)]
struct UnitSpan {
    point: u32,
    replication: u32,
    offset: u64,
    len: u32,
}

struct Journal {
    rows: File,
    points: File,
    rows_end: u64,
    index: Vec<UnitSpan>,
    /// Rows of points still missing replications, by point then replication.
    pending: BTreeMap<usize, BTreeMap<u32, Vec<Row>>>,
    aggregated: BTreeSet<usize>,
}

/// An open sweep store.
pub struct SweepStore {
    dir: PathBuf,
    manifest: Manifest,
    journal: Mutex<Journal>,
}

impl SweepStore {
    /// Open `dir` for `manifest`: a fresh store, or the store of an interrupted run of the same
    /// sweep. Returns the store and the units already done.
    pub fn open(dir: &Path, manifest: &Manifest) -> Result<(Self, BTreeSet<(usize, u32)>), StoreError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let manifest_path = dir.join("sweep.json");
        match std::fs::read_to_string(&manifest_path) {
            Ok(text) => {
                let existing: Manifest = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                    path: manifest_path.clone(),
                    line: e.line(),
                    message: e.to_string(),
                })?;
                if &existing != manifest {
                    return Err(StoreError::Mismatch { path: dir.to_path_buf() });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let text = serde_json::to_string_pretty(manifest).map_err(|e| io_err(&manifest_path)(e.into()))?;
                write_atomic(&manifest_path, |w| w.write_all(text.as_bytes()))?;
            }
            Err(e) => return Err(io_err(&manifest_path)(e)),
        }
        let rows_path = dir.join("rows.jsonl");
        let points_path = dir.join("points.jsonl");
        let (index, rows_end) = scan_rows(&rows_path, manifest)?;
        let (aggregated, points_end) = scan_points(&points_path)?;
        // Rows of points not aggregated yet go back in flight: those of the points that were in
        // flight at the interruption, and of complete points whose aggregate was not written.
        let mut pending_rows = Vec::new();
        if index.iter().any(|u| !aggregated.contains(&(u.point as usize))) {
            let mut file = File::open(&rows_path).map_err(io_err(&rows_path))?;
            for span in index.iter().filter(|u| !aggregated.contains(&(u.point as usize))) {
                pending_rows.extend(read_unit(&mut file, &rows_path, span)?);
            }
        }
        // Cut a torn tail left by a crash.
        let open = |path: &Path, end: u64| reopen_at(path, end).map_err(io_err(path));
        let rows = open(&rows_path, rows_end)?;
        let points = open(&points_path, points_end)?;
        let done: BTreeSet<(usize, u32)> = index.iter().map(|u| (u.point as usize, u.replication)).collect();
        let store = Self {
            dir: dir.to_path_buf(),
            manifest: manifest.clone(),
            journal: Mutex::new(Journal { rows, points, rows_end, index, pending: BTreeMap::new(), aggregated }),
        };
        // Rows of points not yet aggregated go back in flight; complete ones are aggregated now.
        for row in pending_rows {
            let mut j = store.lock();
            j.pending.entry(row.point).or_default().entry(row.replication).or_default().push(row);
        }
        let waiting: Vec<usize> = store.lock().pending.keys().copied().collect();
        for point in waiting {
            store.maybe_aggregate(point)?;
        }
        Ok((store, done))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Journal> {
        // A panic while holding the lock leaves a journal that is still only ever appended to.
        self.journal.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Append one unit's rows (one per mechanism, in mechanism order) in a single write.
    pub fn record(&self, rows: Vec<Row>) -> Result<(), StoreError> {
        let Some(first) = rows.first() else { return Ok(()) };
        let (point, replication) = (first.point, first.replication);
        let mut block = Vec::new();
        for row in &rows {
            serde_json::to_writer(&mut block, row).map_err(|e| io_err(&self.dir)(e.into()))?;
            block.push(b'\n');
        }
        {
            let mut j = self.lock();
            let path = self.dir.join("rows.jsonl");
            let offset = j.rows_end;
            j.rows.seek(SeekFrom::Start(offset)).map_err(io_err(&path))?;
            j.rows.write_all(&block).map_err(io_err(&path))?;
            j.rows.flush().map_err(io_err(&path))?;
            j.rows_end += block.len() as u64;
            j.index.push(UnitSpan { point: point as u32, replication, offset, len: block.len() as u32 });
            j.pending.entry(point).or_default().insert(replication, rows);
        }
        self.maybe_aggregate(point)
    }

    /// When every replication of `point` is in, aggregate in replication order and append.
    fn maybe_aggregate(&self, point: usize) -> Result<(), StoreError> {
        let mut j = self.lock();
        let complete = j.pending.get(&point).is_some_and(|r| r.len() == self.manifest.replications as usize);
        if !complete || j.aggregated.contains(&point) {
            return Ok(());
        }
        let reps = j.pending.remove(&point).unwrap_or_default();
        let summary = aggregate(point, &reps, &self.manifest);
        let mut line = serde_json::to_vec(&summary).map_err(|e| io_err(&self.dir)(e.into()))?;
        line.push(b'\n');
        let path = self.dir.join("points.jsonl");
        j.points.seek(SeekFrom::End(0)).map_err(io_err(&path))?;
        j.points.write_all(&line).map_err(io_err(&path))?;
        j.points.flush().map_err(io_err(&path))?;
        j.aggregated.insert(point);
        Ok(())
    }

    /// Write the canonical `rows.csv` and `points.csv`.
    pub fn finalize(&self) -> Result<Vec<PointSummary>, StoreError> {
        let j = self.lock();
        let rows_path = self.dir.join("rows.jsonl");
        j.rows.sync_all().map_err(io_err(&rows_path))?;
        j.points.sync_all().map_err(io_err(&self.dir.join("points.jsonl")))?;
        let mut index = j.index.clone();
        index.sort_by_key(|u| (u.point, u.replication));
        let m = &self.manifest;
        let params: Vec<String> =
            m.points.first().map(|p| p.assignments.iter().map(|(k, _)| k.clone()).collect()).unwrap_or_default();
        let mut reader = File::open(&rows_path).map_err(io_err(&rows_path))?;
        write_atomic(&self.dir.join("rows.csv"), |w| {
            let mut header = vec!["point".to_string(), "replication".into(), "episode_seed".into()];
            header.extend(params.iter().cloned());
            header.push("mechanism".into());
            header.extend(m.metrics.iter().cloned());
            writeln!(w, "{}", csv_line(&header))?;
            for span in &index {
                for row in read_unit(&mut reader, &rows_path, span).map_err(io::Error::other)? {
                    let mut fields =
                        vec![row.point.to_string(), row.replication.to_string(), crate::output::seed_text(row.seed)];
                    fields.extend(param_values(&m.points[row.point]));
                    fields.push(row.mechanism.clone());
                    fields.extend(row.metrics.iter().map(|v| fmt_opt(*v)));
                    writeln!(w, "{}", csv_line(&fields))?;
                }
            }
            Ok(())
        })?;
        drop(j);
        let mut summaries = read_points(&self.dir.join("points.jsonl"))?;
        summaries.sort_by_key(|s| s.point);
        write_points_csv(&self.dir.join("points.csv"), m, &summaries)?;
        Ok(summaries)
    }
}

impl SweepStore {
    /// `rows.csv` as a typed table (`--format parquet` writes it as rows.parquet): one row per
    /// point, replication and mechanism, in the CSV's order.
    pub fn rows_table(&self) -> Result<crate::columns::Table, StoreError> {
        let j = self.lock();
        let rows_path = self.dir.join("rows.jsonl");
        let mut index = j.index.clone();
        index.sort_by_key(|u| (u.point, u.replication));
        let mut reader = File::open(&rows_path).map_err(io_err(&rows_path))?;
        let mut rows = Vec::new();
        for span in &index {
            rows.extend(read_unit(&mut reader, &rows_path, span)?);
        }
        drop(j);
        let m = &self.manifest;
        let mut t = crate::columns::Table::default();
        t.push("point", crate::columns::Values::Int(rows.iter().map(|r| Some(r.point as i64)).collect()));
        t.push(
            "replication",
            crate::columns::Values::Int(rows.iter().map(|r| Some(i64::from(r.replication))).collect()),
        );
        t.push("episode_seed", crate::columns::Values::Seed(rows.iter().map(|r| r.seed).collect()));
        push_params(&mut t, m, rows.iter().map(|r| r.point));
        t.push(
            "mechanism",
            crate::columns::Values::Category {
                levels: m.mechanisms.clone(),
                codes: rows
                    .iter()
                    .map(|r| m.mechanisms.iter().position(|n| *n == r.mechanism).map(|i| i as u32))
                    .collect(),
            },
        );
        for (k, metric) in m.metrics.iter().enumerate() {
            t.push(
                metric.clone(),
                crate::columns::Values::Float(rows.iter().map(|r| r.metrics.get(k).copied().flatten()).collect()),
            );
        }
        Ok(t)
    }

    /// `points.csv` as a typed table: each point's mean and 95% interval per mechanism and metric.
    #[must_use]
    pub fn points_table(&self, summaries: &[PointSummary]) -> crate::columns::Table {
        let m = &self.manifest;
        let cells: Vec<(usize, usize, usize)> = summaries
            .iter()
            .enumerate()
            .flat_map(|(s, _)| {
                (0..m.mechanisms.len()).flat_map(move |mi| (0..m.metrics.len()).map(move |ki| (s, mi, ki)))
            })
            .collect();
        let agg = |f: &dyn Fn(&Aggregate) -> Option<f64>| {
            crate::columns::Values::Float(cells.iter().map(|&(s, mi, ki)| f(&summaries[s].estimates[mi][ki])).collect())
        };
        let mut t = crate::columns::Table::default();
        t.push(
            "point",
            crate::columns::Values::Int(cells.iter().map(|&(s, ..)| Some(summaries[s].point as i64)).collect()),
        );
        push_params(&mut t, m, cells.iter().map(|&(s, ..)| summaries[s].point));
        t.push(
            "mechanism",
            crate::columns::Values::Category {
                levels: m.mechanisms.clone(),
                codes: cells.iter().map(|&(_, mi, _)| Some(mi as u32)).collect(),
            },
        );
        t.push(
            "metric",
            crate::columns::Values::Category {
                levels: m.metrics.clone(),
                codes: cells.iter().map(|&(.., ki)| Some(ki as u32)).collect(),
            },
        );
        t.push("mean", agg(&|a| a.mean));
        t.push("ci_low", agg(&|a| a.low));
        t.push("ci_high", agg(&|a| a.high));
        t.push(
            "replications",
            crate::columns::Values::Int(
                cells.iter().map(|&(s, mi, ki)| Some(summaries[s].estimates[mi][ki].n as i64)).collect(),
            ),
        );
        t
    }
}

/// The swept values of each row's point, one column per parameter: numbers as floats, booleans as
/// booleans, anything else as its text.
fn push_params(t: &mut crate::columns::Table, m: &Manifest, points: impl Iterator<Item = usize> + Clone) {
    use crate::columns::Values;
    let names: Vec<String> =
        m.points.first().map(|p| p.assignments.iter().map(|(k, _)| k.clone()).collect()).unwrap_or_default();
    for (i, name) in names.into_iter().enumerate() {
        let value = |p: usize| m.points[p].assignments.get(i).map(|(_, v)| v.clone()).unwrap_or_default();
        let values = if points.clone().all(|p| value(p).is_number()) {
            Values::Float(points.clone().map(|p| value(p).as_f64()).collect())
        } else if points.clone().all(|p| value(p).is_boolean()) {
            Values::Bool(points.clone().map(|p| value(p).as_bool()).collect())
        } else {
            Values::Text(points.clone().map(|p| Some(value(p).to_string())).collect())
        };
        t.push(name, values);
    }
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "NaN".to_string(), |x| x.to_string())
}

fn param_values(point: &Point) -> Vec<String> {
    point.assignments.iter().map(|(_, v)| v.to_string()).collect()
}

fn csv_line(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| if f.contains([',', '"', '\n']) { format!("\"{}\"", f.replace('"', "\"\"")) } else { f.clone() })
        .collect::<Vec<_>>()
        .join(",")
}

fn write_points_csv(path: &Path, m: &Manifest, summaries: &[PointSummary]) -> Result<(), StoreError> {
    let params: Vec<String> =
        m.points.first().map(|p| p.assignments.iter().map(|(k, _)| k.clone()).collect()).unwrap_or_default();
    write_atomic(path, |w| {
        let mut header = vec!["point".to_string()];
        header.extend(params.iter().cloned());
        header.extend(["mechanism", "metric", "mean", "ci_low", "ci_high", "replications"].map(String::from));
        writeln!(w, "{}", csv_line(&header))?;
        for s in summaries {
            for (mi, mech) in m.mechanisms.iter().enumerate() {
                for (ki, metric) in m.metrics.iter().enumerate() {
                    let a = s.estimates[mi][ki];
                    let mut fields = vec![s.point.to_string()];
                    fields.extend(param_values(&m.points[s.point]));
                    fields.extend([
                        mech.clone(),
                        metric.clone(),
                        fmt_opt(a.mean),
                        fmt_opt(a.low),
                        fmt_opt(a.high),
                        a.n.to_string(),
                    ]);
                    writeln!(w, "{}", csv_line(&fields))?;
                }
            }
        }
        Ok(())
    })?;
    Ok(())
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Aggregate one point's replications, in replication order.
fn aggregate(point: usize, reps: &BTreeMap<u32, Vec<Row>>, m: &Manifest) -> PointSummary {
    let estimates = (0..m.mechanisms.len())
        .map(|mi| {
            (0..m.metrics.len())
                .map(|ki| {
                    let values =
                        reps.values().filter_map(|rows| rows.get(mi)).map(|r| r.metrics[ki].unwrap_or(f64::NAN));
                    let id = &m.metrics[ki];
                    let e = if crate::metrics::row_metric_is_proportion(id) || m.flags.contains(id) {
                        Estimate::of_proportion(values)
                    } else {
                        Estimate::of(values)
                    };
                    Aggregate { mean: finite(e.mean), low: finite(e.low), high: finite(e.high), n: e.n }
                })
                .collect()
        })
        .collect();
    PointSummary { point, estimates }
}

/// One unit's rows, read back from the journal.
fn read_unit(file: &mut File, path: &Path, span: &UnitSpan) -> Result<Vec<Row>, StoreError> {
    let mut buf = vec![0u8; span.len as usize];
    file.seek(SeekFrom::Start(span.offset)).map_err(io_err(path))?;
    file.read_exact(&mut buf).map_err(io_err(path))?;
    buf.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice(l).map_err(|e| StoreError::Corrupt {
                path: path.to_path_buf(),
                line: 0,
                message: e.to_string(),
            })
        })
        .collect()
}

/// Scan the row journal: the index of complete units, and where its valid prefix ends.
fn scan_rows(path: &Path, m: &Manifest) -> Result<(Vec<UnitSpan>, u64), StoreError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(io_err(path)(e)),
    };
    let per_unit = m.mechanisms.len();
    let (mut index, mut valid_end) = (Vec::new(), 0u64);
    let mut block: Vec<Row> = Vec::new();
    let mut block_start = 0u64;
    for line in complete_lines(BufReader::new(file)) {
        let (at, line) = line.map_err(io_err(path))?;
        let Ok(row) = serde_json::from_slice::<Row>(&line) else { break };
        if block.is_empty() {
            block_start = at;
        }
        let offset = at + line.len() as u64;
        block.push(row);
        if block.len() == per_unit {
            let (p, r) = (block[0].point, block[0].replication);
            if block.iter().any(|x| x.point != p || x.replication != r) || p >= m.points.len() {
                return Err(StoreError::Corrupt {
                    path: path.to_path_buf(),
                    line: index.len() * per_unit + 1,
                    message: "a unit's rows are interleaved with another's".into(),
                });
            }
            index.push(UnitSpan {
                point: p as u32,
                replication: r,
                offset: block_start,
                len: (offset - block_start) as u32,
            });
            valid_end = offset;
            block.clear();
        }
    }
    Ok((index, valid_end))
}

/// The points already aggregated, and where the valid prefix of `points.jsonl` ends.
fn scan_points(path: &Path) -> Result<(BTreeSet<usize>, u64), StoreError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((BTreeSet::new(), 0)),
        Err(e) => return Err(io_err(path)(e)),
    };
    let (mut done, mut end) = (BTreeSet::new(), 0u64);
    for line in complete_lines(BufReader::new(file)) {
        let (at, line) = line.map_err(io_err(path))?;
        let Ok(s) = serde_json::from_slice::<PointSummary>(&line) else { break };
        done.insert(s.point);
        end = at + line.len() as u64;
    }
    Ok((done, end))
}

fn read_points(path: &Path) -> Result<Vec<PointSummary>, StoreError> {
    let (_, end) = scan_points(path)?;
    let mut text = String::new();
    File::open(path).map_err(io_err(path))?.take(end).read_to_string(&mut text).map_err(io_err(path))?;
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| StoreError::Corrupt {
                path: path.to_path_buf(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// Merge shard folders into `out`: their manifests must agree; every unit is taken once (in
/// canonical order) and every point aggregated afresh, so `out` ends up with exactly what one
/// machine would have written.
/// Returns the units added and, with `partial`, a description of those no shard held.
pub fn merge(out: &Path, shards: &[PathBuf], partial: bool) -> Result<(usize, Option<String>), StoreError> {
    let slices: Vec<Shard> = shards.iter().map(|d| Shard::read(d)).collect::<Result<_, _>>()?;
    if let Some(first) = slices.first() {
        if let Some((dir, s)) = shards.iter().zip(&slices).find(|(_, s)| s.n != first.n) {
            return Err(StoreError::Shards(format!(
                "{} is shard {}/{} but {} is shard {}/{}: shards of one sweep share N",
                dir.display(),
                s.k,
                s.n,
                shards[0].display(),
                first.k,
                first.n
            )));
        }
        for (i, s) in slices.iter().enumerate() {
            if let Some(j) = slices[..i].iter().position(|t| t == s) {
                return Err(StoreError::Shards(format!(
                    "{} and {} are both shard {}/{}",
                    shards[j].display(),
                    shards[i].display(),
                    s.k,
                    s.n
                )));
            }
        }
    }
    let mut manifest: Option<Manifest> = None;
    for dir in shards {
        let path = dir.join("sweep.json");
        let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            line: e.line(),
            message: e.to_string(),
        })?;
        match &manifest {
            None => manifest = Some(m),
            Some(first) if *first != m => return Err(StoreError::Mismatch { path: dir.clone() }),
            Some(_) => {}
        }
    }
    let Some(manifest) = manifest else { return Ok((0, None)) };
    let mut journals = Vec::new();
    let mut units: Vec<(usize, u32, usize, UnitSpan)> = Vec::new();
    for dir in shards {
        let path = dir.join("rows.jsonl");
        let (index, _) = scan_rows(&path, &manifest)?;
        units.extend(index.into_iter().map(|span| (span.point as usize, span.replication, journals.len(), span)));
        let file = File::open(&path).map_err(io_err(&path))?;
        journals.push((path, file));
    }
    units.sort_by_key(|u| (u.0, u.1));
    // Every unit of the sweep must be somewhere (or, with `partial`, what there is is merged).
    let present: BTreeSet<(usize, u32)> = units.iter().map(|u| (u.0, u.1)).collect();
    let all = manifest.points.len() * manifest.replications as usize;
    let missing: Vec<(usize, u32)> = (0..manifest.points.len())
        .flat_map(|p| (0..manifest.replications).map(move |r| (p, r)))
        .filter(|u| !present.contains(u))
        .collect();
    if !missing.is_empty() && !partial {
        return Err(StoreError::Incomplete { missing: missing.len(), total: all, detail: describe_missing(&missing) });
    }
    let (store, done) = SweepStore::open(out, &manifest)?;
    let mut taken = done;
    let mut added = 0;
    for (point, replication, journal, span) in units {
        if !taken.insert((point, replication)) {
            continue;
        }
        let (path, file) = &mut journals[journal];
        let rows = read_unit(file, path, &span)?;
        store.record(rows)?;
        added += 1;
    }
    store.finalize()?;
    let note = (!missing.is_empty())
        .then(|| format!("{} of {all} units are missing: {}", missing.len(), describe_missing(&missing)));
    Ok((added, note))
}
