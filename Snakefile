# ibbench: one DAG from dataset preparation to every reproduced table.
#   snakemake --cores 2 results/table1.csv          (paper scale, the default)
#   snakemake --cores 2 --config scale=smoke ...     (same DAG on small subsets, written under smoke/)
import json
import os
import sys

from snakemake.utils import min_version

from benchmarks import config as ibconfig
from benchmarks import papers as ibpapers
from benchmarks import provenance as ibprovenance

min_version("8.0")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


# The papers' settings (config/papers/<key>.yaml) go beneath any overlay given on the command line; then
# every section is validated against its schema and cross-checked, before any job runs.
ibconfig.add_paper_sections(config)
ibconfig.validate(config)
ibpapers.check(config)

SCALE = config["scale"]
# Jobs call `python -m ...`: make that the interpreter Snakemake runs in (a venv need not be activated),
# importing this checkout's code (also when another checkout is the installed package).
ibconfig.put_interpreter_first_on_path(workflow.basedir)
# Resolved against the launch directory before the smoke workdir switch, so both scales share the data.
DATA_ROOT = str(ibconfig.data_root(config))
MIRROR = ibconfig.mirror(config)
ibconfig.export_mirror(MIRROR)  # to the data preparation jobs, outside their params (a moved mirror reruns nothing)
ibprovenance.export_invocation(sys.argv, workflow.overwrite_configfiles or [])  # into every provenance record
BENCHMARKS = sorted(config["benchmarks"])

# Smoke runs live in ./smoke (below the directory Snakemake runs in, also with --directory), so the same
# targets (results/...) never overwrite paper-scale results.
ibconfig.enter_scale_workdir(SCALE)


wildcard_constraints:
    benchmark="|".join(BENCHMARKS),
    seed=r"\d+",
    n=r"\d+",


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/baselines.smk"
include: "rules/pruning.smk"
include: "rules/perf.smk"
include: "rules/estimators.smk"
# One line per paper: its rules (its settings come from config/papers/<key>.yaml, listed under `papers`).
include: "rules/papers/vibnet.smk"
include: "rules/papers/mint.smk"
include: "rules/papers/aura.smk"
include: "rules/papers/ibcnn.smk"
include: "rules/papers/ibfs.smk"


rule all:
    default_target: True
    input:
        "results/baselines.csv",
        "results/table1.csv",
        "results/table2.csv",
        "results/perf/harness_overhead.csv",
