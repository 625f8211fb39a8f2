"""Just enough PromQL lexing to lint dashboard queries without a Prometheus at hand.

Not a parser: it finds metric names, checks that brackets balance and that every
counter sits inside ``rate``/``irate``/``increase``. A real Prometheus parses the
queries in the end-to-end test (see ``grafana.queries``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
      |(?P<duration>\[[^\]]*\])
      |(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
      |(?P<offset>[0-9]+(?:ms|[smhdwy])(?![A-Za-z0-9_]))
      |(?P<number>[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)
      |(?P<var>\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)
      |(?P<punct>[(){},]|[-+*/%^]|==|!=|<=|>=|=~|!~|[<>=])
      |(?P<space>\s+)
    """,
    re.VERBOSE,
)

KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
}  # fmt: skip
#: Functions whose first argument may be a raw counter.
COUNTER_FUNCS = {"rate", "irate", "increase"}
#: Not ``_sum``/``_count``: gauges such as ``escrow_program_account_field_sum`` end that way
#: too; callers that know their histograms pass ``is_counter``.
COUNTER_SUFFIXES = ("_total", "_bucket")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int


class PromQLSyntaxError(ValueError):
    pass


def tokenize(expr: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.lastgroup is None:
            raise PromQLSyntaxError(f"unexpected character {expr[pos]!r} at offset {pos}")
        if m.lastgroup != "space":
            tokens.append(Token(m.lastgroup, m.group(), pos))
        pos = m.end()
    return tokens


def check_balanced(expr: str) -> None:
    """Raise ``PromQLSyntaxError`` unless (), {} and [] nest properly and strings close."""
    tokens = tokenize(expr)
    stack: list[Token] = []
    pairs = {")": "(", "}": "{"}
    for tok in tokens:
        if tok.text in ("(", "{"):
            stack.append(tok)
        elif tok.text in pairs:
            if not stack or stack[-1].text != pairs[tok.text]:
                raise PromQLSyntaxError(f"unbalanced {tok.text!r} at offset {tok.pos}")
            stack.pop()
        elif tok.kind == "duration" and not re.fullmatch(r"\[(\$\{?\w+\}?|\d+[smhdwy])(:\S*)?\]", tok.text):
            raise PromQLSyntaxError(f"bad range {tok.text} at offset {tok.pos}")
    if stack:
        raise PromQLSyntaxError(f"unclosed {stack[-1].text!r} at offset {stack[-1].pos}")


@dataclass(frozen=True)
class MetricUse:
    name: str
    #: Name of the innermost function call around the selector, or "" at top level.
    enclosing_func: str
    #: Whether a range ``[...]`` follows the selector (a range vector).
    has_range: bool
    #: The label matchers as written, without braces (e.g. ``job=~"$job",mint="SOL"``).
    matchers: str = ""


def metric_uses(expr: str) -> list[MetricUse]:
    """Every series selector's metric name, with the function call that encloses it."""
    tokens = tokenize(expr)
    uses: list[MetricUse] = []
    # Stack of the identifier before each open paren ("" for a bare paren or a label list).
    parens: list[str] = []
    in_braces = 0
    label_list = False  # inside by(...)/on(...) etc.: identifiers are label names
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.text == "{":
            in_braces += 1
        elif tok.text == "}":
            in_braces -= 1
        elif tok.text == "(":
            prev = tokens[i - 1] if i else None
            name = prev.text if prev is not None and prev.kind == "ident" else ""
            label_list = name in KEYWORDS
            parens.append(name)
        elif tok.text == ")":
            if parens:
                parens.pop()
            label_list = False
        elif tok.kind == "ident" and not in_braces and not label_list:
            if tok.text in KEYWORDS or (
                nxt is not None and (nxt.text == "(" or nxt.text in ("by", "without"))
            ):
                continue  # a keyword, a function name, or an aggregation written "sum by (...) (...)"
            j = i + 1
            matchers = ""
            if nxt is not None and nxt.text == "{":
                while j < len(tokens) and tokens[j].text != "}":
                    j += 1
                matchers = expr[nxt.pos + 1 : tokens[j].pos] if j < len(tokens) else expr[nxt.pos + 1 :]
                j += 1
            has_range = j < len(tokens) and tokens[j].kind == "duration"
            uses.append(MetricUse(tok.text, parens[-1] if parens else "", has_range, matchers.strip()))
    return uses


def is_counter(name: str) -> bool:
    return name.endswith(COUNTER_SUFFIXES)


def bare_counters(expr: str, counter: Callable[[str], bool] = is_counter) -> list[str]:
    """Counters used other than as ``rate/irate/increase(counter[range])``."""
    return [
        u.name
        for u in metric_uses(expr)
        if counter(u.name) and not (u.enclosing_func in COUNTER_FUNCS and u.has_range)
    ]


def range_functions(expr: str) -> list[tuple[str, str]]:
    """``(function, range)`` for every ``func(selector[range])`` in the expression."""
    out: list[tuple[str, str]] = []
    tokens = tokenize(expr)
    for i, tok in enumerate(tokens):
        if tok.kind != "duration":
            continue
        # Walk back to the "(" that opens the enclosing call.
        depth = 0
        for j in range(i - 1, -1, -1):
            t = tokens[j].text
            if t in (")", "}"):
                depth += 1
            elif t in ("(", "{"):
                if depth == 0 and t == "(":
                    func = tokens[j - 1].text if j and tokens[j - 1].kind == "ident" else ""
                    out.append((func, tok.text[1:-1]))
                    break
                depth -= 1
    return out
