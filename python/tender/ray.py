"""Sweeps on a Ray cluster: each shard of a sweep a Ray task, merged into one folder.

    import ray, tender.ray
    ray.init(address="auto")            # or let tender.ray connect to RAY_ADDRESS / a running cluster
    result = tender.ray.sweep("scenarios/quickstart.ron", {"standins.shared_difficulty": [0.2, 0.4, 0.6]},
                              replications=20, shards=8, out="results/ray-sweep")

Every node needs the `tender` package (the same version) and the scenario's files (its task file,
if any) at the same path, as SLURM shards do. Each task runs one shard with `tender.sweep(...,
shard=(k, n))` into a folder of its own on its node and sends the folder's files back; the driver
writes them beside `out` and merges them with `tender merge`, so the result is byte for byte the
sweep one machine would have written (tested on a two-node cluster on loopback).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional, Union

from . import Scenario, SweepResult, load, merge
from . import sweep as local_sweep


def _run_shard(text: str, folder: str, values: dict, k: int, n: int, options: dict) -> tuple[str, dict[str, bytes]]:
    """One shard on a worker: the node it ran on, and the shard folder's files."""
    import ray

    work = Path(tempfile.mkdtemp(prefix=f"tender-shard-{k}-"))
    try:
        scenario = load(text, base=folder)
        out = work / "shard"
        local_sweep(scenario, values, shard=(k, n), out=out, progress=False, **options)
        node = ray.get_runtime_context().get_node_id()
        return node, {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def sweep(
    scenario: Union[Scenario, str, "os.PathLike[str]"],
    set: dict[str, Any],
    *,
    shards: Optional[int] = None,
    design: str = "grid",
    replications: Optional[int] = None,
    independent_draws: bool = False,
    jobs_per_shard: Optional[int] = None,
    out: Union[str, "os.PathLike[str]"],
    address: Optional[str] = None,
) -> SweepResult:
    """`tender.sweep` with its points spread over a Ray cluster as `shards` tasks (default: the
    cluster's CPUs), merged into `out`. Connects to `address` (or `RAY_ADDRESS`, or a running
    local cluster) unless Ray is initialised already. The result's `nodes` lists the Ray nodes
    the shards ran on."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address or os.environ.get("RAY_ADDRESS") or "auto", log_to_driver=False)
    if not isinstance(scenario, Scenario):
        scenario = load(scenario)
    n = shards or max(1, int(ray.cluster_resources().get("CPU", 1)))
    options = dict(design=design, replications=replications, independent_draws=independent_draws, jobs=jobs_per_shard)
    task = ray.remote(num_cpus=1)(_run_shard)
    text, folder = scenario.to_ron(), str(Path(scenario.folder).resolve())
    futures = [task.remote(text, folder, set, k, n, options) for k in range(1, n + 1)]
    out = Path(out)
    staging = Path(tempfile.mkdtemp(prefix="tender-ray-"))
    try:
        folders, nodes = [], {}  # (`set` is the swept values here)
        for k, (node, files) in enumerate(ray.get(futures), start=1):
            nodes[node] = True
            d = staging / f"shard-{k}"
            d.mkdir()
            for name, data in files.items():
                (d / name).write_bytes(data)
            folders.append(d)
        merge(out, folders)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    # Reopening the merged folder computes nothing and gives its tables.
    result = local_sweep(scenario, set, out=out, progress=False, **options)
    result.nodes = sorted(nodes)
    return result
