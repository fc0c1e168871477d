"""``gossipsim report SIM [--out DIR]``: the plots and report.html of a completed simulation,
rebuilt from its stored results (the directory or S3 store of GOSSIPSIM_STORE, as
``gossipsim results`` reads it).

The rebuild takes the collector's own code path (``gossipsim.collector.report.rebuild``):
the same tables from the same stored results, the same drawing, so it writes the same files.
Without ``--out`` they are written back into the store under the simulation (a report lost,
or drawn by an older gossipsim); with ``--out DIR`` into ``DIR/<sim>/`` and the store is only
read. The manifest is never rewritten: it stays the collector's record.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from gossipsim.cli.deployment import (
    EXIT_OK,
    CommandError,
    checked_simulation_id,
    deployment_settings,
    reading_store,
    reports_errors,
    store_error,
)

CONTENT_TYPES = {".png": "image/png", ".html": "text/html; charset=utf-8"}


def _write(directory: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = directory.joinpath(*name.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.partial")
        temporary.write_bytes(data)
        temporary.replace(path)  # a reader never sees half a file


@reports_errors
def command_report(args: argparse.Namespace) -> int:
    from gossipsim.collector.report import rebuild
    from gossipsim.common.contracts import results_layout as layout
    from gossipsim.common.storage.store import ObjectNotFound

    settings = deployment_settings()
    simulation_id = checked_simulation_id(args.simulation)

    async def build() -> dict[str, bytes] | None:
        async with reading_store(settings) as store:
            try:
                files = await rebuild(store, simulation_id)
            except ObjectNotFound:
                return None
            if args.out is None:
                for name, data in files.items():
                    suffix = name[name.rfind(".") :]
                    await store.put(
                        layout.simulation_key(simulation_id, name),
                        data,
                        content_type=CONTENT_TYPES.get(suffix, "application/octet-stream"),
                    )
            return files

    try:
        files = asyncio.run(build())
    except OSError as error:
        raise store_error(settings, error) from None
    if files is None:
        raise CommandError(
            f"simulation {simulation_id!r} has no manifest in {settings.store}: it has not"
            " completed, or the id is wrong (`gossipsim status` lists the simulations)"
        )
    if args.out is None:
        where: Any = settings.store.rstrip("/") + "/" + layout.simulation_prefix(simulation_id)
    else:
        where = Path(args.out) / simulation_id
        try:
            _write(where, files)
        except OSError as error:
            raise CommandError(f"cannot write {where}: {error}; choose another --out") from None
    print(f"rebuilt {len(files)} files of {simulation_id}", file=sys.stderr)
    print(where)
    return EXIT_OK


def add_report_command(commands: Any) -> None:
    report = commands.add_parser(
        "report", help="rebuild a completed simulation's plots and report.html from the store"
    )
    report.add_argument("simulation", help="simulation id (as `submit` or `run` printed it)")
    report.add_argument(
        "--out",
        help="write them to DIR/<simulation>/ (default: back into the store, beside the tables)",
    )
    report.set_defaults(handler=command_report)
