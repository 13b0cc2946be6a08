"""``python -m benchmarks.migration``: migrate a 300-entry manifest by reference and by copy.

Uploads 100 stimulus sets (CSV + ZIP) and 100 assemblies (300 objects of random bytes) to a
versioned bucket of a SeaweedFS S3 server it starts, writes their manifest, then measures in one
process and one run:

* ``migrate --reference`` (HEAD requests only) into a fresh registry, against the target of
  60 s for 300 entries;
* ``migrate --copy`` into another fresh registry with a local DVC remote (download at the
  version, SHA-1 check, ``dvc add``, push, commit), beside the baseline: a plain boto3
  download of the same objects with as many threads, and its ratio to it (target 1.3x).

Not part of the test suite.  Results go to ``benchmarks/migration-results.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .harness import REPO, absolute_figure, ratio_figure, table
from .registries import isolate

logger = logging.getLogger("benchmarks")

_OUTPUT = REPO / "benchmarks" / "migration-results.json"


def _upload(server, bucket: str, datasets: int, size: int) -> list[dict[str, str]]:  # noqa: ANN001
    import hashlib

    client = server.client()
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    def put(identifier: str, kind: str, cls: str, key: str, length: int, stimulus_set: str) -> dict[str, str]:
        body = os.urandom(length)
        version = client.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]
        return {"identifier": identifier, "kind": kind, "class": cls, "bucket": bucket, "key": key,
                "version_id": version, "sha1": hashlib.sha1(body).hexdigest(), "stimulus_set_identifier": stimulus_set,
                "bibtex": ""}

    jobs = []
    for number in range(datasets):
        identifier = f"bench.Set{number:03d}2024"
        stem = identifier.replace(".", "_")
        jobs += [(identifier, "stimulus_set", "StimulusSet", f"vision/stimulus_{stem}.csv", size // 20, ""),
                 (identifier, "stimulus_set", "", f"vision/stimulus_{stem}.zip", size, ""),
                 (f"{identifier}.it", "assembly", "NeuronRecordingAssembly", f"vision/assy_{stem}_it.nc", size,
                  identifier)]
    with ThreadPoolExecutor(8) as pool:
        rows = list(pool.map(lambda job: put(*job), jobs))
    return rows


def _manifest(path: Path, rows: list[dict[str, str]]) -> Path:
    from brainio_dvc.migrate import MANIFEST_COLUMNS

    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _boto3_download(rows: list[dict[str, str]], directory: Path, jobs: int) -> float:
    """The baseline: every object at its version, to a file, with ``jobs`` threads."""
    from brainio_dvc.s3 import s3_client

    directory.mkdir(parents=True)

    def one(numbered: tuple[int, dict[str, str]]) -> None:
        number, row = numbered
        client = s3_client()
        client.download_file(row["bucket"], row["key"], str(directory / str(number)),
                             ExtraArgs={"VersionId": row["version_id"]})

    started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, enumerate(rows)))
    return time.perf_counter() - started


def _registry(base: Path) -> Path:
    from tests.gitdvc import init_registry

    return init_registry(base / "registry", "../storage")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.migration", description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=100, help="stimulus sets, each with one assembly (3 entries)")
    parser.add_argument("--size", type=int, default=1 << 20, help="bytes of each ZIP and netCDF object (CSV: 1/20)")
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--output", type=Path, default=_OUTPUT)
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    from tests.seaweed import ADMIN_KEY, ADMIN_SECRET, SeaweedServer

    work = Path(tempfile.mkdtemp(prefix="brainio-dvc-bench-migrate-"))
    isolate(work)
    server = SeaweedServer(work / "seaweedfs").start()
    try:
        os.environ.update({"AWS_ENDPOINT_URL": server.endpoint, "AWS_ACCESS_KEY_ID": ADMIN_KEY,
                           "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET})
        rows = _upload(server, f"bench-{uuid.uuid4().hex[:8]}", options.datasets, options.size)
        manifest = _manifest(work / "manifest.csv", rows)
        from brainio_dvc.migrate import migrate

        logger.info("%d entries; reference mode", len(rows))
        os.environ["BRAINIO_HOME"] = str(work / "home-reference")
        started = time.perf_counter()
        reference = migrate(manifest, _registry(work / "reference"), "reference", jobs=options.jobs)
        reference_seconds = time.perf_counter() - started

        logger.info("baseline: boto3 download")
        baseline_seconds = _boto3_download(rows, work / "boto3", options.jobs)
        total_bytes = sum(path.stat().st_size for path in (work / "boto3").iterdir())
        shutil.rmtree(work / "boto3")

        logger.info("copy mode")
        os.environ["BRAINIO_HOME"] = str(work / "home-copy")
        started = time.perf_counter()
        copy = migrate(manifest, _registry(work / "copy"), "copy", jobs=options.jobs)
        copy_seconds = time.perf_counter() - started
    finally:
        server.stop()
    for report in (reference, copy):
        if report.counts()["migrated"] != len(rows):
            logger.error("%s mode migrated %s", report.mode, report.counts())
            return 1
    megabytes = total_bytes / 1e6
    figures = [
        absolute_figure(f"migrate --reference, {len(rows)} entries", reference_seconds, 60, "s"),
        ratio_figure(f"migrate --copy, {len(rows)} entries ({megabytes:.0f} MB)", copy_seconds, baseline_seconds, 1.3,
                     "s", note=f"{megabytes / copy_seconds:.1f} MB/s against boto3's "
                               f"{megabytes / baseline_seconds:.1f} MB/s"),
    ]
    print(table(figures, []))
    options.output.write_text(json.dumps({"figures": [f.as_json() for f in figures], "entries": len(rows),
                                          "bytes": total_bytes, "jobs": options.jobs}, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
