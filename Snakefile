# ibbench: one DAG from dataset preparation to every reproduced table.
#   snakemake --cores 2 results/table1.csv          (paper scale, the default)
#   snakemake --cores 2 --config scale=smoke ...     (same DAG on small subsets, written under smoke/)
import json
import os
import sys

from snakemake.utils import min_version, validate

from benchmarks import config as ibconfig

min_version("8.0")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


validate(config, os.path.join(workflow.basedir, "config", "schema", "config.schema.yaml"))
ibconfig.check_references(config)

SCALE = config["scale"]
PYTHON = sys.executable
# Resolved against the launch directory before the smoke workdir switch, so both scales share the data.
DATA_ROOT = str(ibconfig.data_root(config))
MIRROR = ibconfig.mirror(config)
BENCHMARKS = sorted(config["benchmarks"])

if SCALE == "smoke":

    workdir: "smoke"


wildcard_constraints:
    benchmark="|".join(BENCHMARKS),
    seed=r"\d+",


include: "rules/data.smk"
include: "rules/baselines.smk"
include: "rules/perf.smk"


rule all:
    default_target: True
    input:
        "results/baselines.csv",
