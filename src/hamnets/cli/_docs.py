"""Flag tables for ``docs/cli.md``, generated from the parser so they never drift from
``--help``.

``python -m hamnets.cli._docs docs/cli.md`` rewrites every block between
``<!-- flags:COMMAND -->`` and ``<!-- /flags:COMMAND -->``; ``make docs`` runs it and a test
checks that the file agrees with the parser.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

__all__ = ["flag_table", "render", "commands"]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def commands() -> dict[str, argparse.ArgumentParser]:
    """Each sub-command's parser, by name."""
    from . import build_parser

    return _subparsers(build_parser())


def _flags(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    names = []
    for opt in action.option_strings:
        if isinstance(action, argparse.BooleanOptionalAction) and opt.startswith("--no-"):
            continue
        if action.nargs == 0:
            names.append(f"`{opt}`")
        else:
            metavar = action.metavar or action.dest.upper()
            if isinstance(metavar, tuple):
                metavar = " ".join(metavar)
            elif action.nargs == "+":
                metavar = f"{metavar} [...]"
            names.append(f"`{opt} {metavar}`")
    if isinstance(action, argparse.BooleanOptionalAction):
        names = [n.replace("`--", "`--[no-]", 1) for n in names]
    return ", ".join(names)


def flag_table(parser: argparse.ArgumentParser) -> str:
    """A Markdown table of ``parser``'s arguments, group by group, as ``--help`` lists them."""
    rows = ["| flag | meaning |", "| --- | --- |"]
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if not isinstance(a, argparse._HelpAction)]
        if not actions:
            continue
        if group.title not in ("options", "optional arguments", "positional arguments"):
            rows.append(f"| **{group.title}** | |")
        for action in actions:
            text = (action.help or "").replace("|", "\\|").replace("\n", " ")
            if action.choices and not isinstance(action, argparse._SubParsersAction):
                text += f" (one of: {', '.join(map(str, action.choices))})"
            rows.append(f"| {_flags(action)} | {text} |")
    return "\n".join(rows)


_BLOCK = re.compile(r"(<!-- flags:(\w+) -->\n)(.*?)(<!-- /flags:\2 -->)", re.DOTALL)


def render(text: str) -> str:
    """``text`` with every flag block replaced by the parser's current table."""
    parsers = commands()

    def table(match: re.Match) -> str:
        name = match.group(2)
        if name not in parsers:
            raise ValueError(f"docs: no command {name!r} (commands: {', '.join(parsers)}).")
        return f"{match.group(1)}{flag_table(parsers[name])}\n{match.group(4)}"

    return _BLOCK.sub(table, text)


def main(argv: list[str] | None = None) -> int:
    paths = argv if argv is not None else sys.argv[1:]
    for path in paths or ["docs/cli.md"]:
        p = Path(path)
        new = render(p.read_text())
        if new != p.read_text():
            p.write_text(new)
            print(f"updated {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
