"""What a mechanism written in Python costs per task, against the same mechanism in Rust.

The quickstart's pool and tasks, one thread, the engine's Thompson bandit (`Bandit(cost_weight:
0.0)`) against `bandit.py`'s, each beside `Random` alone; the best of `--repeats` runs of each.
Prints the time per task of each and the difference: the price of writing a mechanism in Python.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import tender

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bandit import PyBandit  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    text = (HERE.parents[1] / "scenarios" / "quickstart.ron").read_text()
    mechanisms = re.compile(r"mechanisms: \[.*?\],\n\)", re.S)
    rust = tender.load(mechanisms.sub("mechanisms: [Random, Bandit(cost_weight: 0.0)],\n)", text))
    alone = tender.load(mechanisms.sub("mechanisms: [Random],\n)", text))

    def best(run) -> float:
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return min(times)

    kw = dict(episodes=args.episodes, jobs=1, progress=False)
    t_rust = best(lambda: tender.run(rust, **kw))
    t_python = best(lambda: tender.run(alone, mechanisms=[PyBandit], **kw))
    tasks = args.episodes * len(tender.run(alone, episodes=1, progress=False).tasks)
    r = tender.run(alone, mechanisms=[PyBandit], episodes=args.episodes, progress=False)
    e = tender.run(rust, episodes=args.episodes, progress=False)
    print(f"{tasks} tasks a mechanism, one thread, best of {args.repeats}")
    print(f"Random + Rust bandit:   {t_rust / tasks * 1e6:8.1f} µs a task")
    print(f"Random + Python bandit: {t_python / tasks * 1e6:8.1f} µs a task")
    print(f"Python's overhead:      {(t_python - t_rust) / tasks * 1e6:8.1f} µs a task")
    print(f"pass@1 - random: Rust bandit {e.compare('bandit (Thompson)', 'random').mean:+.3f}, "
          f"Python bandit {r.compare('bandit (Python)', 'random').mean:+.3f}")


if __name__ == "__main__":
    main()
