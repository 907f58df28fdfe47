"""The `tender` package against the command line: same scenario and seed, same results."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet
import pytest

import tender

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "scenarios" / "quickstart.ron"
EPISODES = 3


def cli() -> Path:
    """The `tender` binary (CI builds it before pytest runs)."""
    path = Path(os.environ.get("TENDER_BIN", ROOT / "target" / "release" / "tender"))
    assert path.is_file(), f"no tender binary at {path}: build it (cargo build --release) or set TENDER_BIN"
    return path


@pytest.fixture(scope="module")
def quick() -> tender.Result:
    return tender.run(QUICKSTART, episodes=EPISODES, progress=False)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "quickstart"
    subprocess.run(
        [cli(), "run", QUICKSTART, "--episodes", str(EPISODES), "--out", out, "--no-plots"],
        check=True,
        capture_output=True,
    )
    return out


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def same_number(text: str, value) -> bool:
    if text == "":
        return value is None or (isinstance(value, float) and math.isnan(value))
    x = float(text)
    return (math.isnan(x) and value is not None and math.isnan(value)) or x == value


def test_summary_equals_the_clis_summary_csv(quick, cli_run):
    expected = rows(cli_run / "summary.csv")
    got = quick.summary.arrow.to_pylist()
    assert len(got) == len(expected)
    for e, g in zip(expected, got):
        assert (e["mechanism"], e["scope"], e["metric"]) == (g["mechanism"], g["scope"], g["metric_id"])
        for column in ("mean", "ci_low", "ci_high"):
            assert same_number(e[column], g[column]), (e, g)
        assert int(e["episodes"]) == g["episodes"]


def test_tasks_equal_the_clis_tasks_csv(quick, cli_run):
    expected = rows(cli_run / "tasks.csv")
    table = quick.tasks.arrow
    assert table.column_names == list(expected[0].keys())
    got = table.to_pylist()
    assert len(got) == len(expected)
    for e, g in zip(expected, got):
        for name, text in e.items():
            value = g[name]
            if name == "episode_seed":
                assert int(text, 16) == value
            elif isinstance(value, bool):
                assert text == str(value).lower(), name
            elif isinstance(value, (int, float)) or value is None:
                assert same_number(text, value), (name, text, value)
            else:
                assert text == value, name


def test_agents_equal_the_clis_agents_csv(quick, cli_run):
    expected = rows(cli_run / "agents.csv")
    got = quick.agents.arrow.to_pylist()
    assert [e["agent"] for e in expected] == [g["agent"] for g in got]
    assert [e["reference"] for e in expected] == [g["reference"] or "" for g in got]


def test_mechanisms_equal_the_clis_mechanisms_csv(quick, cli_run):
    expected = rows(cli_run / "mechanisms.csv")
    got = quick.declarations.arrow.to_pylist()
    assert [e["mechanism"] for e in expected] == [g["mechanism"] for g in got]
    assert [e["role"] for e in expected] == [g["role"] for g in got]
    assert [e["learns"] == "true" for e in expected] == [g["learns"] for g in got]
    assert [e["reports"] for e in expected] == [g["reports"] for g in got]
    sale = next(g for g in got if g["mechanism"] == "SALE")
    assert {"provisional", "refined", "refiners"} <= set(sale["reports"].split())


def test_columns_are_typed_in_pandas_and_polars(quick):
    tasks = quick.tasks.to_pandas()
    assert tasks["success"].dtype == bool
    # A mechanism's own quantities are typed by their meaning: SALE's refined win is a boolean
    # (missing on other mechanisms' rows), its provisional winner an agent.
    schema = quick.tasks.arrow.schema
    assert schema.field("refined").type == pa.bool_()
    assert pa.types.is_dictionary(schema.field("provisional").type)
    assert set(tasks["provisional"].dropna()) <= set(tasks["winner"].cat.categories)
    assert tasks["step"].dtype == "int64"
    assert tasks["episode_seed"].dtype == "uint64"
    assert isinstance(tasks["mechanism"].dtype, pd.CategoricalDtype)
    assert tasks["execution_usd"].dtype == "float64"
    # The seed is exact, even above 2^63.
    seeds = quick.episodes.arrow.column("episode_seed").to_pylist()
    assert all(isinstance(s, int) and 0 <= s < 2**64 for s in seeds)
    assert list(tasks["episode_seed"].unique()) == sorted(set(seeds), key=seeds.index)

    summary = quick.summary.to_pandas()
    assert str(summary["bin"].dtype) == "Int64", "a missing bin stays an integer column"
    assert str(summary["episodes"].dtype) == "int64"
    share = summary[(summary.metric == "share") & (summary.scope == "all") & (summary.mechanism == "SALE")]
    assert set(share["agent"]) == set(quick.scenario.agents)
    assert share["mean"].sum() == pytest.approx(1.0)
    bins = summary[summary["bin"].notna()]
    assert bins["domain"].notna().all() and bins["tau_max"].notna().all()

    polars_tasks = quick.tasks.to_polars()
    assert polars_tasks.schema["success"] == pl.Boolean
    assert polars_tasks.schema["episode_seed"] == pl.UInt64
    assert polars_tasks.schema["step"] == pl.Int64
    assert pl.DataFrame(quick.tasks).shape == polars_tasks.shape, "read through the Arrow stream interface"


def test_results_do_not_depend_on_the_thread_count():
    one = tender.run(QUICKSTART, episodes=2, jobs=1, progress=False)
    two = tender.run(QUICKSTART, episodes=2, jobs=2, progress=False)
    assert one.tasks.arrow.equals(two.tasks.arrow)
    # NaN (an interval of one episode) equals NaN here.
    assert one.summary.to_pandas().equals(two.summary.to_pandas())


def test_a_paired_comparison_is_the_mean_of_episode_differences(quick):
    c = tender.compare(quick, "SALE", "qwen3-32b alone", metric="pass_at_1")
    eps = quick.episodes.to_pandas()
    a = eps[eps.mechanism == "SALE"].set_index("episode")["pass_at_1"]
    b = eps[eps.mechanism == "qwen3-32b alone"].set_index("episode")["pass_at_1"]
    assert c.episodes == EPISODES
    assert c.mean == pytest.approx((a - b).mean())
    assert c.ci_low < c.mean < c.ci_high
    assert (c.a_mean, c.b_mean) == (pytest.approx(a.mean()), pytest.approx(b.mean()))
    assert "SALE - qwen3-32b alone" in str(c)
    with pytest.raises(ValueError, match="no mechanism named"):
        quick.compare("SALE", "nobody")
    with pytest.raises(ValueError, match="no per-episode metric"):
        quick.compare("SALE", "random", metric="nothing")


def test_a_syntax_error_says_where():
    text = 'Scenario(\n    name: "broken",\n    agents: [)\n'
    with pytest.raises(tender.ScenarioError) as e:
        tender.load(text)
    assert (e.value.line, e.value.column) == (3, 14)
    assert "<scenario text>:3:14" in str(e.value)


def test_an_invalid_value_names_its_field_and_range(tmp_path):
    bad = tmp_path / "bad.ron"
    bad.write_text(QUICKSTART.read_text().replace("episodes: 100", "episodes: 0", 1))
    with pytest.raises(tender.ScenarioError) as e:
        tender.load(bad)
    assert str(bad) in str(e.value)
    fields = [f for f, _, _ in e.value.errors]
    assert "episodes" in fields, e.value.errors


def test_overrides_use_sweep_paths_and_are_validated():
    s = tender.load(QUICKSTART)
    t = s.with_(**{"episodes": 2, "standins.shared_difficulty": 0.3})
    assert (t.episodes, s.episodes) == (2, 100)
    assert "shared_difficulty: 0.3" in t.to_ron()
    with pytest.raises(tender.ScenarioError) as e:
        s.with_(**{"standins.shared_difficulty": 5.0})
    assert ("standins.shared_difficulty", "5", "must lie in [0, 1]") in e.value.errors
    with pytest.raises(tender.ScenarioError, match="no_such_field"):
        s.with_(**{"standins.no_such_field": 1})


def test_progress_is_reported_and_an_interrupt_stops_the_run():
    seen = []
    tender.run(QUICKSTART, episodes=2, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (2 * len(tender.load(QUICKSTART).mechanisms),) * 2

    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tender.run(QUICKSTART, episodes=400, jobs=1, progress=interrupt)
    # Nothing is left running: the next run starts at once and finishes.
    assert len(tender.run(QUICKSTART, episodes=1, progress=False).mechanisms) > 0


def test_a_recorded_table_runs_from_python_as_from_the_cli(tmp_path):
    scenario = ROOT / "tests" / "fixtures" / "routerbench-mini.ron"
    r = tender.run(scenario, episodes=2, progress=False)
    out = tmp_path / "rb"
    subprocess.run([cli(), "run", scenario, "--episodes", "2", "--out", out, "--no-plots"], check=True, capture_output=True)
    expected = rows(out / "tasks.csv")
    assert [e["task"] for e in expected] == r.tasks.column("task")
    assert [e["success"] == "true" for e in expected] == r.tasks.column("success")


def test_arrow_consumers_read_tables_directly(quick):
    table = pa.table(quick.summary)
    assert table.num_rows == len(quick.summary)


def python_block(doc: Path, heading: str) -> str:
    """The first ```python block after `heading` in `doc`."""
    text = doc.read_text()
    start = text.index(heading)
    block = text.index("```python\n", start) + len("```python\n")
    return text[block : text.index("```", block)]


@pytest.mark.parametrize(
    "doc, heading", [(ROOT / "README.md", "## From Python"), (ROOT / "docs" / "python.md", "## A session")]
)
def test_the_documented_sessions_work_as_written(doc, heading, monkeypatch, capsys, tmp_path):
    # In a folder of its own (the sweep writes results/), with the project's scenarios.
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    monkeypatch.chdir(tmp_path)
    exec(compile(python_block(doc, heading), str(doc), "exec"), {})
    if "README" in doc.name:
        printed = capsys.readouterr().out
        assert "SALE - qwen3-32b alone, pass_at_1" in printed


class Largest:
    """Always the priciest agent: the engine's `qwen3-32b alone`, written in Python."""

    def choose(self, task, agents, context):
        return max(agents, key=lambda a: a["price"])["name"]


def test_a_python_mechanism_runs_on_the_same_draws_as_the_engines():
    r = tender.run(QUICKSTART, episodes=2, progress=False, mechanisms=[tender.mechanism(Largest, name="largest (py)")])
    tasks = r.tasks.to_pandas()
    mine = tasks[tasks.mechanism == "largest (py)"].reset_index(drop=True)
    engine = tasks[tasks.mechanism == "qwen3-32b alone"].reset_index(drop=True)
    for column in ("task", "winner", "success", "execution_usd", "delivered_tokens"):
        assert (mine[column].astype(str) == engine[column].astype(str)).all(), column
    assert r.compare("largest (py)", "qwen3-32b alone").mean == 0.0


def test_a_python_mechanism_learns_reports_and_is_the_same_for_any_thread_count():
    import sys

    sys.path.insert(0, str(ROOT / "examples" / "python"))
    from bandit import PyBandit

    one = tender.run(QUICKSTART, episodes=3, jobs=1, progress=False, mechanisms=[PyBandit])
    two = tender.run(QUICKSTART, episodes=3, jobs=2, progress=False, mechanisms=[PyBandit])
    assert one.tasks.arrow.equals(two.tasks.arrow)
    summary = one.summary.to_pandas()
    explored = summary[(summary.mechanism == "bandit (Python)") & (summary.metric == "explored") & (summary.scope == "all")]
    assert len(explored) == 1 and 0 < explored["mean"].iloc[0] < 1
    c = one.compare("bandit (Python)", "random")
    assert c.episodes == 3


def test_a_failing_python_mechanism_fails_the_run_and_says_why():
    class Nobody:
        def choose(self, task, agents, context):
            return "nobody"

    with pytest.raises(RuntimeError, match=r'"Nobody" failed: choose: ValueError: choose returned "nobody"'):
        tender.run(QUICKSTART, episodes=1, progress=False, mechanisms=[Nobody])

    class Undeclared:
        def choose(self, task, agents, context):
            return 0, {"confidence": 1.0}

    with pytest.raises(RuntimeError, match="does not declare"):
        tender.run(QUICKSTART, episodes=1, progress=False, mechanisms=[Undeclared])


def test_the_notebook_example_runs(tmp_path):
    env = dict(os.environ, TENDER_EPISODES="3", TENDER_PLOTS=str(tmp_path))
    done = subprocess.run(
        [sys.executable, ROOT / "examples" / "python" / "quickstart.py"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "SALE - qwen3-32b alone, pass_at_1" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["python-bandit.png", "quality-cost.png", "sweep-shared-difficulty.png"]


def test_the_documented_python_mechanism_runs(monkeypatch):
    monkeypatch.chdir(ROOT)
    text = (ROOT / "docs" / "python.md").read_text()
    start = text.index("## Mechanisms written in Python")
    block = text.index("```python\n", start) + len("```python\n")
    namespace = {"tender": tender}
    exec(compile(text[block : text.index("```", block)], "docs/python.md", "exec"), namespace)
    r = namespace["r"]
    assert "Largest" in r.mechanisms
    assert r.compare("Largest", "qwen3-32b alone").mean == 0.0


def test_the_clis_parquet_files_read_with_their_types_everywhere(cli_run, tmp_path):
    import duckdb

    out = tmp_path / "pq"
    subprocess.run(
        [cli(), "run", QUICKSTART, "--episodes", str(EPISODES), "--out", out, "--no-plots", "--format", "parquet"],
        check=True,
        capture_output=True,
    )
    assert not (out / "tasks.csv").exists()
    csv_rows = rows(cli_run / "tasks.csv")
    for read in (
        lambda p: pa.parquet.read_table(p).to_pandas(),
        lambda p: pd.read_parquet(p),
        lambda p: pl.read_parquet(p).to_pandas(),
        lambda p: duckdb.sql(f"select * from '{p}'").df(),
    ):
        tasks = read(out / "tasks.parquet")
        assert len(tasks) == len(csv_rows)
        assert tasks["success"].dtype == bool
        assert str(tasks["step"].dtype) == "int64"
        assert str(tasks["episode_seed"].dtype) == "uint64"
        assert [int(r["episode_seed"], 16) for r in csv_rows[:5]] == list(tasks["episode_seed"][:5])
        assert [r["success"] == "true" for r in csv_rows] == list(tasks["success"])
        assert [r["winner"] for r in csv_rows] == [str(w) for w in tasks["winner"]]
    summary = pl.read_parquet(out / "summary.parquet")
    assert summary.columns == tender.run(QUICKSTART, episodes=1, progress=False).summary.column_names
    assert summary.schema["bin"] == pl.Int64 and summary.schema["mean"] == pl.Float64
    episodes = duckdb.sql(f"select mechanism, avg(pass_at_1) as p from '{out / 'episodes.parquet'}' group by 1").df()
    assert set(episodes["mechanism"]) == set(tender.load(QUICKSTART).mechanisms)


def test_a_sweep_writes_the_clis_rows_and_resumes_after_an_interrupt(tmp_path):
    grid = ["--set", "standins.shared_difficulty=0.3,0.6", "--set", "mechanisms[0].k=4,8", "--replications", "3"]
    subprocess.run([cli(), "sweep", QUICKSTART, *grid, "--out", tmp_path / "cli", "--no-plots"], check=True, capture_output=True)
    values = {"standins.shared_difficulty": [0.3, 0.6], "mechanisms[0].k": "4,8"}
    whole = tender.sweep(QUICKSTART, values, replications=3, out=tmp_path / "py", progress=False)
    assert (whole.units, whole.computed) == (12, 12)
    for name in ("rows.csv", "points.csv"):
        assert (tmp_path / "py" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
    rows = whole.rows.to_pandas()
    assert len(rows) == 12 * len(whole.mechanisms)
    assert str(rows["episode_seed"].dtype) == "uint64"
    points = whole.points.to_pandas()
    assert set(points["metric"]) >= {"pass_at_1", "cost_usd"}

    def stop(done, total):
        if done >= 1:  # once a unit is in the folder
            raise KeyboardInterrupt

    # Long enough (80 units on one thread) that the interrupt comes well before the end.
    long = dict(replications=20, progress=False)
    reference = tender.sweep(QUICKSTART, values, out=tmp_path / "reference", **long)
    with pytest.raises(KeyboardInterrupt):
        tender.sweep(QUICKSTART, values, replications=20, out=tmp_path / "resumed", jobs=1, progress=stop)
    again = tender.sweep(QUICKSTART, values, out=tmp_path / "resumed", **long)
    assert 0 < again.computed < again.units == reference.units, "the interrupted sweep kept what it had done"
    for name in ("rows.csv", "points.csv"):
        assert (tmp_path / "resumed" / name).read_bytes() == (tmp_path / "reference" / name).read_bytes(), name
    done_now = tender.sweep(QUICKSTART, values, out=tmp_path / "resumed", **long)
    assert done_now.computed == 0, "a finished sweep has nothing left to do"


def test_a_ray_sweep_on_two_nodes_equals_a_local_one(tmp_path):
    address = os.environ.get("TENDER_RAY_ADDRESS")
    if not address:
        assert not os.environ.get("TENDER_REQUIRE_RAY"), "CI starts a Ray cluster and sets TENDER_RAY_ADDRESS"
        pytest.skip("no Ray cluster: set TENDER_RAY_ADDRESS (a head and a node started with `ray start`)")
    import ray

    import tender.ray

    values = {"standins.shared_difficulty": [0.3, 0.6], "mechanisms[0].k": "4,8"}
    on_ray = tender.ray.sweep(QUICKSTART, values, replications=3, shards=4, out=tmp_path / "ray", address=address)
    assert len([n for n in ray.nodes() if n["Alive"]]) >= 2
    assert len(on_ray.nodes) >= 2, f"the shards ran on {on_ray.nodes}"
    local = tender.sweep(QUICKSTART, values, replications=3, out=tmp_path / "local", progress=False)
    for name in ("rows.csv", "points.csv"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes(), name
    assert on_ray.computed == 0 and on_ray.units == 12


LIVE = ROOT.parent / "shared" / "data" / "live" / "example30"


@pytest.mark.skipif(not (LIVE / "trace.jsonl").is_file(), reason=f"no recorded live run at {LIVE}")
def test_a_recorded_live_run_replays_from_python_as_from_the_cli(tmp_path):
    scenario, trace = LIVE / "live-local.ron", LIVE / "trace.jsonl"
    r = tender.run(scenario, episodes=1, replay=trace, progress=False)
    out = tmp_path / "replayed"
    subprocess.run(
        [cli(), "run", scenario, "--episodes", "1", "--replay", trace, "--out", out, "--no-plots"],
        check=True,
        capture_output=True,
    )
    expected = rows(out / "tasks.csv")
    assert [e["task"] for e in expected] == r.tasks.column("task")
    assert [e["winner"] for e in expected] == [w or "" for w in r.tasks.column("winner")]
    assert [e["success"] == "true" for e in expected] == r.tasks.column("success")
    with pytest.raises(RuntimeError):
        # A trace of another run misses cells: the replay says so instead of calling anything.
        tender.run(QUICKSTART.parent / "live.ron", episodes=1, replay=trace, progress=False)


def test_routing_and_latency_tables_appear_where_the_run_has_them(quick):
    assert quick.latency is None, "sequential arrivals have no clock"
    routers = tender.run(ROOT / "scenarios" / "routers.ron", episodes=2, progress=False)
    routing = routers.routing.to_pandas()
    assert set(routing["role"].dropna()) == {"weak", "strong"}
    assert routing["strong_share"].between(0, 1).all()
    assert routers.apgr == {}, "no mechanism of routers.ron traces a curve"
    curves = tender.run(ROOT / "tests" / "fixtures" / "routellm-mini.ron", episodes=1, progress=False)
    assert curves.apgr and all(0 <= v <= 1.5 for v in curves.apgr.values())
    assert set(curves.routing.to_pandas()["curve"].dropna()) == set(curves.apgr)
    timed = tender.run(ROOT / "scenarios" / "hst-bench-timed.ron", episodes=1, progress=False)
    latency = timed.latency.to_pandas()
    assert len(latency) == len(timed.tasks)
    answered = latency[latency["latency_s"].notna()]
    assert (answered["latency_s"] >= answered["auction_s"]).all()


def test_a_sweeps_parquet_tables_are_its_csv_tables_typed(tmp_path):
    grid = ["--set", "standins.shared_difficulty=0.3,0.6", "--set", "mechanisms[0].k=4,8", "--replications", "2"]
    out = tmp_path / "sw"
    subprocess.run([cli(), "sweep", QUICKSTART, *grid, "--out", out, "--no-plots", "--format", "parquet"], check=True, capture_output=True)
    rows_csv = pd.read_csv(out / "rows.csv", dtype={"episode_seed": str})
    rows_pq = pl.read_parquet(out / "rows.parquet")
    assert rows_pq.schema["episode_seed"] == pl.UInt64 and rows_pq.schema["point"] == pl.Int64
    assert rows_pq.schema["standins.shared_difficulty"] == pl.Float64
    assert list(rows_pq["episode_seed"]) == [int(s, 16) for s in rows_csv["episode_seed"]]
    assert list(rows_pq["mechanism"].cast(pl.String)) == list(rows_csv["mechanism"])
    assert rows_pq["pass_at_1"].to_list() == pytest.approx(list(rows_csv["pass_at_1"]))
    points_csv = pd.read_csv(out / "points.csv")
    points_pq = pd.read_parquet(out / "points.parquet")
    assert len(points_pq) == len(points_csv)
    assert list(points_pq["metric"].astype(str)) == list(points_csv["metric"])
    assert points_pq["mean"].tolist() == pytest.approx(points_csv["mean"].tolist(), nan_ok=True)
    assert list(points_pq["replications"]) == list(points_csv["replications"])
    py = tender.sweep(QUICKSTART, {"standins.shared_difficulty": [0.3, 0.6], "mechanisms[0].k": "4,8"},
                      replications=2, out=tmp_path / "py", parquet=True, progress=False)
    assert (tmp_path / "py" / "rows.parquet").is_file() and py.units == 8


SMALL = ROOT / "engine" / "tests" / "fixtures" / "small.ron"


def small_game(tmp_path: Path) -> Path:
    """The engine's small market with a game: the smallest and the largest agent may score their
    own plans 5, in SALE with and without self-scores."""
    text = SMALL.read_text().replace(
        "        Sale(w_c: 0.06, w_h: 2.0, memory: false),", "        Sale(w_c: 0.06, w_h: 2.0, jury: PeerOnly),"
    )
    players = ", ".join(
        f'(agent: "{a}", strategies: [(name: "truthful"), (name: "self 5", strategy: (own_plans: Score(5)))])'
        for a in ("small", "large")
    )
    game = f'    game: (mechanisms: ["SALE", "SALE (peer-scores only)"], players: [{players}], utility: WinShare),\n'
    path = tmp_path / "game.ron"
    path.write_text(text.replace("    ],\n)", "    ],\n" + game + ")"))
    return path


def test_a_game_from_python_is_the_clis(tmp_path):
    scenario = small_game(tmp_path)
    seen = []
    g = tender.game(scenario, episodes=3, out=tmp_path / "py", progress=lambda done, total: seen.append((done, total)))
    subprocess.run([cli(), "game", scenario, "--episodes", "3", "--out", tmp_path / "cli"], check=True, capture_output=True)
    for name in ("payoffs.csv", "profiles.csv"):
        assert (tmp_path / "py" / name).read_text() == (tmp_path / "cli" / name).read_text(), name
    payoffs = g.payoffs.to_pandas()
    # 2 markets x 4 profiles x 2 players, each with its interval.
    assert len(payoffs) == 16 and (payoffs.ci_low <= payoffs.utility).all()
    profiles = g.profiles.to_pandas()
    assert len(profiles) == 8 and profiles.nash.dtype == bool
    assert "Nash" in str(g) and g.out == tmp_path / "py"
    # 4 profiles x 3 episodes x 2 markets, counted to the end.
    assert seen and seen[-1] == (24, 24)


def test_shapley_values_from_python_are_the_clis_and_share_out_the_whole_market(tmp_path):
    s = tender.shapley(SMALL, metric="pass_at_1", episodes=3, out=tmp_path / "py", progress=False)
    subprocess.run(
        [cli(), "shapley", SMALL, "--metric", "pass_at_1", "--episodes", "3", "--out", tmp_path / "cli"],
        check=True,
        capture_output=True,
    )
    for name in ("shapley.csv", "coalitions.csv"):
        assert (tmp_path / "py" / name).read_text() == (tmp_path / "cli" / name).read_text(), name
    values = s.values.to_pandas()
    for (market, metric), group in values.groupby(["mechanism", "metric"]):
        assert math.isclose(group.shapley.sum(), group.grand.iloc[0], rel_tol=1e-9, abs_tol=1e-12), (market, metric)
    assert set(s.coalitions.column("agents")) == {1, 2, 3}
    assert "pass@1" in str(s)


def test_many_runs_refuse_what_cannot_run(tmp_path):
    with pytest.raises(RuntimeError, match="no `game:` block"):
        tender.game(SMALL, episodes=2, out=tmp_path / "g", progress=False)
    with pytest.raises(RuntimeError, match="welfare, pass_at_1 or cost"):
        tender.shapley(SMALL, metric="profit", episodes=2, out=tmp_path / "s", progress=False)
    with pytest.raises(RuntimeError, match="at least 2"):
        tender.shapley(SMALL, episodes=1, progress=False)
    with pytest.raises(RuntimeError, match="live"):
        tender.shapley(ROOT / "scenarios" / "live.ron", episodes=2, out=tmp_path / "l", progress=False)
