"""What `gossipsim run` prints: progress (`--progress`, on a terminal by default), the table
and the summary (`--quiet` keeps only the summary and errors), and why runs failed in the
words of one process, where no queue exists to have dead-lettered anything (docs/cli.md)."""

from __future__ import annotations

import io
import re
import sys

import orjson
import pytest

from gossipsim.cli import main as cli
from gossipsim.embedded import plain_reason
from gossipsim.runner.driver import ShardSession

SPEC = {
    "name": "shown",
    "graphs": [{"name": "c8", "generator": "cycle_graph", "params": {"n": 8}}],
    "algorithms": ["default"],
    "repetitions": 3,
}
SUMMARY = re.compile(r"^3 runs, (\d) failed\. Results: \S+shown-\w+$")
BAR = re.compile(r"\[[#.]{30}\] (\d)/3 runs  [\d,]+ rounds/s")


class Terminal(io.StringIO):
    """A stderr that says it is a terminal, as an interactive shell's is."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "spec.json"
    path.write_bytes(orjson.dumps(SPEC))
    return path


def run(spec, tmp_path, *options: str) -> int:
    return cli.main(["run", str(spec), "--out", str(tmp_path / "out"), *options])


def test_by_default_a_redirected_run_prints_the_table_and_no_progress(spec, tmp_path, capsys):
    assert run(spec, tmp_path) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["graph", "algorithm", "runs", "converged"]
    assert lines[1].split()[:4] == ["c8", "default", "3", "3/3"]
    assert SUMMARY.match(lines[-1]) and lines[-2] == ""
    assert err == ""  # stderr is no terminal here: nothing but errors goes there


def test_on_a_terminal_the_bar_is_redrawn_in_place(spec, tmp_path, capsys, monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert run(spec, tmp_path) == 0
    shown = terminal.getvalue()
    assert shown.startswith("\r[") and shown.endswith("\n")
    assert [int(done) for done in BAR.findall(shown)][-1] == 3
    assert "\n" not in shown[:-1]  # one line, redrawn
    assert SUMMARY.match(capsys.readouterr().out.splitlines()[-1])


def test_progress_forces_it_where_there_is_no_terminal_one_line_per_finished_run(
    spec, tmp_path, capsys
):
    assert run(spec, tmp_path, "--progress") == 0
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert lines and all(BAR.fullmatch(line) for line in lines), err
    done = [int(BAR.fullmatch(line).group(1)) for line in lines]  # type: ignore[union-attr]
    assert done == sorted(set(done)) and done[-1] == 3  # a line when a run finishes, no repeats
    assert "\r" not in err
    assert out.splitlines()[0].startswith("graph")  # the table as usual


def test_quiet_prints_only_the_summary_even_on_a_terminal(spec, tmp_path, capsys, monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert run(spec, tmp_path, "--quiet") == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert SUMMARY.match(line)
    assert terminal.getvalue() == ""


def test_progress_and_quiet_together_are_refused(spec, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        run(spec, tmp_path, "--progress", "--quiet")
    assert stopped.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_quiet_still_says_which_runs_failed_and_why_without_queue_jargon(
    spec, tmp_path, capsys, monkeypatch
):
    """A run that crashes its runner every time is given up on after 5 attempts; the CLI says
    so in plain words (the deployment's records say dead-lettered, where that queue exists)."""
    real_run = ShardSession.run

    async def crashing(self, *, run_id, seed, settings):
        if run_id.endswith(".r1"):
            raise RuntimeError("simulated runner crash")
        return await real_run(self, run_id=run_id, seed=seed, settings=settings)

    monkeypatch.setattr(ShardSession, "run", crashing)
    assert run(spec, tmp_path, "--quiet") == 1
    out, err = capsys.readouterr()
    (line,) = out.splitlines()
    assert SUMMARY.match(line).group(1) == "1"  # type: ignore[union-attr]
    (failed,) = [line for line in err.splitlines() if line.startswith("  failed ")]
    assert failed.endswith(
        ".r1: failed 5 times; last error: RuntimeError('simulated runner crash')"
    ), failed
    assert "dead-letter" not in failed


@pytest.mark.parametrize(
    ("reason", "plain"),
    [
        (
            "dead-lettered: failed on 5 deliveries; last error: KeyError('boom')",
            "failed 5 times; last error: KeyError('boom')",
        ),
        (
            "dead-lettered: impossible run: history.vertices: must lie in 0..4",
            "impossible run: history.vertices: must lie in 0..4",
        ),
        ("delivery limit of 5 reached", "failed 5 times"),
        (
            "gave up after 3 deliveries: store unavailable",
            "gave up after 3 attempts: store unavailable",
        ),
        (
            "ShardFailed: node shard 0 stopped answering",
            "ShardFailed: node shard 0 stopped answering",
        ),
    ],
)
def test_reasons_are_put_in_the_words_of_one_process(reason, plain):
    assert plain_reason(reason) == plain
