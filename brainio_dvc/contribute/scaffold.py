"""``brainio-dvc init``: a new, empty, valid registry in one call.

It initialises git and DVC, sets the default DVC remote (a local directory, or an S3 URL with
its endpoint), and commits ``catalogs/``, ``.gitattributes`` (the merge rule that lets review
branches that add different datasets merge without conflicts in ``catalogs/*/lookup.csv``),
the pull-request workflow and a short README.  Credentials are never written to
``.dvc/config`` (which is committed): DVC reads them from the environment, or from
``.dvc/config.local`` (``dvc remote modify --local storage access_key_id ...``).

:func:`plan_remote` is pure; :func:`init_registry` does the I/O.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..exceptions import BrainioDvcError
from ..store.git import Git
from ..store.layout import CATALOGS_DIR

__all__ = ["GITATTRIBUTES", "WORKFLOW", "RemotePlan", "init_registry", "plan_remote"]

logger = logging.getLogger(__name__)

#: The remote's name in ``.dvc/config``.
REMOTE_NAME = "storage"

#: Rows of a lookup CSV are independent lines: keep both sides' lines on a merge.
GITATTRIBUTES = """\
# Catalog rows are independent lines: a merge keeps the rows of both sides, so two review
# branches that add different datasets merge without a conflict. `brainio-dvc catalog check`
# accepts rows in any order; `brainio-dvc catalog build` restores the canonical one.
catalogs/*/lookup.csv merge=union
"""

#: The pull-request check; the same text as brainio-dvc's .github/workflows/catalog-check.yml.
WORKFLOW = """\
# The pull-request check of a brainio-dvc registry: every .dvc file is well-formed, the
# catalogs are in sync with them, and every artifact is on the DVC remote.
# Copy this file into your registry's .github/workflows/ (`brainio-dvc init` does).
# Identifiers that break the naming convention are warnings; to refuse new ones, add
# `--strict --base origin/${{ github.base_ref }}` on pull requests.
name: catalog check
on:
  pull_request:
  push:
    branches: [main]
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install brainio-dvc
        run: python -m pip install brainio-dvc
      - name: Check the catalogs and the remote
        env:
          # For an S3 remote, give read credentials as repository secrets.
          AWS_ACCESS_KEY_ID: ${{ secrets.AWS_ACCESS_KEY_ID }}
          AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}
        run: brainio-dvc catalog check --remote
"""

_README = """\
# {name}

A [brainio-dvc](https://github.com/brain-score/brainio-dvc) registry: BrainIO stimulus sets and
data assemblies, versioned with git and DVC. The data lives on the DVC remote `{remote}`
({url}); this repository holds the `.dvc` files and the generated catalogs.

    brainio-dvc --registry . list                  # what the registry holds
    brainio-dvc package stimulus-set stimuli.csv images/ --identifier lab.Smith2025
    git push origin package/lab.Smith2025          # then open a pull request
    brainio-dvc catalog check --remote             # what the pull-request check runs

Credentials for the remote come from the environment (`AWS_ACCESS_KEY_ID`, ...) or from
`.dvc/config.local` (`dvc remote modify --local {remote} access_key_id ...`), never from
`.dvc/config`, which is committed.
"""


@dataclass(frozen=True)
class RemotePlan:
    """What goes into ``.dvc/config`` for the default remote."""

    url: str
    endpoint_url: str | None = None
    local_directory: Path | None = None


def plan_remote(root: Path, remote: str | None, endpoint_url: str | None, cwd: Path) -> RemotePlan:
    """The default remote of a new registry at ``root``.

    No ``remote``: the directory ``<root>-storage`` beside the registry.  A local directory
    given relative (and the default) is stored relative to ``.dvc/``, as ``dvc remote add``
    does, so a copy of both directories keeps working; ``url`` is then relative to ``cwd``,
    which is how DVC's config editor takes relative paths.  A URL (``s3://bucket/prefix``) is
    stored as given.
    """
    if remote is not None and "://" in remote:
        return RemotePlan(url=remote, endpoint_url=endpoint_url)
    if endpoint_url:
        msg = "--endpoint-url needs an S3 remote URL (--remote s3://bucket/prefix)"
        raise BrainioDvcError(msg)
    if remote is not None and Path(remote).expanduser().is_absolute():
        directory = Path(remote).expanduser()
        return RemotePlan(url=str(directory), local_directory=directory)
    directory = root.parent / f"{root.name}-storage" if remote is None else (cwd / remote).resolve()
    return RemotePlan(url=os.path.relpath(directory, cwd), local_directory=directory)


def init_registry(
    directory: str | os.PathLike[str] = ".",
    remote: str | None = None,
    endpoint_url: str | None = None,
) -> dict[str, str]:
    """Make an empty registry in ``directory`` (created if missing) and commit it.

    Refuses a directory that is a DVC repository already.  Returns the registry's root, the
    remote's URL and the commit.
    """
    from dvc.repo import Repo

    root = Path(directory).expanduser().resolve()
    if (root / ".dvc").exists():
        msg = f"{root} is a DVC repository already; `brainio-dvc --registry {root} list` reads it"
        raise BrainioDvcError(msg)
    plan = plan_remote(root, remote, endpoint_url, Path.cwd())
    root.mkdir(parents=True, exist_ok=True)
    git = Git(root)
    if not (root / ".git").exists():
        git.run("init", "--quiet")
    from .transaction import quiet_dvc

    with quiet_dvc():
        Repo.init(str(root)).close()
    with Repo(str(root)) as repo, repo.config.edit("repo") as config:
        config.setdefault("core", {})["remote"] = REMOTE_NAME
        config["core"]["analytics"] = False
        settings: dict[str, object] = {"url": plan.url}
        if plan.endpoint_url:
            settings["endpointurl"] = plan.endpoint_url
        config.setdefault("remote", {})[REMOTE_NAME] = settings
    if plan.local_directory is not None:
        plan.local_directory.mkdir(parents=True, exist_ok=True)
    described = str(plan.local_directory or plan.url)
    files = {
        f"{CATALOGS_DIR}/.gitkeep": "",
        ".gitattributes": GITATTRIBUTES,
        ".github/workflows/catalog-check.yml": WORKFLOW,
        "README.md": _README.format(name=root.name, remote=REMOTE_NAME, url=described),
    }
    for relative, text in files.items():
        path = root / relative
        if path.exists():
            logger.info("keeping the existing %s", path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    git.run("add", "--", ".dvc", ".dvcignore", *files)
    git.run("commit", "--quiet", "-m", "Empty brainio-dvc registry")
    commit = git.run("rev-parse", "HEAD").strip()
    logger.info("made an empty registry in %s with remote %s", root, described)
    return {"registry": str(root), "remote": described, "commit": commit}
