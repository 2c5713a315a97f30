#!/usr/bin/env python3
"""The module map of service/src: which top-level module uses which (`crate::…` paths outside
comments and test modules), printed in layers where every module uses only modules of lower
layers. Exits 1, naming the modules, if the uses form a cycle. docs/design.md shows its output;
CI runs it so the map stays true."""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..", "service", "src")


def uses() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for directory, _, files in os.walk(ROOT):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(directory, name)
            module = os.path.relpath(path, ROOT).split(os.sep)[0].removesuffix(".rs")
            if module in ("lib", "main"):
                continue
            text = open(path, encoding="utf-8").read()
            text = re.split(r"#\[cfg\(test\)\]\s*mod tests", text)[0]
            text = "\n".join(l for l in text.split("\n") if not l.strip().startswith("//"))
            found = set(re.findall(r"crate::([a-z_]+)", text))
            for block in re.findall(r"crate::\{(.*?)\};", text, re.S):
                depth, token = 0, ""
                for ch in block + ",":
                    depth += ch == "{"
                    depth -= ch == "}"
                    if depth == 0 and ch == ",":
                        found.add(token.strip().split("::")[0])
                        token = ""
                    elif depth == 0:
                        token += ch
            graph.setdefault(module, set()).update(m for m in found if m and m != module)
    return {m: {d for d in deps if d in graph} for m, deps in graph.items()}


def layers(graph: dict[str, set[str]]) -> list[list[str]]:
    placed: dict[str, int] = {}
    remaining = set(graph)
    while remaining:
        ready = sorted(m for m in remaining if graph[m] <= placed.keys())
        if not ready:
            sys.exit(f"module cycle among: {', '.join(sorted(remaining))}")
        for m in ready:
            placed[m] = 1 + max((placed[d] for d in graph[m]), default=-1)
        remaining -= set(ready)
    result: list[list[str]] = [[] for _ in range(max(placed.values()) + 1)]
    for m, layer in placed.items():
        result[layer].append(m)
    return [sorted(layer) for layer in result]


def main() -> None:
    graph = uses()
    for number, layer in enumerate(layers(graph)):
        row = "; ".join(f"{m} → {', '.join(sorted(graph[m])) or '—'}" for m in layer)
        print(f"{number}. {row}")


if __name__ == "__main__":
    main()
