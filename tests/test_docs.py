"""The manual agrees with the code: flag tables are the parser's, links resolve."""

from __future__ import annotations

import re
from pathlib import Path

from hamnets.cli._docs import commands, render

ROOT = Path(__file__).resolve().parents[1]


def test_the_flag_tables_of_docs_cli_md_are_the_parsers():
    text = (ROOT / "docs" / "cli.md").read_text()
    assert render(text) == text, "docs/cli.md is out of date: run `make docs`"


def test_every_command_has_a_flag_table_and_every_flag_is_in_it():
    text = (ROOT / "docs" / "cli.md").read_text()
    for name, parser in commands().items():
        block = re.search(rf"<!-- flags:{name} -->\n(.*?)<!-- /flags:{name} -->", text, re.S)
        assert block, f"docs/cli.md has no flag table for {name}"
        for action in parser._actions:
            for opt in action.option_strings:
                if opt in ("-h", "--help") or opt.startswith("--no-"):
                    continue
                assert f"`{opt}" in block.group(1) or f"`--[no-]{opt[2:]}" in block.group(1), opt


def test_relative_links_in_the_readme_and_docs_resolve():
    missing = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target:
                continue
            if not (page.parent / target).exists():
                missing.append(f"{page.name}: {target}")
    assert not missing, missing
