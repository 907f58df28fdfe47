"""A Thompson-sampling bandit router in Python: the engine's `Bandit(cost_weight: 0.0)` written
as a Python mechanism (one Beta posterior per domain, complexity bin and agent, updated from each
execution's success; ties to the cheaper agent). It uses numpy, seeded by the episode's seed, so
an episode's choices depend only on that episode."""

from __future__ import annotations

import numpy as np


class PyBandit:
    name = "bandit (Python)"
    reports = ("explored",)

    def __init__(self) -> None:
        self.arms: dict[tuple[str, int], np.ndarray] = {}  # (domain, bin) -> successes, failures per agent
        self.rng = None

    def choose(self, task, agents, context):
        if self.rng is None:
            self.rng = np.random.default_rng(context["episode_seed"])
        key = (task["domain"], task["bin"])
        arms = self.arms.setdefault(key, np.zeros((len(agents), 2)))
        draws = self.rng.beta(1.0 + arms[:, 0], 1.0 + arms[:, 1])
        # Cheapest first, so that ties go to the cheaper agent.
        order = sorted(range(len(agents)), key=lambda a: agents[a]["price"])
        best = max(order, key=lambda a: draws[a])
        means = (1.0 + arms[:, 0]) / (2.0 + arms.sum(axis=1))
        greedy = max(order, key=lambda a: means[a])
        return agents[best]["name"], {"explored": float(best != greedy)}

    def observe(self, outcome):
        task = outcome["task"]
        arms = self.arms[(task["domain"], task["bin"])]
        agent = outcome["agent_index"]
        arms[agent, 0 if outcome["success"] else 1] += 1.0
