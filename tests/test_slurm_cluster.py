"""The cluster path against a real scheduler: a smoke-scale target of the DAG submitted through
profiles/slurm, and a failing job reported as failed. Needs a running SLURM cluster: CI starts a one-node
one with profiles/slurm/local_cluster/start.sh; elsewhere these tests skip, saying why."""
import json
import shutil
import subprocess

import pytest

from conftest import REPO, snakemake

# the local cluster has no accounting database (sacct fails, and the plugin would wait on it): squeue
SLURM_ARGS = ("--profile", str(REPO / "profiles" / "slurm"), "--slurm-status-command", "squeue",
              "--slurm-init-seconds-before-status-checks", "5", "--seconds-between-status-checks", "5")


def cluster_problem() -> str | None:
    if shutil.which("sinfo") is None:
        return "no SLURM client (sinfo) on this machine; start one with profiles/slurm/local_cluster/start.sh"
    out = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        return f"no SLURM controller answers (sinfo: {out.stderr.strip()[:200]})"
    if not any(s.rstrip("*~#") in ("idle", "mixed", "allocated") for s in out.stdout.split()):
        return f"no SLURM node is up (states: {out.stdout.split()})"
    try:  # a node that cannot run a trivial job is an infrastructure problem, not the workflow's
        job = subprocess.run(["srun", "-N1", "-n1", "-t", "1", "true"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "the SLURM cluster did not run a trivial job (srun true) within 60 s"
    if job.returncode != 0:
        return f"the SLURM cluster does not run jobs (srun true: {job.stderr.strip()[:200]})"
    return None


needs_cluster = pytest.mark.skipif(cluster_problem() is not None, reason=str(cluster_problem()))


@pytest.mark.slow
@needs_cluster
def test_smoke_target_runs_as_slurm_jobs(tmp_path, mnist_mirror):
    rc, out = snakemake(tmp_path, *SLURM_ARGS, "--config", "scale=smoke", f"mirror={mnist_mirror}",
                        f"data_root={tmp_path / 'data'}", "download=False", "--",
                        "results/baselines/lenet_300_100_mnist.csv", timeout=900)
    assert rc == 0, out[-4000:]
    submitted = [line for line in out.splitlines() if "has been submitted with SLURM jobid" in line]
    assert {r for r in ("prepare_data", "train_baseline", "evaluate_baseline") if any(r in s for s in submitted)} == \
        {"prepare_data", "train_baseline", "evaluate_baseline"}, out[-3000:]
    smoke = tmp_path / "smoke" / "results" / "baselines"
    assert "lenet_300_100_mnist" in (smoke / "lenet_300_100_mnist.csv").read_text()
    prov = json.loads((smoke / "lenet_300_100_mnist.provenance.json").read_text())
    assert prov["scale"] == "smoke" and "--profile" in prov["invocation"]["argv"]
    assert json.loads((smoke / "lenet_300_100_mnist" / "seed0.json").read_text())["test"]["n"] == 500


@pytest.mark.slow
@needs_cluster
def test_a_failing_slurm_job_is_reported_and_the_run_ends(tmp_path):
    empty = tmp_path / "no_archives"
    empty.mkdir()
    rc, out = snakemake(tmp_path, *SLURM_ARGS, "--retries", "0", "--config", "scale=smoke", f"mirror={empty}",
                        f"data_root={tmp_path / 'data'}", "download=False", "--", "runs/data/mnist.json", timeout=600)
    assert rc != 0
    assert "failed" in out and "prepare_data" in out, out[-3000:]
