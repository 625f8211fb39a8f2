"""Compile the Jsonnet dashboards into the JSON that Grafana provisions.

``python -m grafana.build`` (or ``make dashboards``) rewrites every
``grafana/dashboards/NAME.json`` from ``NAME.jsonnet``; ``--check`` only reports
drift. A dashboard whose content changed must carry a new ``version`` and a
``grafana/CHANGELOG.md`` entry: ``grafana/versions.lock.json``
remembers the content hash of each version so the build can tell.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import _jsonnet

GRAFANA = Path(__file__).resolve().parent
DASHBOARDS = GRAFANA / "dashboards"
# Outside dashboards/: Grafana's provider would try to load any .json there.
LOCK = GRAFANA / "versions.lock.json"
CHANGELOG = GRAFANA / "CHANGELOG.md"


class BuildError(Exception):
    """A dashboard cannot be built or released as it is; the message names the file."""


def sources() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.jsonnet"))


def compile_source(path: Path) -> dict[str, Any]:
    try:
        text = _jsonnet.evaluate_file(str(path))
    except RuntimeError as e:
        # The jsonnet error already names the file, line and column.
        raise BuildError(str(e).strip()) from None
    data: dict[str, Any] = json.loads(text)
    return data


def render(dashboard: dict[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, sort_keys=True) + "\n"


def content_hash(dashboard: dict[str, Any]) -> str:
    """Hash of everything but ``version``: what a version number stands for."""
    body = {k: v for k, v in dashboard.items() if k != "version"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def changelog_has(uid: str, version: int) -> bool:
    text = CHANGELOG.read_text() if CHANGELOG.exists() else ""
    return f"{uid} v{version}" in text


def build_all() -> tuple[dict[Path, str], dict[str, dict[str, Any]]]:
    """Return the JSON text for every output path and the new version lock."""
    old_lock: dict[str, dict[str, Any]] = json.loads(LOCK.read_text()) if LOCK.exists() else {}
    outputs: dict[Path, str] = {}
    lock: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for src in sources():
        try:
            dash = compile_source(src)
        except BuildError as e:
            problems.append(str(e))
            continue
        uid, version = dash.get("uid"), dash.get("version")
        name = src.relative_to(GRAFANA.parent)
        if not isinstance(uid, str) or not isinstance(version, int):
            problems.append(f"{name}: a dashboard needs a string uid and an integer version")
            continue
        digest = content_hash(dash)
        before = old_lock.get(uid)
        if before and before["hash"] != digest and before["version"] >= version:
            problems.append(
                f"{name}: dashboard {uid} changed but its version is still {version}; "
                f"set version={before['version'] + 1} and add '{uid} v{before['version'] + 1}' to grafana/CHANGELOG.md"
            )
        if not changelog_has(uid, version):
            problems.append(f"{name}: grafana/CHANGELOG.md has no entry for '{uid} v{version}'")
        outputs[src.with_suffix(".json")] = render(dash)
        lock[uid] = {"version": version, "hash": digest}
    if problems:
        raise BuildError("\n".join(problems))
    return outputs, lock


def lock_text(lock: dict[str, dict[str, Any]]) -> str:
    return json.dumps(lock, indent=2, sort_keys=True) + "\n"


def drift() -> list[str]:
    """Files whose committed content differs from a fresh build (empty when in sync)."""
    outputs, lock = build_all()
    stale = [
        str(p.relative_to(GRAFANA.parent))
        for p, text in outputs.items()
        if not p.exists() or p.read_text() != text
    ]
    if not LOCK.exists() or LOCK.read_text() != lock_text(lock):
        stale.append(str(LOCK.relative_to(GRAFANA.parent)))
    orphans = set(DASHBOARDS.glob("*.json")) - set(outputs)
    stale += [f"{p.relative_to(GRAFANA.parent)} (no .jsonnet source)" for p in sorted(orphans)]
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grafana.build", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report drift, write nothing; exit 1 on drift")
    args = parser.parse_args(argv)
    try:
        if args.check:
            stale = drift()
            for s in stale:
                print(f"out of date: {s} (run make dashboards)", file=sys.stderr)
            return 1 if stale else 0
        outputs, lock = build_all()
    except BuildError as e:
        print(f"grafana build failed:\n{e}", file=sys.stderr)
        return 2
    for path, text in outputs.items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(GRAFANA.parent)}")
    if not LOCK.exists() or LOCK.read_text() != lock_text(lock):
        LOCK.write_text(lock_text(lock))
    return 0


if __name__ == "__main__":
    sys.exit(main())
