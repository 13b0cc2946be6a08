"""``python -m benchmarks.migration``: migrate a 300-entry manifest by reference and by copy.

Uploads 100 stimulus sets (CSV + ZIP) and 100 assemblies (300 objects of random bytes) to a
versioned bucket of a SeaweedFS S3 server it starts, writes their manifest, then measures in one
process and one run:

* ``migrate --reference`` (HEAD requests only) into a fresh registry, against the target of
  60 s for 300 entries;
* ``migrate --copy`` into another fresh registry with a local DVC remote (download at the
  version with SHA-1 and MD5 computed as it is written, hard link into the DVC cache, ``.dvc``
  files, push of the new objects, catalog build, commit), beside the baseline: a plain boto3
  download of the same objects with as many threads (``download_file``), and its ratio to it
  (target 1.3x).  A stricter baseline is reported beside it: ``get_object`` streamed to files
  (one request per object, as migrate does; ``download_file`` sends a HEAD first).

Each of the three is measured ``--rounds`` times (fresh registry and data cache each time,
rounds interleaved); figures are medians.  The seconds of each step of the median copy run are
printed and saved, so that a miss can be explained, and so are those of a re-run of the last copy
(every entry skipped: its plan step reads the 300 ``.dvc`` files).  Not part of the test suite.  Results go to
``benchmarks/migration-results.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shutil
import statistics
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


def _upload(server, bucket: str, datasets: int, size: int) -> list[dict[str, str]]:
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
    from brainio_dvc.contribute.migrate import MANIFEST_COLUMNS

    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _boto3_download(rows: list[dict[str, str]], directory: Path, jobs: int, streamed: bool = False) -> float:
    """The baseline: every object at its version, to a file, with ``jobs`` threads
    (``download_file``, or with ``streamed`` one ``get_object`` read in 1 MiB chunks)."""
    from brainio_dvc.s3 import s3_client

    directory.mkdir(parents=True)

    def one(numbered: tuple[int, dict[str, str]]) -> None:
        number, row = numbered
        client = s3_client()
        if not streamed:
            client.download_file(row["bucket"], row["key"], str(directory / str(number)),
                                 ExtraArgs={"VersionId": row["version_id"]})
            return
        body = client.get_object(Bucket=row["bucket"], Key=row["key"], VersionId=row["version_id"])["Body"]
        with body, open(directory / str(number), "wb") as out:
            for chunk in body.iter_chunks(1 << 20):
                out.write(chunk)

    started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, enumerate(rows)))
    return time.perf_counter() - started


class _StepTimer(logging.Handler):
    """Times the packaging steps of a migration from the transaction's ``packaging X: STEP`` records."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.marks: list[tuple[str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("packaging "):
            self.marks.append((message.rsplit(": ", 1)[-1], record.created))

    def steps(self, end: float) -> dict[str, float]:
        ends = [created for _, created in self.marks[1:]] + [end]
        found: dict[str, float] = {}
        for (step, started), stopped in zip(self.marks, ends, strict=True):
            found[step] = round(found.get(step, 0.0) + stopped - started, 3)
        return found


def _timed_migration(manifest: Path, registry: Path, mode: str, jobs: int):
    from brainio_dvc.contribute.migrate import migrate

    timer = _StepTimer()
    transaction_logger = logging.getLogger("brainio_dvc.contribute.transaction")
    transaction_logger.addHandler(timer)
    started = time.perf_counter()
    try:
        report = migrate(manifest, registry, mode, jobs=jobs)
    finally:
        transaction_logger.removeHandler(timer)
    seconds = time.perf_counter() - started
    return report, seconds, timer.steps(time.time())


def _registry(base: Path) -> Path:
    from tests.gitdvc import init_registry

    return init_registry(base / "registry", "../storage")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.migration", description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=100, help="stimulus sets, each with one assembly (3 entries)")
    parser.add_argument("--size", type=int, default=1 << 20, help="bytes of each ZIP and netCDF object (CSV: 1/20)")
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each figure (medians are reported)")
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
        logger.info("%d entries; reference mode", len(rows))
        os.environ["BRAINIO_HOME"] = str(work / "home-reference")
        reference, reference_seconds, reference_steps = _timed_migration(
            manifest, _registry(work / "reference"), "reference", options.jobs)

        baselines: list[float] = []
        streamed: list[float] = []
        copies: list[tuple[float, dict[str, float], object]] = []
        for round_ in range(options.rounds):
            logger.info("round %d: baselines (boto3 download_file, get_object streamed)", round_ + 1)
            baselines.append(_boto3_download(rows, work / "boto3", options.jobs))
            total_bytes = sum(path.stat().st_size for path in (work / "boto3").iterdir())
            shutil.rmtree(work / "boto3")
            streamed.append(_boto3_download(rows, work / "boto3", options.jobs, streamed=True))
            shutil.rmtree(work / "boto3")
            logger.info("round %d: copy mode", round_ + 1)
            os.environ["BRAINIO_HOME"] = str(work / f"home-copy-{round_}")
            copied_registry = _registry(work / f"copy-{round_}")
            report, seconds, steps = _timed_migration(manifest, copied_registry, "copy", options.jobs)
            copies.append((seconds, steps, report))
        logger.info("a re-run of the last copy (everything skipped)")
        rerun, rerun_seconds, rerun_steps = _timed_migration(manifest, copied_registry, "copy", options.jobs)
    finally:
        server.stop()
    copy_seconds, copy_steps, copy = sorted(copies, key=lambda item: item[0])[len(copies) // 2]
    for report in (reference, *(item[2] for item in copies)):
        if report.counts()["migrated"] != len(rows):
            logger.error("%s mode migrated %s", report.mode, report.counts())
            return 1
    if rerun.counts()["skipped"] != len(rows):
        logger.error("the re-run skipped only %s", rerun.counts())
        return 1
    baseline_seconds, streamed_seconds = statistics.median(baselines), statistics.median(streamed)
    megabytes = total_bytes / 1e6
    copy_samples = [item[0] for item in copies]
    figures = [
        absolute_figure(f"migrate --reference, {len(rows)} entries", reference_seconds, 60, "s"),
        ratio_figure(f"migrate --copy, {len(rows)} entries ({megabytes:.0f} MB)", copy_seconds, baseline_seconds, 1.3,
                     "s", samples=copy_samples, baseline_samples=baselines,
                     note=f"{megabytes / copy_seconds:.1f} MB/s against boto3 download_file's "
                          f"{megabytes / baseline_seconds:.1f} MB/s"),
        ratio_figure("  the same, against get_object streamed to files (stricter)", copy_seconds, streamed_seconds,
                     1.3, "s", samples=copy_samples, baseline_samples=streamed,
                     note=f"{megabytes / streamed_seconds:.1f} MB/s"),
    ]
    sys.stdout.write(table(figures, []) + "\n")
    for mode, steps in (("reference", reference_steps), ("copy (median run)", copy_steps),
                        (f"re-run of a copy, all skipped ({rerun_seconds:.2f} s)", rerun_steps)):
        per_step = ", ".join(f"{step} {seconds:.2f}" for step, seconds in steps.items())
        sys.stdout.write(f"{mode}, seconds per step: {per_step}\n")
    options.output.write_text(json.dumps({"figures": [f.as_json() for f in figures], "entries": len(rows),
                                          "bytes": total_bytes, "jobs": options.jobs,
                                          "steps": {"reference": reference_steps, "copy": copy_steps,
                                                    "rerun": rerun_steps}},
                                         indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
