"""Every environment variable gossipsim reads is in the README's table, with its default.

The table of variables (``VARIABLES`` in gossipsim.common.runtime.variables) is what the code
reads through; a scan of the sources catches a variable named anywhere else, so a new setting
cannot go undocumented.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gossipsim.common.runtime.variables import VARIABLES, Variable

ROOT = Path(__file__).resolve().parent.parent
NAME = re.compile(r"\b(?:GOSSIPSIM|AWS)_[A-Z0-9_]*[A-Z0-9]\b")
# Names in the sources that are no setting: the node's ready line is printed, not read.
NOT_SETTINGS = {"GOSSIPSIM_NODE_LISTENING"}


def readme_table() -> dict[str, str]:
    """Variable name -> its default cell, from the table under "## Environment variables"."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Environment variables", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not line.lstrip().startswith("|"):
            continue
        for name in NAME.findall(cells[0]):
            rows[name] = cells[1]
    return rows


def names_in_sources() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "services").rglob("*.py"):
        found.update(NAME.findall(path.read_text()))
    return found - NOT_SETTINGS


def test_the_readme_has_an_environment_variable_table() -> None:
    assert "GOSSIPSIM_BROKER_URL" in readme_table()


def test_every_variable_named_in_the_sources_is_in_the_settings_table() -> None:
    """A variable read outside the table of variables (or a typo) shows up here."""
    table = {variable.name for variable in VARIABLES}
    assert sorted(names_in_sources() - table) == []


@pytest.mark.parametrize("variable", VARIABLES, ids=lambda v: v.name)
def test_every_variable_is_in_the_readme_with_its_default(variable: Variable[object]) -> None:
    table = readme_table()
    assert variable.name in table, f"{variable.name} is missing from the README's table"
    shown = table[variable.name].replace("`", "")
    assert variable.shown_default in shown, (
        f"{variable.name}: the README says the default is {table[variable.name]!r}, "
        f"the code {variable.shown_default!r}"
    )


def test_unset_and_empty_variables_take_their_defaults() -> None:
    for variable in VARIABLES:
        assert variable.read({}) == variable.default
        assert variable.read({variable.name: "  "}) == variable.default
