"""Load a YAML config file into ``Config``, listing every problem at once.

Each problem names the file, the key path in the form users write it
(``solana.endpoints[1].url``), the line when it is known, and what is wrong.
Secrets come from ``${ENV}`` interpolation or from ``*_file`` keys, resolved here
so that the rest of the exporter only ever sees plain values.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from exporter.config.model import Config

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """The config file is unusable; ``problems`` lists every reason, one line each."""

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def format_path(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _line_map(node: yaml.Node, loc: tuple[str | int, ...], out: dict[tuple[str | int, ...], int]) -> None:
    """Record the 1-based line of every key path, so errors can point at it."""
    out[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[loc + (key,)] = key_node.start_mark.line + 1
            _line_map(value_node, loc + (key,), out)
            out[loc + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, loc + (i,), out)


def _interpolate(value: Any, loc: tuple[str | int, ...], base_dir: Path, problems: list[str]) -> Any:
    """Expand ``${VAR}`` / ``${VAR:-default}`` and read ``*_file`` keys; collect problems."""
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            problems.append(f"{format_path(loc)}: environment variable {name} is not set")
            return ""

        return _ENV_RE.sub(repl, value)
    if isinstance(value, list):
        return [_interpolate(v, loc + (i,), base_dir, problems) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            v = _interpolate(v, loc + (k,), base_dir, problems)
            if isinstance(k, str) and k.endswith("_file") and isinstance(v, str) and k != "state_file":
                target = k[: -len("_file")]
                if target in value:
                    problems.append(f"{format_path(loc + (k,))}: set either {target} or {k}, not both")
                    continue
                file_path = Path(v) if Path(v).is_absolute() else base_dir / v
                try:
                    out[target] = file_path.read_text().strip()
                except OSError as e:
                    problems.append(f"{format_path(loc + (k,))}: cannot read {file_path}: {e.strerror}")
                except ValueError:  # e.g. a NUL byte in the path
                    problems.append(f"{format_path(loc + (k,))}: {v!r} is not a usable file path")
                continue
            out[k] = v
        return out
    return value


def _describe(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    msg = str(err.get("msg", "invalid value"))
    return msg.removeprefix("Value error, ")


def load_config(path: str | os.PathLike[str]) -> Config:
    """Parse, interpolate and validate; raise ``ConfigError`` with every problem found."""
    path = str(path)
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ConfigError(path, [f"{path}: cannot read config file: {e.strerror}"]) from None
    try:
        node = yaml.compose(text)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(path, [f"{path}{where}: invalid YAML: {problem}"]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(path, [f"{path}: the top level must be a mapping of sections"])
    lines: dict[tuple[str | int, ...], int] = {}
    problems: list[str] = []
    try:
        if node is not None:
            _line_map(node, (), lines)
        data = _interpolate(raw, (), Path(path).resolve().parent, problems)
    except RecursionError:
        raise ConfigError(path, [f"{path}: a YAML alias refers to itself (or nesting is too deep)"]) from None
    config: Config | None = None
    try:
        config = Config.model_validate(data, context={"base_dir": str(Path(path).resolve().parent)})
    except ValidationError as e:
        for err in e.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            line = lines.get(loc) or lines.get(loc[:-1])
            where = f"{path}:{line}" if line else path
            problems.append(f"{where}: {format_path(loc)}: {_describe(dict(err))}")
    problems = [p if p.startswith(path) else f"{path}: {p}" for p in problems]
    if problems or config is None:
        raise ConfigError(path, problems)
    return config
