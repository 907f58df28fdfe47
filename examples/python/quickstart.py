# %% [markdown]
# # Tender from a notebook
#
# The quickstart market from Python: run it, compare SALE with the 32B agent alone (paired by
# episode), plot, sweep one stand-in parameter, and run a mechanism written in Python beside
# the engine's. Each `# %%` is a notebook cell (Jupyter, VS Code); `python quickstart.py` runs
# them all. `TENDER_EPISODES` sets the episodes (default 20) and `TENDER_PLOTS` the folder the
# figures go to (default: shown, not saved).

# %%
import os
import sys
from pathlib import Path

import matplotlib

if os.environ.get("TENDER_PLOTS"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt

import tender

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EPISODES = int(os.environ.get("TENDER_EPISODES", "20"))
PLOTS = os.environ.get("TENDER_PLOTS")


def show(fig, name):
    if PLOTS:
        Path(PLOTS).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(PLOTS) / f"{name}.png", dpi=120, bbox_inches="tight")
        plt.close(fig)
    else:
        plt.show()


# %% Run the quickstart.
scenario = tender.load(ROOT / "scenarios" / "quickstart.ron").with_(episodes=EPISODES)
result = tender.run(scenario)
summary = result.summary.to_pandas()
overall = summary[(summary.scope == "all") & (summary.metric.isin(["pass_at_1", "usd_per_delivered_mtok"]))]
print(overall.pivot(index="mechanism", columns="metric", values="mean").round(3))

# %% SALE against the 32B agent alone, paired by episode.
for metric in ("pass_at_1", "usd_per_delivered_mtok"):
    print(tender.compare(result, "SALE", "qwen3-32b alone", metric=metric))

# %% Accuracy against cost, with 95% intervals.
pass1 = summary[(summary.scope == "all") & (summary.metric == "pass_at_1")].set_index("mechanism")
cost = summary[(summary.scope == "all") & (summary.metric == "usd_per_delivered_mtok")].set_index("mechanism")
fig, ax = plt.subplots(figsize=(6, 4))
for name in pass1.index:
    ax.errorbar(
        cost.loc[name, "mean"],
        pass1.loc[name, "mean"],
        yerr=[[pass1.loc[name, "mean"] - pass1.loc[name, "ci_low"]], [pass1.loc[name, "ci_high"] - pass1.loc[name, "mean"]]],
        fmt="o",
        capsize=3,
    )
    ax.annotate(name, (cost.loc[name, "mean"], pass1.loc[name, "mean"]), fontsize=7, xytext=(4, 2), textcoords="offset points")
ax.set_xlabel("$ per million delivered tokens")
ax.set_ylabel("pass@1")
ax.set_title("The quickstart market")
show(fig, "quality-cost")

# %% Sweep one stand-in parameter: how correlated the agents' successes are.
rows = []
for shared in (0.2, 0.4, 0.6, 0.8):
    r = tender.run(scenario.with_(**{"standins.shared_difficulty": shared}), progress=False)
    gain = tender.compare(r, "SALE", "qwen3-32b alone")
    rows.append((shared, gain.mean, gain.ci_low, gain.ci_high))
    print(f"shared_difficulty {shared}: {gain}")
fig, ax = plt.subplots(figsize=(6, 4))
x = [r[0] for r in rows]
ax.errorbar(x, [r[1] for r in rows], yerr=[[r[1] - r[2] for r in rows], [r[3] - r[1] for r in rows]], fmt="o-", capsize=3)
ax.axhline(0, color="grey", lw=0.8)
ax.set_xlabel("standins.shared_difficulty")
ax.set_ylabel("SALE's pass@1 gain over the 32B agent alone")
show(fig, "sweep-shared-difficulty")

# %% A mechanism written in Python, beside the engine's, on the same draws.
sys.path.insert(0, str(HERE))
from bandit import PyBandit  # noqa: E402

with_bandit = tender.run(scenario, mechanisms=[PyBandit])
print(tender.compare(with_bandit, "bandit (Python)", "random"))
tasks = with_bandit.tasks.to_pandas()
explored = tasks[tasks.mechanism == "bandit (Python)"].groupby(tasks.step // 40)["explored"].mean()
fig, ax = plt.subplots(figsize=(6, 4))
explored.plot(ax=ax, marker="o")
ax.set_xlabel("step along the stream (blocks of 40 tasks)")
ax.set_ylabel("share of picks that explored")
ax.set_title("The Python bandit explores less as it learns")
show(fig, "python-bandit")
