"""Provenance records written beside every result file.

``write_provenance(path, ...)`` writes ``<stem>.provenance.json`` next to a result (or to ``path`` itself
when it ends in ``.json``): the git commit (and whether the tree had uncommitted changes to code), the
command, the resolved configuration, the scale, the device, wall time, inputs and outputs, library
versions and the time it was written.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Optional

from .fileio import write_json

REPO = Path(__file__).resolve().parent.parent


def git_commit() -> dict[str, Any]:
    def run(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=20).stdout.strip()

    try:
        commit = run("rev-parse", "HEAD") or None
        # results/ and figures/ change as a run writes them; only code and config make a run dirty.
        dirty = bool(run("status", "--porcelain", "--", ".", ":(exclude)results", ":(exclude)figures"))
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {"commit": commit, "uncommitted_changes": dirty}


def device_description(device: Optional[str] = None) -> dict[str, Any]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    desc = {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cuda_available": torch.cuda.is_available(), "device": device}
    if torch.cuda.is_available():
        desc["gpu"] = torch.cuda.get_device_name(0)
    if hasattr(os, "getloadavg"):  # other work on the machine while timings were taken
        desc["load_average_1_5_15min"] = [round(v, 2) for v in os.getloadavg()]
    return desc


# The distributions whose versions every record carries: what the numbers can depend on. Read from the
# installed metadata (no imports: importing torchvision alone takes seconds). The lock files in locks/
# pin the same names (tests/test_version_locks.py checks the committed records against them).
RECORDED_DISTRIBUTIONS = ("torch", "torchvision", "timm", "numpy", "scipy", "pandas", "matplotlib", "scikit-learn",
                          "numba", "snakemake", "snakemake-executor-plugin-slurm", "jsonschema", "PyYAML", "tqdm")


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for dist in RECORDED_DISTRIBUTIONS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:  # a missing optional package is recorded as such, not fatal
            out[dist] = "not installed"
    try:  # torch's own version string keeps the build tag (+cu130, +cpu): builds can differ in numbers
        import torch

        out["torch"] = torch.__version__
    except ImportError:
        pass
    return out


def provenance_path(result: Path) -> Path:
    result = Path(result)
    return result if result.suffix == ".json" and result.name.endswith(".provenance.json") else \
        result.with_name(result.stem + ".provenance.json")


def portable(text: str) -> str:
    """``text`` without this machine's paths: the repository's location becomes relative to it and the
    interpreter becomes ``python`` (a record must read the same on every machine)."""
    text = str(text).replace(sys.executable, "python")
    # the longer root first (the working directory may lie inside the repository, as smoke/ does)
    for root in sorted({str(REPO), str(Path.cwd())}, key=len, reverse=True):
        if len(root) > 1:
            text = text.replace(root + os.sep, "")
            if text == root:
                text = "."
    # beside the repository (a mirror at ../shared/datasets): relative to it, as a user would type it
    if len(str(REPO.parent)) > 1:
        text = text.replace(str(REPO.parent) + os.sep, ".." + os.sep)
    return text


INVOCATION_ENV = "IBBENCH_INVOCATION"


def export_invocation(argv: list[str], configfiles: list) -> None:
    """Hand the Snakemake command line that runs the workflow, and the overlays (``--configfile``) with
    their sha256, to every job through ``IBBENCH_INVOCATION`` (read back by ``invocation``), so each
    provenance record says how it was really produced. Outside the params, so it reruns nothing; a job's
    own Snakemake process (cluster execution) keeps the user's invocation it inherited."""
    import hashlib

    if INVOCATION_ENV in os.environ:
        return
    files = []
    for f in configfiles:
        p = Path(f)
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
        files.append({"path": str(f), "sha256": digest})
    os.environ[INVOCATION_ENV] = json.dumps({"argv": [str(a) for a in argv], "configfiles": files})


def invocation() -> Optional[dict]:
    """The Snakemake command line and config overlays behind this job (``export_invocation``), machine
    paths made portable; None outside the workflow."""
    raw = os.environ.get(INVOCATION_ENV)
    if not raw:
        return None
    inv = json.loads(raw)
    return {"argv": [portable(a) for a in inv.get("argv", [])],
            "configfiles": [{**f, "path": portable(f["path"])} for f in inv.get("configfiles", [])]}


def write_provenance(path: Path, *, command: str, config: Any, scale: str, wall_seconds: float,
                     inputs: Iterable[str] = (), outputs: Iterable[str] = (), device: Optional[str] = None,
                     extra: Optional[dict] = None) -> Path:
    target = provenance_path(Path(path))
    record = {
        "result": portable(path),
        "scale": scale,
        "command": portable(command),  # the target that rebuilds this output
        "invocation": invocation(),  # the command line that really ran, with its config overlays
        **git_commit(),
        "device": device_description(device),
        "wall_seconds": round(float(wall_seconds), 3),
        "inputs": [portable(p) for p in inputs],
        "outputs": [portable(p) for p in outputs],
        "config": config,
        "versions": versions(),
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if extra:
        record.update(extra)
    _write(target, record)
    spread(target)
    return target


def _write(target: Path, record: dict) -> None:
    write_json(target, record, default=str)


def spread(record_path: Path) -> list[Path]:
    """Give every other output a record of its own (``<stem>.provenance.json`` beside it): the same
    run, with ``result`` naming that output and ``record_of`` naming the run's main record, so each file
    in results/ and figures/ has its provenance next to it."""
    record_path = Path(record_path)
    record = json.loads(record_path.read_text())
    written = []
    for out in record.get("outputs", []):
        out = Path(out)
        target = provenance_path(out)
        if out.suffix == ".json" or target.resolve() == record_path.resolve() or str(out) == record.get("result"):
            continue
        if not (record_path.parent / out.name).exists() and not out.exists():
            continue
        _write(target, {**record, "result": str(out), "record_of": str(record_path)})
        written.append(target)
    return written


if __name__ == "__main__":  # python -m benchmarks.provenance RECORD...: spread existing records
    for arg in sys.argv[1:]:
        for path in spread(Path(arg)):
            print(path)
