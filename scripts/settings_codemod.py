#!/usr/bin/env python3
"""Moves code written against the flat `Settings` onto its sections (townhall/settings.py).

    .venv/bin/python scripts/settings_codemod.py [--dry-run] [--no-mypy] [PATH ...]

PATH defaults to townhall harness bench tests scripts. Three rewrites, each from the syntax
tree, never from a text search:

- `Settings(port=1, data_dir=d)` (flat keywords, or `**flat`) -> `Settings.of(port=1, ...)`;
- `replace(settings, http_max_connections=n)` (every keyword a flat field, and mypy says
  the first argument is a Settings, or it is spelled as below) ->
  `settings.replace(http_max_connections=n)`;
- `X.FIELD` -> `X.SECTION.FIELD` for every flat field or derived property (`base_url`,
  `database_path`, ...) of `townhall.settings.FLAT`, where X is a Settings: mypy says so
  (it is run over the paths and its `"Settings" has no attribute "FIELD"` errors give the
  places), or X is spelled `settings`, `_settings`, `SETTINGS` (`request.app.state.settings`
  is Any to mypy; so is most of tests/) or is a `Settings(...)` / `Settings.of(...)` call.

The section of each name is read from townhall/settings.py itself, so after a merge that
adds fields (placed into their sections), running this again moves the new accesses too.
Lines it makes longer than 100 characters are broken after a comma where that leaves the
syntax tree unchanged. It changes nothing twice, so run it until it says "0 files" (an
access inside a rewritten `replace(...)` call moves on the second run); then mypy, ruff and
the tests: anything left is an attribute error there (or a long line ruff names).
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # a script run by path, not an installed module

from townhall.settings import FIELDS, FLAT, SECTIONS  # noqa: E402

DEFAULT_PATHS = ("townhall", "harness", "bench", "tests", "scripts")
LINE_LIMIT = 100  # ruff's line-length (pyproject.toml)
NAMED = re.compile(r"(?:^|\.)(?:settings|_settings|SETTINGS)$")
MYPY_ERROR = re.compile(r'^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): error: (?:Item )?'
                        r'"Settings"(?: of "[^"]*")? has no attribute "(?P<name>\w+)"')
# `dataclasses.replace(settings, port=1)`: a flat keyword mypy finds no field for
MYPY_REPLACE = re.compile(r'^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): error: Unexpected '
                          r'keyword argument "\w+" for "(?P<name>replace)" of "Settings"')


def python_files(paths: list[str]) -> Iterator[Path]:
    for path in map(Path, paths):
        if path.is_file() and path.suffix == ".py":
            yield path.resolve()
        elif path.is_dir():
            yield from (p.resolve() for p in sorted(path.rglob("*.py"))
                        if ".venv" not in p.parts and p.resolve() != SETTINGS_FILE)


SETTINGS_FILE = (ROOT / "townhall" / "settings.py").resolve()


def mypy_places(paths: list[str]) -> dict[Path, set[tuple[int, int, str]]]:
    """(line, column, name) of every flat-name access mypy finds on a Settings."""
    with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as config:
        config.write("[mypy]\nignore_missing_imports = True\ncheck_untyped_defs = True\n"
                     "follow_imports = silent\n")
    run = subprocess.run([sys.executable, "-m", "mypy", "--config-file", config.name,
                          "--show-column-numbers", "--no-error-summary", "--no-incremental",
                          "--cache-dir", "/dev/null", *paths],
                         capture_output=True, text=True, cwd=ROOT)
    Path(config.name).unlink()
    places: dict[Path, set[tuple[int, int, str]]] = defaultdict(set)
    for line in run.stdout.splitlines():
        m = MYPY_ERROR.match(line) or MYPY_REPLACE.match(line)
        if m and (m["name"] in FLAT or m["name"] == "replace"):
            places[(ROOT / m["path"]).resolve()].add((int(m["line"]), int(m["col"]), m["name"]))
    return places


def is_settings_call(node: ast.expr) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr == "of":
        func = func.value
    return (isinstance(func, ast.Name) and func.id == "Settings") or \
        (isinstance(func, ast.Attribute) and func.attr == "Settings")


def flat_keywords(call: ast.Call) -> bool:
    names = [k.arg for k in call.keywords]
    return bool(names) and all(n is None or (n in FIELDS and n not in SECTIONS) for n in names)


class Edits:
    """Insertions and replacements by (line, column) in characters, applied last first."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines(keepends=True)
        self.edits: list[tuple[int, int, int, int, str]] = []  # l1, c1, l2, c2, new

    def col(self, line: int, byte_col: int) -> int:  # ast columns are UTF-8 byte offsets
        return len(self.lines[line - 1].encode()[:byte_col].decode())

    def insert(self, line: int, byte_col: int, new: str) -> None:
        c = self.col(line, byte_col)
        self.edits.append((line, c, line, c, new))

    def replace(self, node: ast.expr, new: str) -> None:
        assert node.end_lineno is not None and node.end_col_offset is not None
        self.edits.append((node.lineno, self.col(node.lineno, node.col_offset), node.end_lineno,
                           self.col(node.end_lineno, node.end_col_offset), new))

    def apply(self) -> str:
        lines = self.lines
        for l1, c1, l2, c2, new in sorted(set(self.edits), reverse=True):
            head, tail = lines[l1 - 1][:c1], lines[l2 - 1][c2:]
            lines[l1 - 1:l2] = [head + new + tail]
        return "".join(lines)


def rewrite(text: str, places: set[tuple[int, int, str]]) -> str:
    tree = ast.parse(text)
    edits = Edits(text)
    source = text

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and is_settings_call(node) and \
                not (isinstance(node.func, ast.Attribute) and node.func.attr == "of") and \
                flat_keywords(node):
            assert node.func.end_lineno is not None and node.func.end_col_offset is not None
            edits.insert(node.func.end_lineno, node.func.end_col_offset, ".of")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute) and \
                (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) == "replace" \
                and (isinstance(node.func, ast.Name)
                     or ast.unparse(node.func.value) == "dataclasses") \
                and len(node.args) == 1 and flat_keywords(node) \
                and all(k.arg is not None for k in node.keywords) \
                and (NAMED.search(ast.unparse(node.args[0])) is not None
                     or any(line == node.lineno and name == "replace"
                            for line, _col, name in places)):
            target = ast.get_source_segment(source, node.args[0])
            kwargs = ", ".join(ast.get_source_segment(source, k) or "" for k in node.keywords)
            edits.replace(node, f"{target}.replace({kwargs})")
        elif isinstance(node, ast.Attribute) and node.attr in FLAT:
            receiver = ast.unparse(node.value)
            if receiver.rsplit(".", 1)[-1] in SECTIONS:
                continue  # already on its section
            hit = any(line == node.lineno and name == node.attr and col in
                      (node.col_offset, node.col_offset + 1) for line, col, name in places)
            if not hit and places:
                # mypy's column may point elsewhere in a chain; one candidate on the line is it
                same = [p for p in places if p[0] == node.lineno and p[2] == node.attr]
                hit = len(same) == 1 and sum(
                    1 for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                    and n.lineno == node.lineno and n.attr == node.attr) == 1
            if not hit:
                hit = bool(NAMED.search(receiver)) or is_settings_call(node.value)
            if hit:
                assert node.end_lineno is not None and node.end_col_offset is not None
                edits.insert(node.end_lineno, node.end_col_offset - len(node.attr.encode()),
                             f"{FLAT[node.attr]}.")
    return edits.apply()


def wrap_long_lines(old: str, new: str) -> str:
    """Lines the rewrite made longer than LINE_LIMIT are broken after the last `, ` that fits,
    aligned under its open bracket; a break is kept only if the syntax tree is unchanged (so
    never inside a string). What cannot be broken so is left for a person (ruff names it)."""
    before = set(old.splitlines())
    lines = new.splitlines(keepends=True)
    tree = ast.dump(ast.parse(new))
    n = len(lines)
    while n > 0:
        n -= 1
        text = lines[n].rstrip("\n")
        if len(text) <= LINE_LIMIT or text in before:
            continue
        for cut in sorted((i for i in range(LINE_LIMIT) if text.startswith(", ", i)), reverse=True):
            opened: list[int] = []
            for j, ch in enumerate(text[:cut]):
                if ch in "([{":
                    opened.append(j)
                elif ch in ")]}" and opened:
                    opened.pop()
            if not opened:
                continue
            head, tail = text[:cut + 1], " " * (opened[-1] + 1) + text[cut + 2:]
            candidate = [*lines[:n], head + "\n", tail + "\n", *lines[n + 1:]]
            try:
                same = ast.dump(ast.parse("".join(candidate))) == tree
            except SyntaxError:
                same = False
            if same:
                lines = candidate
                n += 2  # the tail may still be too long: look at it again
                break
    return "".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", default=list(DEFAULT_PATHS))
    parser.add_argument("--dry-run", action="store_true", help="list the files it would change")
    parser.add_argument("--no-mypy", action="store_true",
                        help="only the rewrites by syntax and by name (fast, less complete)")
    args = parser.parse_args()
    places = {} if args.no_mypy else mypy_places(args.paths)
    changed = 0
    for path in python_files(args.paths):
        text = path.read_text()
        rel = path.relative_to(ROOT)
        new = wrap_long_lines(text, rewrite(text, places.get(path, set())))
        if new != text:
            changed += 1
            print(f"{'would change' if args.dry_run else 'changed'} {rel}")
            if not args.dry_run:
                path.write_text(new)
    print(f"{changed} files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
