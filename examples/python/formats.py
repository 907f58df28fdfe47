"""Sizes, write and read times of a run's per-task rows as CSV, gzip CSV and Parquet.

Runs `tender run` on a scenario (default: the paper-sized hst-bench) with `--tasks none`,
`--tasks csv`, `--tasks gzip` and `--format parquet`, best of `--repeats` each; a form's write
time is its run's time less the run without per-task rows. Then reads each file with pandas,
polars, pyarrow and DuckDB (best of `--repeats`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow.csv
import pyarrow.parquet

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--scenario", default=str(ROOT / "scenarios" / "hst-bench.ron"))
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tender", default=os.environ.get("TENDER_BIN", str(ROOT / "target" / "release" / "tender")))
    a = p.parse_args()
    forms = {
        "none": ["--tasks", "none"],
        "tasks.csv": ["--tasks", "csv"],
        "tasks.csv.gz": ["--tasks", "gzip"],
        "tasks.parquet": ["--format", "parquet"],
    }
    work = Path(tempfile.mkdtemp())
    times = {}
    for name, flags in forms.items():
        best = float("inf")
        for _ in range(a.repeats):
            start = time.perf_counter()
            subprocess.run(
                [a.tender, "run", a.scenario, "--episodes", str(a.episodes), "--no-plots", "--out", work / name.replace(".", "-"), *flags],
                check=True,
                capture_output=True,
            )
            best = min(best, time.perf_counter() - start)
        times[name] = best

    def timed(read) -> float:
        best = float("inf")
        for _ in range(a.repeats):
            start = time.perf_counter()
            read()
            best = min(best, time.perf_counter() - start)
        return best

    readers = {
        "tasks.csv": {
            "pandas": lambda f: pd.read_csv(f, low_memory=False),
            "polars": lambda f: pl.read_csv(f, infer_schema_length=None),
            "pyarrow": lambda f: pyarrow.csv.read_csv(f),
            "duckdb": lambda f: duckdb.sql(f"select * from read_csv_auto('{f}')").arrow(),
        },
        "tasks.csv.gz": {
            "pandas": lambda f: pd.read_csv(f, low_memory=False),
            "polars": None,
            "pyarrow": lambda f: pyarrow.csv.read_csv(f),
            "duckdb": lambda f: duckdb.sql(f"select * from read_csv_auto('{f}')").arrow(),
        },
        "tasks.parquet": {
            "pandas": lambda f: pd.read_parquet(f),
            "polars": lambda f: pl.read_parquet(f),
            "pyarrow": lambda f: pyarrow.parquet.read_table(f),
            "duckdb": lambda f: duckdb.sql(f"select * from '{f}'").arrow(),
        },
    }
    print(f"{a.scenario}, {a.episodes} episodes, best of {a.repeats}")
    print("| file | size MB | write s | pandas s | polars s | pyarrow s | duckdb s |")
    print("|---|---|---|---|---|---|---|")
    for name, read in readers.items():
        f = work / name.replace(".", "-") / name
        size = f.stat().st_size / 1e6
        write = times[name] - times["none"]
        cells = ["-" if r is None else f"{timed(lambda: r(f)):.2f}" for r in read.values()]
        print(f"| {name} | {size:.1f} | {write:.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
