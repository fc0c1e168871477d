"""Test certificates for node traffic, made at run time with the openssl command line.

A CA, and certificates it signs for the name node traffic checks (``gossipsim-node``) or any
other; each with a key. Nothing here is kept: every test session makes its own.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from gossipsim.common.rpc.transport import TLS_SERVER_NAME
from gossipsim.common.runtime.settings import NodeTrafficSettings


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _key(path: Path) -> Path:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    return path


@dataclass(frozen=True)
class Authority:
    """A CA in ``folder``; :meth:`issue` signs certificates for node traffic with it."""

    folder: Path
    cert: Path
    key: Path

    @classmethod
    def create(cls, folder: Path, name: str = "gossipsim-test-ca") -> Authority:
        folder.mkdir(parents=True, exist_ok=True)
        key = _key(folder / "ca.key")
        cert = folder / "ca.crt"
        _openssl(
            "req", "-x509", "-new", "-key", key, "-out", cert, "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
        return cls(folder=folder, cert=cert, key=key)

    def issue(self, name: str, dns_name: str = TLS_SERVER_NAME) -> tuple[Path, Path]:
        """A certificate for ``dns_name`` (server and client use) and its key."""
        key = _key(self.folder / f"{name}.key")
        request = self.folder / f"{name}.csr"
        cert = self.folder / f"{name}.crt"
        extensions = self.folder / f"{name}.ext"
        extensions.write_text(
            f"subjectAltName=DNS:{dns_name}\n"
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=serverAuth,clientAuth\n"
        )
        _openssl("req", "-new", "-key", key, "-out", request, "-subj", f"/CN={dns_name}")
        _openssl(
            "x509", "-req", "-in", request, "-CA", self.cert, "-CAkey", self.key,
            "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", extensions,
        )  # fmt: skip
        return cert, key

    def traffic(self, name: str, **changes: object) -> NodeTrafficSettings:
        """Settings with TLS on, with a certificate of this CA for ``name``."""
        cert, key = self.issue(name)
        return NodeTrafficSettings(
            tls_cert=str(cert),
            tls_key=str(key),
            tls_ca=str(self.cert),
            **changes,  # type: ignore[arg-type]
        )
