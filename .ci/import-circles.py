#!/usr/bin/env python3
"""Fails when a crate's modules import each other in a circle (ARCHITECTURE.md: dependency arrows
run one way). A module's imports are the `crate::` and `super::` paths it names outside its
tests; a module naming its own descendants, or its parent's items, is not a circle."""
import os
import re
import sys

CRATES = ["agents/src", "engine/src", "analysis/src", "src"]


def modules(root):
    found = {}
    for folder, _, files in os.walk(root):
        for f in files:
            if f.endswith(".rs"):
                rel = os.path.relpath(os.path.join(folder, f), root)[:-3]
                name = rel.replace(os.sep, "::").removesuffix("::mod")
                found["" if name in ("lib", "main") else name] = open(os.path.join(folder, f)).read()
    return found


def target(mods, current, path):
    parts = path.split("::")
    if parts[0] == "crate":
        base, parts = [], parts[1:]
    else:
        base = current.split("::")[:-1] if current else []
        parts = parts[1:]
        while parts and parts[0] == "super":
            base, parts = base[:-1], parts[1:]
    for k in range(len(parts), 0, -1):
        name = "::".join(base + parts[:k])
        if name in mods:
            return name
    return None


def edges(mods):
    out = {m: set() for m in mods}
    for m, text in mods.items():
        text = re.sub(r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", "", text, flags=re.S)
        text = re.sub(r"//.*", "", text)
        paths = re.findall(r"\b((?:crate|super)(?:::\w+)+)", text)
        for group in re.findall(r"use\s+crate::\{([^}]*)\}", text):
            paths += ["crate::" + item.strip() for item in group.split(",") if item.strip()]
        for p in paths:
            t = target(mods, m, p)
            if t and t != m and not m.startswith(t + "::") and not t.startswith(m + "::"):
                out[m].add(t)
    return out


def circles(graph):
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


bad = False
for crate in CRATES:
    for c in circles(edges(modules(crate))):
        print(f"{crate}: modules import each other in a circle: {', '.join(c)}")
        bad = True
sys.exit(1 if bad else 0)
