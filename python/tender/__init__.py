"""Tender from Python.

Simulate and run markets in which heterogeneous LLM agents compete for tasks: SALE strategy
auctions, routers and classic auctions, on synthetic stand-ins, live models or recorded traces.
This package is a thin layer over the `tender` command line's own code (the same scenario
parser, the same prepared run form): a scenario run here gives the records `tender run` writes.

    import tender
    s = tender.load("scenarios/quickstart.ron")
    r = tender.run(s, episodes=20)
    r.summary.to_pandas()                      # tidy: mechanism, domain, bin, metric, agent, ...
    tender.compare(r, "SALE", "qwen3-32b alone")  # paired by episode, with its 95% CI
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

from ._tender import RunResult as _RunResult
from ._tender import Scenario, ScenarioError, __version__, load
from ._tender import run as _run
from ._tender import merge as _merge
from ._tender import sweep as _sweep
from ._tender import game as _game
from ._tender import shapley as _shapley

__all__ = [
    "Comparison",
    "Mechanism",
    "Result",
    "Scenario",
    "ScenarioError",
    "Table",
    "compare",
    "load",
    "mechanism",
    "run",
    "sweep",
    "merge",
    "SweepResult",
    "game",
    "GameResult",
    "shapley",
    "ShapleyResult",
    "__version__",
]


class Table:
    """A result table: an Arrow table (`.arrow`, a `pyarrow.Table`) with typed columns.

    Booleans are booleans, counts are int64, the episode seed an exact uint64, and names
    (mechanisms, agents, domains) are dictionary-encoded (categoricals in pandas). Any Arrow
    consumer reads it directly (`__arrow_c_stream__`): `polars.DataFrame(t)`, `duckdb.sql(...)`.
    """

    def __init__(self, arrow: Any) -> None:
        self.arrow = arrow

    def to_pandas(self, **kwargs: Any):
        """The table as a pandas DataFrame (needs pandas).

        Integer and boolean columns with missing values become pandas' nullable `Int64`,
        `UInt64` and `boolean`, so that ints stay ints (NumPy's would turn them into floats).
        """
        import pandas
        import pyarrow

        df = self.arrow.to_pandas(**kwargs)
        nullable = {pyarrow.int64(): pandas.Int64Dtype(), pyarrow.uint64(): pandas.UInt64Dtype(),
                    pyarrow.bool_(): pandas.BooleanDtype()}
        for name, column in zip(self.arrow.column_names, self.arrow.columns):
            if column.null_count and column.type in nullable:
                df[name] = column.to_pandas(types_mapper=nullable.get)
        return df

    def to_polars(self):
        """The table as a polars DataFrame (needs polars)."""
        import polars

        return polars.from_arrow(self.arrow)

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self.arrow.__arrow_c_stream__(requested_schema)

    @property
    def column_names(self) -> list[str]:
        return list(self.arrow.column_names)

    @property
    def schema(self):
        return self.arrow.schema

    def column(self, name: str) -> list:
        """One column's values as a Python list."""
        return self.arrow.column(name).to_pylist()

    def __len__(self) -> int:
        return self.arrow.num_rows

    def __repr__(self) -> str:
        return f"tender.Table({self.arrow.num_rows} rows: {', '.join(self.arrow.column_names)})"


@dataclass(frozen=True)
class Comparison:
    """`a - b` of one metric, paired by episode (both ran on the same draws)."""

    metric: str
    a: str
    b: str
    mean: float
    ci_low: float
    ci_high: float
    episodes: int
    a_mean: float
    b_mean: float

    def __str__(self) -> str:
        return (
            f"{self.a} - {self.b}, {self.metric}: {self.mean:+.4g} "
            f"(95% CI {self.ci_low:+.4g} to {self.ci_high:+.4g}, {self.episodes} paired episodes; "
            f"{self.a_mean:.4g} against {self.b_mean:.4g})"
        )


class Result:
    """A finished run. Each table is a `tender.Table`; `.to_pandas()` / `.to_polars()` convert."""

    def __init__(self, raw: _RunResult) -> None:
        self._raw = raw
        self._tables: dict[str, Table] = {}

    def _table(self, name: str) -> Table:
        if name not in self._tables:
            self._tables[name] = Table(getattr(self._raw, name))
        return self._tables[name]

    @property
    def summary(self) -> Table:
        """Every metric of every mechanism, overall, per domain and per bin, in tidy long form:
        mechanism, scope, domain, bin, tau_max, metric, agent, metric_id, mean, ci_low, ci_high,
        episodes."""
        return self._table("summary")

    @property
    def tasks(self) -> Table:
        """Every task decision of every episode and mechanism (tasks.csv's columns, typed)."""
        return self._table("tasks")

    @property
    def episodes(self) -> Table:
        """One row per episode and mechanism with its metrics, for paired comparisons."""
        return self._table("episodes")

    @property
    def agents(self) -> Table:
        """The pool: names, prices and which agents are the references of comparisons."""
        return self._table("agents")

    @property
    def declarations(self) -> Table:
        """What each mechanism declares of itself (mechanisms.csv): its role (`market`,
        `alone:AGENT`, `oracle`, `refined_oracle`), its curve, and whether it learns along the
        task stream. Select mechanisms by these, not by their names."""
        return self._table("declarations")

    @property
    def routing(self) -> Optional[Table]:
        """The routing view (RouteLLM's: strong-agent share, accuracy, cost per task, PGR per
        mechanism), when the run has both reference agents alone; else None."""
        raw = self._raw.routing
        return None if raw is None else Table(raw)

    @property
    def apgr(self) -> dict[str, float]:
        """Each routing curve's APGR, by curve name."""
        return dict(self._raw.apgr)

    @property
    def latency(self) -> Optional[Table]:
        """A timed run's per-task latencies (arrival, auction and answer times); None otherwise."""
        raw = self._raw.latency
        return None if raw is None else Table(raw)

    @property
    def mechanisms(self) -> list[str]:
        return self._raw.mechanisms

    @property
    def scenario(self) -> Scenario:
        """The scenario as it ran."""
        return self._raw.scenario

    def compare(self, a: str, b: str, metric: str = "pass_at_1") -> Comparison:
        """`a - b` of `metric` (a column of `.episodes`), paired by episode, with its 95% CI."""
        return Comparison(**self._raw.compare(a, b, metric))

    def __repr__(self) -> str:
        return f"tender.Result({self.scenario.name!r}: {len(self.mechanisms)} mechanisms)"


@dataclass(frozen=True)
class Mechanism:
    """A mechanism written in Python, as `tender.run(..., mechanisms=[...])` takes it.

    `factory()` makes a fresh instance for every episode (a class is a factory). The instance
    has `choose(task, agents, context)`, returning the name (or index) of the agent that executes
    the task, or `(name, {"quantity": value})` to report per-task quantities declared in
    `reports`; and, optionally, `observe(outcome)`, called after each execution, to learn
    online. docs/python.md describes the dicts it is given.
    """

    factory: Callable[[], Any]
    name: str
    reports: tuple[str, ...] = ()


def mechanism(factory: Callable[[], Any], name: Optional[str] = None, reports: tuple[str, ...] = ()) -> Mechanism:
    """A Python mechanism for `tender.run`: `factory` (a class) makes one instance per episode;
    `name` names it in tables (default: the class's name, or its `name` attribute); `reports`
    lists the per-task quantities its `choose` may report (default: its `reports` attribute)."""
    name = name or getattr(factory, "name", None) or getattr(factory, "__name__", None)
    if not name:
        raise ValueError("a Python mechanism needs a name")
    return Mechanism(factory, str(name), tuple(reports or getattr(factory, "reports", ())))


Progress = Union[bool, Callable[[int, int], None]]


def _progress_bar(
    total: int, unit: str = "run", desc: str = "episodes x mechanisms"
) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A notebook or terminal bar (tqdm when installed), else a line on a terminal's stderr. The
    total may come with the first update."""
    try:
        from tqdm.auto import tqdm

        bar = tqdm(total=total or None, unit=unit, desc=desc)

        def update(done: int, of: int) -> None:
            if bar.total != of:
                bar.total = of
                bar.refresh()
            bar.update(done - bar.n)

        return update, bar.close
    except ImportError:
        pass
    if not sys.stderr.isatty():
        return (lambda done, of: None), (lambda: None)

    def line(done: int, of: int) -> None:
        width = 30
        filled = width * done // max(of, 1)
        sys.stderr.write(f"\r[{'#' * filled}{' ' * (width - filled)}] {done}/{of} {unit}s")
        sys.stderr.flush()

    return line, (lambda: sys.stderr.write("\n"))


def _reporter(progress: Progress, total: int, **bar: str) -> tuple[Optional[Callable[[int, int], None]], Callable[[], None]]:
    """What `progress=` asks for: a bar (True), nothing (False), or the caller's callable."""
    if progress is True:
        return _progress_bar(total, **bar)
    if progress is False or progress is None:
        return None, (lambda: None)
    return progress, (lambda: None)


def run(
    scenario: Union[Scenario, str, "os.PathLike[str]"],
    *,
    episodes: Optional[int] = None,
    seed: Optional[int] = None,
    jobs: Optional[int] = None,
    replay: Optional[Union[str, "os.PathLike[str]"]] = None,
    cache: Optional[Union[str, "os.PathLike[str]"]] = None,
    progress: Progress = True,
    mechanisms: tuple = (),
) -> Result:
    """Run every mechanism of a scenario over seeded episodes, as `tender run` does.

    `scenario` is a `Scenario` or what `tender.load` takes. `episodes` and `seed` replace the
    scenario's; results are identical for any `jobs` (worker threads, default one per core).
    Live agents read their keys from the environment; `replay` answers them from a recorded
    trace (calling nothing), `cache` keeps their responses in a file. `progress`: a bar (True),
    none (False), or a callable `(done, total)`. Ctrl-C stops the run with KeyboardInterrupt.
    `mechanisms` adds Python mechanisms (classes, or `tender.mechanism(...)`) beside the
    scenario's, on the same draws.
    """
    if not isinstance(scenario, Scenario):
        scenario = load(scenario)
    extra = [m if isinstance(m, Mechanism) else mechanism(m) for m in mechanisms]
    total = (episodes or scenario.episodes) * (len(scenario.mechanisms) + len(extra))
    update, close = _reporter(progress, total)
    try:
        raw = _run(
            scenario,
            episodes=episodes,
            seed=seed,
            jobs=jobs,
            replay=None if replay is None else os.fspath(replay),
            cache=None if cache is None else os.fspath(cache),
            progress=update,
            mechanisms=[(m.name, m.factory, list(m.reports)) for m in extra],
        )
    finally:
        close()
    return Result(raw)


def _read_csv(path: Path) -> Table:
    """A results file as a table; an `episode_seed` column (hex text, so that float readers cannot
    round it) as exact uint64."""
    import pyarrow
    import pyarrow.csv

    as_text = pyarrow.csv.ConvertOptions(column_types={"episode_seed": pyarrow.string()})
    table = pyarrow.csv.read_csv(path, convert_options=as_text)
    if "episode_seed" in table.column_names:
        seeds = pyarrow.array([int(s, 16) for s in table.column("episode_seed").to_pylist()], pyarrow.uint64())
        table = table.set_column(table.column_names.index("episode_seed"), "episode_seed", seeds)
    return Table(table)


class _Tables:
    """The tables of a results folder (`out`), each read from its CSV file once."""

    out: Path
    _tables: dict[str, Table]

    def _read(self, name: str) -> Table:
        if name not in self._tables:
            self._tables[name] = _read_csv(self.out / f"{name}.csv")
        return self._tables[name]


class SweepResult(_Tables):
    """A finished sweep: its folder (`out`) and its tables, read from the folder's files.

    `rows`: one row per point, replication and mechanism (rows.csv: the swept values, the episode
    seed as an exact uint64, each per-episode metric). `points`: each point's means with 95%
    intervals (points.csv, long form: `metric`, `mean`, `ci_low`, `ci_high`, `replications`).
    """

    def __init__(self, outcome: Any) -> None:
        self._outcome = outcome
        self.out = Path(outcome.out)
        self.points_count = outcome.points
        self.replications = outcome.replications
        self.mechanisms = list(outcome.mechanisms)
        self.units = outcome.units
        self.computed = outcome.computed
        self.seconds = outcome.seconds
        self._tables: dict[str, Table] = {}

    @property
    def rows(self) -> Table:
        return self._read("rows")

    @property
    def points(self) -> Table:
        return self._read("points")

    def __repr__(self) -> str:
        return (
            f"tender.SweepResult({self.out}: {self.points_count} points x {self.replications} replications, "
            f"{self.computed} of {self.units} units computed now)"
        )


def sweep(
    scenario: Union[Scenario, str, "os.PathLike[str]"],
    set: dict[str, Any],
    *,
    design: str = "grid",
    replications: Optional[int] = None,
    independent_draws: bool = False,
    out: Optional[Union[str, "os.PathLike[str]"]] = None,
    jobs: Optional[int] = None,
    shard: Optional[tuple[int, int]] = None,
    plots: bool = False,
    parquet: bool = False,
    progress: Progress = True,
) -> SweepResult:
    """Sweep parameters of a scenario as `tender sweep` does.

    `set` maps sweep paths to values: a list (`[0.2, 0.4]`) or the CLI's text (`"0..2:0.25"`,
    `"4,8,16"`, `"0.1~0.9"` for random and Latin-hypercube designs). `design`: `grid`, `zip`,
    `random:N` or `lhs:N`. `replications` per point (default the scenario's episodes); points
    share their draws unless `independent_draws`. Results go to `out` (default OUTPUT/sweep, as
    the CLI), which a rerun of the same sweep resumes from: Ctrl-C keeps what is done. `shard`
    `(k, n)` runs the k-th of n slices (merge them with `tender merge`). `parquet` also writes
    rows.parquet and points.parquet, as `tender sweep --format parquet`.
    """
    if not isinstance(scenario, Scenario):
        scenario = load(scenario)
    update, close = _reporter(progress, 0, unit="unit", desc="points x replications")
    try:
        outcome = _sweep(
            scenario,
            set,
            design=design,
            replications=replications,
            independent_draws=independent_draws,
            out=None if out is None else os.fspath(out),
            jobs=jobs,
            shard=shard,
            plots=plots,
            parquet=parquet,
            progress=update,
        )
    finally:
        close()
    return SweepResult(outcome)


def merge(out: Union[str, "os.PathLike[str]"], shards: list, partial: bool = False) -> None:
    """Merge the folders of a sweep's shards into `out`, as `tender merge` does."""
    _merge(os.fspath(out), [os.fspath(s) for s in shards], partial)


def compare(result: Result, a: str, b: str, metric: str = "pass_at_1") -> Comparison:
    """`a - b` of `metric` in `result`, paired by episode, with its 95% CI."""
    return result.compare(a, b, metric)


class _FolderResult(_Tables):
    """A folder a command wrote, with the report it prints (`str()` of the result) and its tables
    read from the folder's files."""

    _files: tuple[str, ...] = ()

    def __init__(self, outcome: Any) -> None:
        self.out = Path(outcome.out)
        self.report = outcome.report
        self._tables: dict[str, Table] = {}

    def __str__(self) -> str:
        return self.report

    def __repr__(self) -> str:
        files = ", ".join(f"{f}.csv" for f in self._files)
        return f"tender.{type(self).__name__}({self.out}: {files})"


class GameResult(_FolderResult):
    """A played game (`tender game`). `payoffs`: each market, profile and player's mean utility
    with its 95% interval; `profiles`: each market and profile's regret (the best unilateral
    gain, with its interval and deviation), whether it is a pure Nash equilibrium, and its
    welfare, pass@1 and cost.
    `report` is what `tender game` prints."""

    _files = ("payoffs", "profiles")

    @property
    def payoffs(self) -> Table:
        return self._read("payoffs")

    @property
    def profiles(self) -> Table:
        return self._read("profiles")


class ShapleyResult(_FolderResult):
    """Shapley values (`tender shapley`). `values`: each market and agent's Shapley value of
    welfare, pass@1 and cost with 95% intervals (shapley.csv); `coalitions`: each coalition's
    value per market. `report` is the table `tender shapley` prints."""

    _files = ("shapley", "coalitions")

    @property
    def values(self) -> Table:
        return self._read("shapley")

    @property
    def coalitions(self) -> Table:
        return self._read("coalitions")


def game(
    scenario: Union[Scenario, str, "os.PathLike[str]"],
    *,
    episodes: Optional[int] = None,
    seed: Optional[int] = None,
    jobs: Optional[int] = None,
    out: Optional[Union[str, "os.PathLike[str]"]] = None,
    progress: Progress = True,
) -> GameResult:
    """Play the scenario's `game:` block as `tender game` does: every profile of the players'
    strategies (or a sample) on the same episode seeds, the payoff table, regrets, pure and
    mixed equilibria, and the market at equilibrium against the truthful profile. Writes `out`
    (default OUTPUT/game) and returns its tables; `print(result)` shows the report. Ctrl-C stops
    between profiles."""
    if not isinstance(scenario, Scenario):
        scenario = load(scenario)
    update, close = _reporter(progress, 0, desc="profiles x episodes x markets")
    try:
        outcome = _game(
            scenario, episodes=episodes, seed=seed, jobs=jobs, out=None if out is None else os.fspath(out), progress=update
        )
    finally:
        close()
    return GameResult(outcome)


def shapley(
    scenario: Union[Scenario, str, "os.PathLike[str]"],
    *,
    metric: str = "welfare",
    mechanisms: tuple = (),
    permutations: Optional[int] = None,
    episodes: Optional[int] = None,
    seed: Optional[int] = None,
    jobs: Optional[int] = None,
    out: Optional[Union[str, "os.PathLike[str]"]] = None,
    progress: Progress = True,
) -> ShapleyResult:
    """Each agent's Shapley value in each market, as `tender shapley` does: every coalition's
    market (or those along `permutations` sampled join orders) on the same episode seeds.
    `metric` (`welfare`, `pass_at_1` or `cost`) is what the report and plot show; the `values`
    table holds all three. `mechanisms` names the markets valued (default: every market). Writes
    `out` (default OUTPUT/shapley). Ctrl-C stops between coalitions."""
    if not isinstance(scenario, Scenario):
        scenario = load(scenario)
    update, close = _reporter(progress, 0, desc="coalitions x episodes x markets")
    try:
        outcome = _shapley(
            scenario,
            metric=metric,
            mechanisms=list(mechanisms),
            permutations=permutations,
            episodes=episodes,
            seed=seed,
            jobs=jobs,
            out=None if out is None else os.fspath(out),
            progress=update,
        )
    finally:
        close()
    return ShapleyResult(outcome)
