"""The ListQueues `filter`: comparisons on `state`, combined with AND, OR, NOT and ().

Grammar (a subset of the Cloud Logging filter syntax the API documents):
    expr    := term ("OR" term)*
    term    := factor ("AND"? factor)*          # juxtaposition means AND
    factor  := ("NOT" | "-") factor | "(" expr ")" | compare
    compare := "state" (":" | "=" | "!=") STATE
"""

from __future__ import annotations

import re
from collections.abc import Callable

from emulator.core import errors
from emulator.store.records import Queue, QueueState

Predicate = Callable[[Queue], bool]

_TOKEN = re.compile(r"\s*(!=|[:=()\-]|[A-Za-z_][A-Za-z0-9_.]*|\"[^\"]*\"|\S)")
_FIELDS = {"state"}
# NOTs and parentheses nest no deeper than this: the parser recurses once per level, and
# a filter is a short expression, never a stack-sized one.
MAX_DEPTH = 100


def _tokens(text: str) -> list[str]:
    return [m.group(1) for m in _TOKEN.finditer(text)]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0
        self.depth = 0

    def error(self, why: str) -> errors.InvalidArgument:
        quoted = self.text if len(self.text) <= 200 else self.text[:200] + "..."
        return errors.InvalidArgument(f'Invalid filter "{quoted}": {why}.')

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise self.error("unexpected end")
        self.pos += 1
        return token

    def parse(self) -> Predicate:
        predicate = self.expr()
        if self.peek() is not None:
            raise self.error(f'unexpected "{self.peek()}"')
        return predicate

    def expr(self) -> Predicate:
        terms = [self.term()]
        while self.peek() == "OR":
            self.take()
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else lambda q: any(t(q) for t in terms)

    def term(self) -> Predicate:
        factors = [self.factor()]
        while self.peek() not in (None, "OR", ")"):
            if self.peek() == "AND":
                self.take()
            factors.append(self.factor())
        return factors[0] if len(factors) == 1 else lambda q: all(f(q) for f in factors)

    def factor(self) -> Predicate:
        token = self.take()
        if token not in ("NOT", "-", "("):
            return self.compare(token)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"NOT and parentheses nest more than {MAX_DEPTH} levels deep")
        if token == "(":
            inner = self.expr()
            if self.take() != ")":
                raise self.error('missing ")"')
        else:
            negated = self.factor()
            inner = lambda q: not negated(q)  # noqa: E731
        self.depth -= 1
        return inner

    def compare(self, field: str) -> Predicate:
        if field not in _FIELDS:
            raise self.error(f'unsupported field "{field}" (the emulator filters on state)')
        op = self.take()
        if op not in (":", "=", "!="):
            raise self.error(f'unsupported operator "{op}" (use ":", "=" or "!=")')
        value = self.take().strip('"').upper()
        try:
            state = QueueState[value]
        except KeyError:
            raise self.error(f'unknown state "{value}" (RUNNING, PAUSED or DISABLED)') from None
        if op == "!=":
            return lambda q: q.state != state
        return lambda q: q.state == state


def parse(text: str) -> Predicate:
    if not text.strip():
        return lambda q: True
    return _Parser(text).parse()
