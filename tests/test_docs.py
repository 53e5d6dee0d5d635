"""The README and docs/ stay true to the repository: no dead relative link (file or `#anchor`),
every `--flag` they give a `townhall` command exists in that command's argparse parser (the
parsers are built by running `townhall.cli.main` up to its parse, not grepped), and every
`scripts/...` they name exists."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from townhall import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# bench/README.md names its scripts' own flags, not townhall's: its links and scripts only
LINKED = [*PAGES, ROOT / "bench" / "README.md"]

FENCE = re.compile(r"^```.*?^```[^\n]*$", re.M | re.S)
CODE_SPAN = re.compile(r"`([^`]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
SCRIPT = re.compile(r"(?<![\w/.-])scripts/[A-Za-z0-9_.-]*[A-Za-z0-9_-]")
TOWNHALL = re.compile(r"(?:^|(?<=[\s/(\[]))townhall\s+(?=[a-z])")
SEPARATORS = re.compile(r"\s(?:&&|\|\||;|\||#)\s|;|\n\n")


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def prose(text: str) -> str:
    """The page without fenced blocks and inline code (where a link is only an example)."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def code(text: str) -> Iterator[str]:
    """Every command-like piece of code: each fenced block's lines (continuations joined),
    then each inline code span (which may wrap over lines)."""
    for block in FENCE.findall(text):
        body = "\n".join(block.splitlines()[1:-1]).replace("\\\n", " ")
        yield from body.splitlines()
    yield from (span.replace("\n", " ") for span in CODE_SPAN.findall(FENCE.sub("", text)))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|!?\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text())):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


class _Built(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def townhall_parser() -> argparse.ArgumentParser:
    """The real `townhall` parser with every subcommand, as `main` builds it."""

    def stop(self: argparse.ArgumentParser, *_: Any, **__: Any) -> NoReturn:
        raise _Built(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(argparse.ArgumentParser, "parse_args", stop)
        try:
            cli.main([])
        except _Built as built:
            return built.parser
    raise AssertionError("townhall.cli.main never parsed its arguments")


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    out: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            out.update(action.choices)
    return out


def flags(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings if o.startswith("--")}


def every_flag(parser: argparse.ArgumentParser) -> set[str]:
    out = flags(parser)
    for child in subcommands(parser).values():
        out |= every_flag(child)
    return out


def unknown_flags(command: str, top: argparse.ArgumentParser) -> list[str]:
    """The flags of `townhall SUB [SUBSUB] ...` in `command` that its parser lacks."""
    missing = []
    for match in TOWNHALL.finditer(command):
        rest = SEPARATORS.split(command[match.end():], maxsplit=1)[0]
        parser, path = top, ["townhall"]
        for token in rest.split():
            word = token.strip("[](),.'\"")
            if word in subcommands(parser) and not token.startswith("-"):
                parser = subcommands(parser)[word]
                path.append(word)
            for flag in FLAG.findall(token):
                if flag not in flags(parser):
                    missing.append(f"{' '.join(path)} {flag}")
            if parser is top and len(path) == 1:
                break  # not a subcommand: prose such as "townhall keeps ..."
    return missing


@pytest.mark.parametrize("page", LINKED, ids=page_id)
def test_every_relative_link_reaches_a_file_and_anchor_in_the_repository(page: Path) -> None:
    dead = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.is_relative_to(ROOT) or not dest.exists():
            dead.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            dead.append(f"{target}: no heading #{anchor} in {page_id(dest)}")
    assert not dead, f"{page_id(page)}: {dead}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_townhall_flag_named_exists_in_its_command(page: Path) -> None:
    top = townhall_parser()
    known = every_flag(top)
    missing = []
    for piece in code(page.read_text()):
        missing += unknown_flags(piece, top)
        if piece.startswith("--"):  # a flag named alone, e.g. `--redis-url`
            missing += [f"townhall ... {f}" for f in FLAG.findall(piece)[:1] if f not in known]
    assert not missing, f"{page_id(page)}: {missing}"


@pytest.mark.parametrize("page", LINKED, ids=page_id)
def test_every_script_named_exists(page: Path) -> None:
    named = set(SCRIPT.findall(page.read_text()))
    assert not {s for s in named if not (ROOT / s).is_file()}, page_id(page)


def test_the_readme_opens_with_the_two_commands_and_stays_short() -> None:
    text = (ROOT / "README.md").read_text()
    assert text.startswith("# townhall\n\n```sh\nscripts/setup && .venv/bin/townhall serve\n"
                           "scripts/test\n```\n")
    assert len(text.splitlines()) <= 200


def test_the_checks_catch_what_they_are_for() -> None:
    top = townhall_parser()
    assert {"serve", "keys", "tickets", "verify", "edge-config"} <= set(subcommands(top))
    assert unknown_flags("townhall serve --port 1 --no-such-flag", top) == [
        "townhall serve --no-such-flag"]
    assert unknown_flags("townhall keys create --role host --name Ada", top) == []
    assert unknown_flags("townhall keeps one in data", top) == []
    assert slug("The cluster's store: PostgreSQL, migrations") == (
        "the-clusters-store-postgresql-migrations")
