"""report.html: one self-contained page per simulation, and the files drawn from its tables.

The page is what a researcher opens first: the simulation's facts (runs, times), the averaged
table with its statistics, graph metrics, the plots, failed runs with their errors, links to
every run's files, and the spec. It needs no network to be read: the CSS is inline, the plots
are embedded as ``data:`` URIs, there are no fonts or scripts, and a Content-Security-Policy
forbids loading anything else, so it can be mailed or opened from a bucket as it is.

Graph names, algorithm labels, parameters and errors come from whoever submitted the spec: every
text on the page goes through :func:`html.escape`, and links are percent-encoded.

One code path: :func:`render_files` takes the tables the collector has just built (or
:func:`rebuild` has rebuilt from a stored simulation, for ``gossipsim report``) and returns the
plots and the page by name, so both write the same bytes. The page depends on nothing but its
inputs (no clock, no host): rebuilt from the same stored results it is the same file.
Long lists are capped (:data:`MAX_ROWS` and friends); the page says how many it left out.
"""

from __future__ import annotations

import asyncio
import base64
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import quote

import orjson
import structlog

from gossipsim.collector import plots, results
from gossipsim.common.contracts import results_layout as layout
from gossipsim.common.storage.store import ObjectNotFound, ObjectStore

log = structlog.get_logger(__name__)

Table = tuple[list[str], list[dict[str, Any]]]

MAX_ROWS = 200  # averaged rows and graph-metric rows shown
MAX_FAILED = 50  # failed runs shown with their errors
MAX_RUN_LINKS = 500  # runs listed with links to their files
MAX_SPEC_CHARS = 20_000  # an inline graph can be long: submitted.json has it all
MAX_ERROR_CHARS = 2_000
CONCURRENT_READS = 8  # rounds.jsonl files read at once by rebuild (S3 pool: 10)

_CSS = """
:root { color-scheme: light; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0;
  --band: #f6f8fa; --accent: #0b5cad; --bad: #b42318; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 72rem; margin: 0 auto; padding: 1.5rem 1.25rem 3rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.2rem; margin: 2.2rem 0 .6rem; padding-bottom: .3rem;
  border-bottom: 1px solid var(--line); }
p.sub, .note { color: var(--muted); margin: .2rem 0 .8rem; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: .85em; }
dl.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr));
  gap: .6rem; margin: 1rem 0; }
dl.facts div { background: var(--band); border: 1px solid var(--line); border-radius: 6px;
  padding: .5rem .75rem; }
dl.facts dt { color: var(--muted); font-size: .8rem; }
dl.facts dd { margin: 0; font-size: 1.05rem; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; font-size: .88rem; }
th, td { padding: .35rem .6rem; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
th { background: var(--band); font-weight: 600; white-space: nowrap; }
tr:last-child td { border-bottom: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.never td { background: #fff4f2; }
.never-tag { color: var(--bad); font-weight: 600; }
.bad { color: var(--bad); }
td.error { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: .8rem; white-space: pre-wrap; word-break: break-word; }
figure { margin: 1rem 0 1.5rem; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: .85rem; }
pre { background: var(--band); border: 1px solid var(--line); border-radius: 6px;
  padding: .75rem 1rem; overflow-x: auto; max-height: 32rem; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
ul.files { columns: 2 16rem; padding-left: 1.2rem; }
"""

_PLOT_CAPTIONS = {
    layout.CONVERGENCE_PLOT: "Convergence measure per round: mean ± 1 sd over the runs of "
    "each configuration.",
    layout.ROUNDS_PLOT: "Rounds to convergence per configuration (converged runs).",
    layout.SWEEP_PLOT: "Mean rounds to convergence against each swept parameter (95% CI).",
}


def _text(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Any) -> str:
    """A table cell's number as people read it: ints as they are, floats to 2 decimals (3
    significant digits below 1), an empty or NaN cell as a dash."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.3g}"
    return _text(value)


def _cell(value: Any) -> str:
    if isinstance(value, int | float) or value is None or value == "":
        return f'<td class="num">{_number(value)}</td>'
    return f"<td>{_text(value)}</td>"


def _table(headers: list[tuple[str, bool]], rows: Iterable[str]) -> str:
    """``headers``: (title, numeric); ``rows``: <tr> elements already escaped."""
    head = "".join(f'<th class="num">{_text(t)}</th>' if n else f"<th>{_text(t)}</th>"
                   for t, n in headers)  # fmt: skip
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table></div>"
    )


def _capped(shown: int, total: int, what: str, where: str) -> str:
    if shown >= total:
        return ""
    return f'<p class="note">First {shown} of {total} {_text(what)} shown; {_text(where)}.</p>'


def _link(path: str) -> str:
    return quote(path, safe="/-._~")


# -- sections -------------------------------------------------------------------------------


def _time(text: str | None) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _shown_time(text: str | None) -> str:
    when = _time(text)
    return _text(text or "—") if when is None else when.astimezone(UTC).strftime(
        "%Y-%m-%d %H:%M:%S UTC"
    )  # fmt: skip


def _facts(manifest: layout.Manifest) -> str:
    failed = manifest["runs_failed"]
    accepted, completed = _time(manifest.get("accepted_at")), _time(manifest["completed_at"])
    took = f"{(completed - accepted).total_seconds():,.1f} s" if accepted and completed else "—"
    items = [
        ("Runs", _number(manifest["runs_total"])),
        ("Succeeded", _number(manifest["runs_succeeded"])),
        ("Failed", f'<span class="bad">{_number(failed)}</span>' if failed else "0"),
        ("Accepted", _shown_time(manifest.get("accepted_at"))),
        ("Completed", _shown_time(manifest["completed_at"])),
        ("Took", took),
    ]
    if manifest["cancelled"]:
        items.append(("Cancelled", '<span class="bad">yes: the tables are partial</span>'))
    visualize = manifest.get("visualize")
    if visualize is not None:
        items.append(("Drawn", f"{_number(visualize['runs_drawn'])} runs"))
    body = "".join(f"<div><dt>{_text(k)}</dt><dd>{v}</dd></div>" for k, v in items)
    return f'<dl class="facts">{body}</dl>' + _not_drawn(visualize)


def _not_drawn(visualize: layout.VisualizeSummary | None) -> str:
    """Why the graphs whose runs have no drawings got none (visualize), capped."""
    if not visualize or not visualize["not_drawn"]:
        return ""
    reasons = list(visualize["not_drawn"].items())
    items = "".join(
        f"<li><b>{_text(graph)}</b>: {_text(reason)}</li>" for graph, reason in reasons[:MAX_ROWS]
    )
    capped = _capped(min(len(reasons), MAX_ROWS), len(reasons), "graphs", "manifest.json has all")
    return f'<ul class="note">{items}</ul>{capped}'


def _averaged(averaged: Table) -> str:
    columns, rows = averaged
    parameters = [c for c in columns if c.startswith("param_")]
    headers = [("graph", False), ("algorithm", False)]
    headers += [(p.removeprefix("param_"), False) for p in parameters]
    headers += [(h, True) for h in ("runs", "completed", "converged", "converged share")]
    headers += [(h, True) for h in ("mean", "median", "95% CI", "min", "max")]
    lines = []
    for row in rows[:MAX_ROWS]:
        cells = [_cell(row.get("graph", "")), _cell(row.get("algorithm", ""))]
        cells += [f"<td>{_text(row.get(p, ''))}</td>" for p in parameters]
        cells += [_cell(row.get(c)) for c in ("runs", "completed", "converged")]
        share = row.get("converged_share")
        cells.append(
            f'<td class="num">{share:.0%}</td>' if isinstance(share, float) else _cell(share)
        )
        never = not row.get("converged")
        if never:
            cells.append('<td class="num never-tag" colspan="5">never converged</td>')
        else:
            low, high = _number(row.get("ci95_low")), _number(row.get("ci95_high"))
            cells += [_cell(row.get("mean_rounds")), _cell(row.get("median_rounds"))]
            cells.append(f'<td class="num">{low} – {high}</td>')
            cells += [_cell(row.get("min_rounds")), _cell(row.get("max_rounds"))]
        lines.append(f"<tr{' class=never' if never else ''}>{''.join(cells)}</tr>")
    return (
        '<p class="sub">One row per graph × algorithm × parameters. Rounds to convergence over '
        "the converged runs only: mean, median, 95% confidence interval of the mean, min and "
        "max. A configuration none of whose runs converged is marked.</p>"
        + _table(headers, lines)
        + _capped(min(len(rows), MAX_ROWS), len(rows), "configurations", "averaged.csv has all")
    )


def _graph_metrics(summary: Table) -> str:
    columns, rows = summary
    metrics = [c for c in columns if c.startswith("graph_") and c != "graph_seed"]
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:  # one row per graph realization (a graph and its generator's seed)
        seen.setdefault((str(row.get("graph", "")), str(row.get("graph_seed", ""))), row)
    if not metrics or not seen:
        return '<p class="note">No graph metrics were recorded.</p>'
    headers = [("graph", False), ("graph seed", True)]
    headers += [(m.removeprefix("graph_"), True) for m in metrics]
    shown = list(seen.values())[:MAX_ROWS]
    lines = [
        "<tr>"
        + _cell(row.get("graph", ""))
        + _cell(row.get("graph_seed", ""))
        + "".join(_cell(row.get(m, "")) for m in metrics)
        + "</tr>"
        for row in shown
    ]
    return _table(headers, lines) + _capped(
        len(shown), len(seen), "graphs", "summary.csv has every run's metrics"
    )


def _plots(pngs: dict[str, bytes]) -> str:
    if not pngs:
        return '<p class="note">No plots were drawn (the collector\'s log says why).</p>'
    figures = []
    for name in sorted(pngs, key=lambda n: list(_PLOT_CAPTIONS).index(n)
                       if n in _PLOT_CAPTIONS else len(_PLOT_CAPTIONS)):  # fmt: skip
        data = base64.b64encode(pngs[name]).decode("ascii")
        caption = _PLOT_CAPTIONS.get(name, "")
        figures.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{_text(name)}">'
            f'<figcaption><a href="{_link(name)}">{_text(name)}</a> — {_text(caption)}'
            "</figcaption></figure>"
        )
    return "".join(figures)


def _failed(summary: Table) -> str:
    failed = [row for row in summary[1] if row.get("status") != "completed"]
    if not failed:
        return '<p class="note">No run failed.</p>'
    headers = [("run", False), ("graph", False), ("algorithm", False), ("attempts", True)]
    headers.append(("error", False))
    lines = []
    for row in failed[:MAX_FAILED]:
        error = str(row.get("error", "") or row.get("status", ""))
        if len(error) > MAX_ERROR_CHARS:
            error = error[:MAX_ERROR_CHARS] + "… (cut: result.json has it all)"
        lines.append(
            f'<tr><td class="mono">{_text(row.get("run_id", ""))}</td>'
            + _cell(row.get("graph", ""))
            + _cell(row.get("algorithm", ""))
            + _cell(row.get("attempts", ""))
            + f'<td class="error">{_text(error)}</td></tr>'
        )
    return _table(headers, lines) + _capped(
        len(lines), len(failed), "failed runs", "summary.csv lists them all"
    )


def _runs(summary: Table, run_files: Mapping[str, Sequence[str]]) -> str:
    """The runs with links to their files (``run_files``: each run's files beyond result.json
    and rounds.jsonl, by run id: history.parquet, graph.gexf, animation.gif)."""
    rows = summary[1]
    headers = [("run", False), ("graph", False), ("algorithm", False), ("repetition", True)]
    headers += [("status", False), ("rounds", True), ("converged", True), ("files", False)]
    lines = []
    for row in rows[:MAX_RUN_LINKS]:
        run = str(row.get("run_id", ""))
        files = [layout.RESULT] + ([layout.ROUNDS] if row.get("status") == "completed" else [])
        files += [str(name) for name in run_files.get(run, [])]
        links = " · ".join(
            f'<a href="{_link(f"{layout.RUNS}{run}/{name}")}">{_text(name)}</a>' for name in files
        )
        status = str(row.get("status", ""))
        status_cell = f"<td>{_text(status)}</td>" if status == "completed" else (
            f'<td class="bad">{_text(status)}</td>')  # fmt: skip
        lines.append(
            f'<tr><td class="mono">{_text(run)}</td>'
            + _cell(row.get("graph", ""))
            + _cell(row.get("algorithm", ""))
            + _cell(row.get("repetition", ""))
            + status_cell
            + _cell(row.get("rounds", ""))
            + _cell(row.get("converged", ""))
            + f"<td>{links}</td></tr>"
        )
    return _table(headers, lines) + _capped(
        len(lines), len(rows), "runs", "every run's files are under runs/<run>/"
    )


def _files(manifest: layout.Manifest) -> str:
    """The simulation's tables (the plots are on the page, the runs' files in their table)."""
    names = [
        name
        for name in manifest["files"]
        if "<run>" not in name and not name.startswith(layout.PLOTS) and name != layout.REPORT
    ]
    names.append(layout.MANIFEST)
    items = "".join(f'<li><a href="{_link(n)}">{_text(n)}</a></li>' for n in names)
    return f'<ul class="files">{items}</ul>'


def _spec(manifest: layout.Manifest) -> str:
    text = orjson.dumps(manifest["spec"], option=orjson.OPT_INDENT_2).decode()
    note = ""
    if len(text) > MAX_SPEC_CHARS:
        text = text[:MAX_SPEC_CHARS]
        note = (
            f'<p class="note">Cut at {MAX_SPEC_CHARS:,} characters: manifest.json has it all.</p>'
        )
    return f"<pre>{_text(text)}</pre>{note}"


def render_report(
    manifest: layout.Manifest,
    summary: Table,
    averaged: Table,
    pngs: dict[str, bytes],
    run_files: Mapping[str, Sequence[str]] | None = None,
) -> bytes:
    """report.html's bytes: a pure function of its inputs."""
    name = manifest["name"]
    sections = [
        ("Averaged results", _averaged(averaged)),
        ("Plots", _plots(pngs)),
        ("Graph metrics", _graph_metrics(summary)),
        ("Failed runs", _failed(summary)),
        ("Runs", _runs(summary, run_files or {})),
        ("Tables", _files(manifest)),
        ("Spec", _spec(manifest)),
    ]
    body = "".join(f"<section><h2>{_text(t)}</h2>{content}</section>" for t, content in sections)
    policy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_text(name)} — gossipsim report</title><style>{_CSS}</style></head>"
        f"<body><main><h1>{_text(name)}</h1>"
        f'<p class="sub">Simulation <code>{_text(manifest["simulation_id"])}</code></p>'
        f"{_facts(manifest)}{body}</main></body></html>\n"
    )
    return page.encode()


def render_files(
    manifest: layout.Manifest,
    summary: Table,
    averaged: Table,
    curves: plots.Curves,
    run_files: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, bytes]:
    """The plots and report.html by their name in the results layout. A plot that cannot be
    drawn is logged and left out (the page says none were drawn): the page matters more."""
    try:
        pngs = plots.render(summary, averaged, curves)
    except Exception:
        log.exception("plots not drawn: left out of the results")
        pngs = {}
    page = render_report(manifest, summary, averaged, pngs, run_files)
    return {**pngs, layout.REPORT: page}


def files_of_runs(runs: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each run's files beyond result.json and rounds.jsonl, as its result.json lists them."""
    return {str(run.get("run_id")): list(run.get("files", [])) for run in runs}


async def rebuild(store: ObjectStore, simulation_id: str) -> dict[str, bytes]:
    """The plots and report.html of a completed simulation, rebuilt from what the store holds
    (its manifest, every run's result.json and rounds.jsonl) with the collector's own tables
    and :func:`render_files`. ObjectNotFound when it has no manifest."""
    manifest = cast(
        layout.Manifest,
        orjson.loads(await store.get(layout.simulation_key(simulation_id, layout.MANIFEST))),
    )
    keys = await store.list(layout.runs_prefix(simulation_id))
    runs = [orjson.loads(await store.get(key)) for key in keys if layout.is_result_key(key)]
    curves = plots.Curves(runs)
    limit = asyncio.Semaphore(CONCURRENT_READS)

    async def lines_of(run: dict[str, Any]) -> list[dict[str, Any]]:
        async with limit:
            try:
                data = await store.get(layout.run_key(simulation_id, run["run_id"], layout.ROUNDS))
            except ObjectNotFound:  # as the collector: a run left out of the curves
                return []
        return [orjson.loads(line) for line in data.splitlines() if line.strip()]

    for part in results.rounds_parts(runs):  # the collector's order: the same sums
        read = await asyncio.gather(*(lines_of(run) for run in part))
        for run, lines in zip(part, read, strict=True):
            curves.add(run, lines)
    summary, averaged = results.summary_rows(runs), results.averaged_rows(runs)
    return await asyncio.to_thread(
        render_files, manifest, summary, averaged, curves, files_of_runs(runs)
    )
