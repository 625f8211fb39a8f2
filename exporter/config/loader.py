"""Load a YAML config file into ``Config``, listing every problem at once.

Each problem names the file, the key path in the form users write it
(``solana.endpoints[1].url``), the line when it is known, and what is wrong.
Secrets come from ``${ENV}`` interpolation or from ``<field>_file`` keys of the fields a section
declares (``Section.secret_file_fields``), resolved here so that the rest of the exporter only
ever sees plain values.
"""

from __future__ import annotations

import os
import re
import stat
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from exporter.config.base import MULTI_ERROR, Loc, Section, format_path
from exporter.config.hidden import hidden_problems
from exporter.config.model import Config

__all__ = [
    "ConfigError",
    "format_path",
    "format_problems",
    "line_map",
    "load_config",
    "load_yaml_file",
    "parse_yaml",
    "read_text",
    "validation_problems",
    "yaml_problem",
]

#: Largest ``*_file`` secret read (a URL, a DSN); anything bigger is refused, not read.
MAX_SECRET_BYTES = 64 * 1024
#: Largest config or web config file read.
MAX_CONFIG_BYTES = 16 * 1024 * 1024

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_MERGE_TAG = "tag:yaml.org,2002:merge"


class ConfigError(Exception):
    """The config file is unusable; ``problems`` lists every reason, one line each."""

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# --- reading and parsing (shared with the web config) -----------------------------------------


def _not_utf8(raw: bytes, e: UnicodeDecodeError) -> str:
    line = raw.count(b"\n", 0, e.start) + 1
    return f"not UTF-8 text: invalid byte 0x{raw[e.start]:02x} on line {line}"


def read_text(path: str, what: str) -> str:
    """The file's text; ``ConfigError`` when it cannot be read or is not UTF-8."""
    try:
        # Bounded: `--config /dev/zero` must not fill the memory (a FIFO, e.g. `<(...)`, is fine).
        with Path(path).open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigError(path, [f"{path}: cannot read {what}: {e.strerror}"]) from None
    except ValueError:  # e.g. a NUL byte in the path
        raise ConfigError(path, [f"{path!r}: cannot read {what}: not a usable file path"]) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            path, [f"{path}: the {what} is larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MiB"]
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(path, [f"{path}: {_not_utf8(raw, e)}"]) from None


#: Most values a document may hold once its aliases are expanded. Anchors and merge keys stay
#: usable; nine levels of nine aliases (387 million values, an "alias bomb") do not.
MAX_EXPANDED_VALUES = 100_000
#: Longest integer literal accepted.
MAX_INT_DIGITS = 64


class DuplicateKeyError(yaml.constructor.ConstructorError):
    pass


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping.

    PyYAML keeps the last one silently: a second ``balances:`` block would drop the first.
    Keys brought in by a ``<<`` merge may be overridden, as YAML intends.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:  # unhashable: the base class reports it
                    continue
                if first is not key_node:
                    raise DuplicateKeyError(
                        None,
                        None,
                        f"key {key_node.value!r} is given twice in one mapping (first on line "
                        f"{first.start_mark.line + 1}); YAML would silently keep only the last one",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        # Python refuses to turn more than 4,300 digits into an int (a ValueError, not a YAML
        # error); no setting needs more than a u64's 20.
        digits = sum(c.isdigit() for c in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"an integer of {digits} digits (at most {MAX_INT_DIGITS} are accepted)",
                node.start_mark,
            )
        return int(super().construct_yaml_int(node))


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)


class AliasBombError(yaml.composer.ComposerError):
    pass


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int]) -> int:
    """Values ``node`` stands for with its aliases expanded; raise past ``MAX_EXPANDED_VALUES``.

    Shared nodes (an anchor used many times) are sized once, so this is linear in the document.
    """
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:  # an alias inside its own anchor: infinite
        raise AliasBombError(None, None, "a YAML alias refers to itself", node.start_mark)
    open_nodes.add(key)
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(item, sizes, open_nodes) for item in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(
            _expanded_size(k, sizes, open_nodes) + _expanded_size(v, sizes, open_nodes) for k, v in node.value
        )
    open_nodes.discard(key)
    if size > MAX_EXPANDED_VALUES:
        raise AliasBombError(
            None,
            None,
            f"aliases expand to more than {MAX_EXPANDED_VALUES} values (an alias bomb?)",
            node.start_mark,
        )
    sizes[key] = size
    return size


def parse_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """(node tree, data) of one YAML document; raises ``yaml.YAMLError`` or ``RecursionError``."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _expanded_size(node, {}, set())
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return node, data


def yaml_problem(path: str, e: yaml.YAMLError, text: str) -> str:
    """One line for a YAML error: ``path:line: ...``."""
    if isinstance(e, yaml.reader.ReaderError):  # knows the character offset, not the line
        line = text.count("\n", 0, e.position) + 1 if isinstance(e.position, int) else None
        char = f"#x{e.character:04x}" if isinstance(e.character, int) else repr(e.character)
        return f"{path}{f':{line}' if line else ''}: invalid YAML: unacceptable character {char}"
    mark = getattr(e, "problem_mark", None)
    where = f":{mark.line + 1}" if mark is not None else ""
    problem = str(getattr(e, "problem", None) or e)
    if isinstance(e, DuplicateKeyError):
        return f"{path}{where}: {problem}"
    return f"{path}{where}: invalid YAML: {' '.join(problem.split())}"


# --- interpolation --------------------------------------------------------------------------


def _section_of(annotation: Any) -> type[Section] | None:
    """The section type a field holds (itself, in a list, or optional); None for anything else."""
    if isinstance(annotation, type) and issubclass(annotation, Section):
        return annotation
    for arg in typing.get_args(annotation):
        if (found := _section_of(arg)) is not None:
            return found
    return None


class _Interpolation:
    """Expands ``${VAR}`` / ``${VAR:-default}`` and reads ``<field>_file`` secrets, collecting problems.

    The data is walked beside the model, so that ``url_file`` is read only where a section
    declares ``url`` a secret file field: ``static_labels: {source_file: x}`` stays a label.
    """

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.problems: list[tuple[Loc, str]] = []
        #: Key paths whose value could not be produced: their follow-up errors are noise.
        self.failed: set[Loc] = set()

    def value(self, value: Any, loc: Loc, section: type[Section] | None) -> Any:
        """``section``: the model of ``value`` when it is a mapping, or of each item of a list."""
        if isinstance(value, str):
            return self._string(value, loc)
        if isinstance(value, list):
            return [self.value(v, loc + (i,), section) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return self._mapping(value, loc, section)
        return value

    def _string(self, value: str, loc: Loc) -> str:
        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            self.problems.append((loc, f"environment variable {name} is not set"))
            self.failed.add(loc)
            return ""

        return _ENV_RE.sub(repl, value)

    def _mapping(self, value: dict[Any, Any], loc: Loc, section: type[Section] | None) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        fields = section.model_fields if section is not None else {}
        secrets = section.secret_file_fields if section is not None else frozenset()
        for k, v in value.items():
            target = k[: -len("_file")] if isinstance(k, str) and k.endswith("_file") else None
            child = _section_of(fields[k].annotation) if k in fields else None
            v = self.value(v, loc + (k,), child)
            if target in secrets and isinstance(v, str):
                if target in value:
                    self.problems.append((loc + (k,), f"set either {target} or {k}, not both"))
                    continue
                content = self._read_secret(v, loc + (k,))
                if content is None:
                    self.failed.add(loc + (target,))
                else:
                    out[target] = content
                continue
            out[k] = v
        return out

    def _read_secret(self, name: str, loc: Loc) -> str | None:
        """A ``*_file`` value's content, trimmed; None (and a problem) when unusable.

        Only a regular file of at most ``MAX_SECRET_BYTES``: ``/dev/zero`` would fill the memory,
        a FIFO would block the start forever.
        """
        file_path = Path(name) if Path(name).is_absolute() else self.base_dir / name
        try:
            if not stat.S_ISREG(file_path.stat().st_mode):
                self.problems.append((loc, f"{file_path} is not a regular file"))
                return None
            with file_path.open("rb") as f:
                raw = f.read(MAX_SECRET_BYTES + 1)
            if len(raw) > MAX_SECRET_BYTES:
                self.problems.append((loc, f"{file_path} is larger than {MAX_SECRET_BYTES // 1024} KiB"))
                return None
        except OSError as e:
            self.problems.append((loc, f"cannot read {file_path}: {e.strerror}"))
            return None
        except ValueError:  # e.g. a NUL byte in the path
            self.problems.append((loc, f"{name!r} is not a usable file path"))
            return None
        try:
            return raw.decode("utf-8").strip()
        except UnicodeDecodeError as e:
            # The content is a secret: say where the bad byte is, never what surrounds it.
            self.problems.append((loc, f"{file_path}: {_not_utf8(raw, e)}"))
            return None


# --- validation -----------------------------------------------------------------------------


def line_map(node: yaml.Node, loc: Loc, out: dict[Loc, int]) -> None:
    """Record the 1-based line of every key path, so errors can point at it."""
    out[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            line_map(value_node, loc + (key,), out)
            out[loc + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            line_map(item, loc + (i,), out)


def line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of ``loc``, else of its nearest enclosing key (a missing key: its section)."""
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _describe(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "finite_number":
        return "must be a finite number (not .inf or .nan)"
    msg = str(err.get("msg", "invalid value"))
    return msg.removeprefix("Value error, ")


def validation_problems(e: ValidationError) -> list[tuple[Loc, str]]:
    out: list[tuple[Loc, str]] = []
    for err in e.errors():
        loc: Loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        if err.get("type") == MULTI_ERROR:
            out += [(loc + tuple(sub), msg) for sub, msg in err["ctx"]["problems"]]
        else:
            out.append((loc, _describe(dict(err))))
    return out


def _is_follow_up(loc: Loc, message: str, failed: set[Loc]) -> bool:
    """An error caused by a value that interpolation already reported as unusable."""
    if loc in failed:
        return True
    # e.g. "driver postgres needs dsn (or dsn_file)" on the database, when dsn_file failed
    return any(loc == f[:-1] and isinstance(f[-1], str) and f"{f[-1]}_file" in message for f in failed)


def load_yaml_file(path: str, what: str) -> tuple[Any, dict[Loc, int]]:
    """(data, line of each key path) of a YAML file; ``ConfigError`` naming the file and line
    when it cannot be read, is not UTF-8 or is not valid YAML."""
    text = read_text(path, what)
    try:
        node, raw = parse_yaml(text)
    except yaml.YAMLError as e:
        raise ConfigError(path, [yaml_problem(path, e, text)]) from None
    except RecursionError:
        raise ConfigError(path, [f"{path}: invalid YAML: nesting is too deep"]) from None
    lines: dict[Loc, int] = {}
    try:
        if node is not None:
            line_map(node, (), lines)
    except RecursionError:
        raise ConfigError(path, [f"{path}: a YAML alias refers to itself (or nesting is too deep)"]) from None
    return raw, lines


def load_config(path: str | os.PathLike[str]) -> Config:
    """Parse, interpolate and validate; raise ``ConfigError`` with every problem found."""
    path = str(path)
    raw, lines = load_yaml_file(path, "config file")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(path, [f"{path}: the top level must be a mapping of sections"])
    base_dir = Path(path).resolve().parent
    interp = _Interpolation(base_dir)
    try:
        data = interp.value(raw, (), Config)
    except RecursionError:
        raise ConfigError(path, [f"{path}: a YAML alias refers to itself (or nesting is too deep)"]) from None
    found = list(interp.problems)
    config: Config | None = None
    try:
        config = Config.model_validate(data, context={"base_dir": str(base_dir)})
    except ValidationError as e:
        found += [
            (loc, msg) for loc, msg in validation_problems(e) if not _is_follow_up(loc, msg, interp.failed)
        ]
        found += hidden_problems(data, found, lambda d: _problems_of(d, str(base_dir)))
    if found or config is None:
        raise ConfigError(path, format_problems(path, lines, found) or [f"{path}: invalid config"])
    return config


def _problems_of(data: Any, base_dir: str) -> list[tuple[Loc, str]]:
    try:
        Config.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as e:
        return validation_problems(e)
    return []


def format_problems(path: str, lines: dict[Loc, int], found: Sequence[tuple[Loc, str]]) -> list[str]:
    """``path:line: key.path: message``, one line per problem."""
    out = []
    for loc, msg in found:
        line = line_of(lines, loc)
        out.append(
            f"{path}:{line}: {format_path(loc)}: {msg}" if line else f"{path}: {format_path(loc)}: {msg}"
        )
    return out
