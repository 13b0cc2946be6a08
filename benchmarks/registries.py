"""Building the registries the benchmarks measure: real git, real DVC, real SeaweedFS S3."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.gitdvc import dvc, git, init_registry

logger = logging.getLogger("benchmarks")

_BIN = Path(sys.executable).parent


def isolate(base: Path) -> None:
    """Give this process (and its children) a HOME, git and DVC config of their own.

    No credentials or settings from the machine, no analytics, no cloud metadata lookups.
    """
    home = base / "home"
    home.mkdir(parents=True, exist_ok=True)
    gitconfig = home / ".gitconfig"
    gitconfig.write_text("[user]\n\tname = Benchmark\n\temail = benchmark@example.org\n"
                         "[init]\n\tdefaultBranch = main\n[protocol \"file\"]\n\tallow = always\n")
    for variable in ("BRAINIO_DVC_REGISTRIES", "BRAINIO_DVC_REV", "BRAINIO_DVC_FETCH_INTERVAL", "BRAINIO_DVC_JOBS",
                     "BRAINIO_DVC_CONFIG", "BRAINIO_CHUNKS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                     "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        os.environ.pop(variable, None)
    os.environ.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1",
        "DVC_NO_ANALYTICS": "1",
        "DVC_GLOBAL_CONFIG_DIR": str(home / ".config" / "dvc"),
        "DVC_SYSTEM_CONFIG_DIR": str(base / "dvc-system"),
        "DVC_SITE_CACHE_DIR": str(base / "dvc-site-cache"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        "BRAINIO_HOME": str(base / "setup-home"),
        "BENCHMARK_CWD": str(base),  # probes run outside any registry
    })


def scenario_env(directory: Path) -> dict[str, str]:
    """Environment of a scenario with caches of its own: BRAINIO_HOME and DVC's site cache."""
    directory.mkdir(parents=True, exist_ok=True)
    return {"BRAINIO_HOME": str(directory / "brainio-home"), "DVC_SITE_CACHE_DIR": str(directory / "dvc-site-cache")}


def merge(root: Path, branch: str) -> None:
    git(root, "merge", "--quiet", "--ff-only", branch)
    git(root, "branch", "--quiet", "-d", branch)


def add_stimulus_set(root: Path, stimuli) -> dict:
    from brainio_dvc.packaging import package_stimulus_set

    from .data import CATALOG, STIMULUS_SET_ID

    result = package_stimulus_set(CATALOG, stimuli, STIMULUS_SET_ID, registry=root)
    merge(root, result["branch"])
    return result


def local_registry(base: Path, stimuli) -> Path:
    """``base/registry`` with the remote ``base/storage`` (relative: the pair can be copied)."""
    root = init_registry(base / "registry", "../storage")
    add_stimulus_set(root, stimuli)
    return root


def s3_registry(base: Path, server, stimuli) -> tuple[Path, str]:
    """A registry whose remote is a new bucket of ``server``; credentials only in config.local."""
    from tests.seaweed import ADMIN_KEY, ADMIN_SECRET

    bucket = f"registry-{uuid.uuid4().hex[:10]}"
    server.client().create_bucket(Bucket=bucket)
    root = init_registry(base / "registry", f"s3://{bucket}/store")
    dvc(root, "remote", "modify", "storage", "endpointurl", server.endpoint)
    dvc(root, "remote", "modify", "storage", "region", "us-east-1")
    git(root, "commit", "--quiet", "-am", "S3 remote")
    dvc(root, "remote", "modify", "--local", "storage", "access_key_id", ADMIN_KEY)
    dvc(root, "remote", "modify", "--local", "storage", "secret_access_key", ADMIN_SECRET)
    add_stimulus_set(root, stimuli)
    return root, bucket


_DVC_FILE = """outs:
- md5: {md5}
  size: {size}
  hash: md5
  path: {name}
meta:
  identifier: {identifier}
  lookup_type: {lookup_type}
  class: {cls}
  sha1: {sha1}
  stimulus_set_identifier: {stimulus_set}
  catalog: {catalog}
"""

_CATALOGS = 5
_ASSEMBLIES_PER_STIMULUS_SET = 2


def catalog_registry(root: Path, rows: int) -> list[str]:
    """A registry whose catalogs have ``rows`` rows in all, from .dvc files written directly.

    Each group is one stimulus set (CSV + ZIP rows) and two assemblies: 4 rows.  The data files
    themselves do not exist (lookups never touch them).  Returns some assembly identifiers.
    """
    init_registry(root, "../storage")
    groups = rows // (2 + _ASSEMBLIES_PER_STIMULUS_SET)
    assemblies = []

    def write(relative: str, name: str, identifier: str, lookup_type: str, cls: str, stimulus_set: str,
              catalog: str) -> None:
        digest = hashlib.sha1(f"{relative}/{name}".encode()).hexdigest()
        path = root / relative / f"{name}.dvc"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_DVC_FILE.format(md5=digest[:32], size=len(name) * 1000, name=name, identifier=identifier,
                                         lookup_type=lookup_type, cls=cls, sha1=digest, stimulus_set=stimulus_set,
                                         catalog=catalog))

    for group in range(groups):
        catalog = f"lab{group % _CATALOGS}"
        stimulus_set = f"{catalog}.Author{2000 + group % 25}.set{group:05d}"
        directory = f"registry/{catalog}/stimulus_sets/{stimulus_set}"
        write(directory, f"{stimulus_set}.csv", stimulus_set, "stimulus_set", "StimulusSet", "", catalog)
        write(directory, f"{stimulus_set}.zip", stimulus_set, "stimulus_set", "", "", catalog)
        for number in range(_ASSEMBLIES_PER_STIMULUS_SET):
            identifier = f"{stimulus_set}.a{number}"
            write(f"registry/{catalog}/assemblies/{identifier}", f"{identifier}.nc", identifier, "assembly",
                  "NeuronRecordingAssembly", stimulus_set, catalog)
            assemblies.append(identifier)
    subprocess.run([str(_BIN / "brainio-dvc"), "--registry", str(root), "catalog", "build"], check=True,
                   capture_output=True, text=True)
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", f"{rows} catalog rows")
    return assemblies
