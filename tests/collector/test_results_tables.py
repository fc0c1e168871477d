"""The result tables: cells a spreadsheet would run as a formula are written escaped."""

from __future__ import annotations

import csv
import io

import pytest

from gossipsim.collector.results import spreadsheet_safe, to_csv


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\tindented", "'\tindented"),
        ("\r=carriage", "'\r=carriage"),
        ("-0.5", "-0.5"),  # text that reads as a number stays a number
        ("+3", "+3"),
        ("ring-of-cliques", "ring-of-cliques"),
        ("", ""),
        (-3, -3),
        (2.5, 2.5),
        (None, None),
        (True, True),
    ],
)
def test_formula_cells_get_a_leading_quote_and_nothing_else_changes(
    cell: object, written: object
) -> None:
    assert spreadsheet_safe(cell) == written


def test_to_csv_escapes_cells_and_headers_and_keeps_numbers() -> None:
    columns = ["graph", "rounds", "error", "=param"]
    rows = [
        {"graph": "=1+2", "rounds": -1, "error": "@evil", "=param": 0.25},
        {"graph": "ba-200", "rounds": 7, "error": "", "=param": "-0.75"},
    ]
    table = list(csv.reader(io.StringIO(to_csv(columns, rows).decode())))
    assert table == [
        ["graph", "rounds", "error", "'=param"],
        ["'=1+2", "-1", "'@evil", "0.25"],
        ["ba-200", "7", "", "-0.75"],
    ]
