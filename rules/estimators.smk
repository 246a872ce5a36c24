# MI estimator benchmark (Table 2): estimators on ground-truth tasks (benchmarks/mi_tasks.py), targeted
# speed/accuracy checks and figures. Config: config/estimators.yaml, section estimator_benchmark.<scale>.
# Inputs are resolved against the repository (workflow.basedir) because smoke runs use the workdir smoke/.
import glob

MI_BENCHMARK_FIGURES = ["accuracy_vs_runtime", "error_vs_n", "runtime_vs_n", "runtime_vs_dim"]


rule mi_benchmark:
    input:
        config=os.path.join(workflow.basedir, "config", "estimators.yaml"),
        schema=os.path.join(workflow.basedir, "config", "schema", "estimators.schema.yaml"),
        code=[
            os.path.join(workflow.basedir, "benchmarks", name)
            for name in ("mi_benchmark.py", "mi_tasks.py")
        ],
        estimators=sorted(glob.glob(os.path.join(workflow.basedir, "estimators", "*.py"))),
    output:
        **with_provenance(
            table="results/table2.csv",
            raw="results/estimators/mi_benchmark_raw.csv",
            targets="results/perf/estimators_targets.csv",
            figures=expand("figures/estimators/{name}.png", name=MI_BENCHMARK_FIGURES),
        ),
    params:
        scale=config["scale"],
        fig_dir=lambda wildcards, output: os.path.dirname(output.figures[0]),
    log:
        "logs/mi_benchmark.log",
    # timings in the table are taken with this many torch threads (the paper grid is sized for 2)
    threads: 2
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.mi_benchmark --config {input.config:q} --scale {params.scale}"
        " --out-raw {output.raw} --out-table {output.table} --out-targets {output.targets}"
        " --fig-dir {params.fig_dir} --provenance {output.table_provenance} --threads {threads} --log {log}"


REGRESSION = config["estimator_regression"]


rule mi_benchmark_check:
    """The estimator benchmark run again for a regression check, into results/estimators/check/."""
    input:
        config=os.path.join(workflow.basedir, REGRESSION["config"]),
        code=[
            os.path.join(workflow.basedir, "benchmarks", name)
            for name in ("mi_benchmark.py", "mi_tasks.py", "outside_estimators.py")
        ],
        estimators=sorted(glob.glob(os.path.join(workflow.basedir, "estimators", "*.py"))),
    output:
        **with_provenance(
            table="results/estimators/check/table2.csv",
            raw="results/estimators/check/mi_benchmark_raw.csv",
            targets="results/estimators/check/estimators_targets.csv",
            figures=expand("figures/estimators/check/{name}.png", name=MI_BENCHMARK_FIGURES),
        ),
    params:
        scale=config["scale"],
        fig_dir=lambda wildcards, output: os.path.dirname(output.figures[0]),
    log:
        "logs/mi_benchmark_check.log",
    threads: 2
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.mi_benchmark --config {input.config:q} --scale {params.scale}"
        " --out-raw {output.raw} --out-table {output.table} --out-targets {output.targets}"
        " --fig-dir {params.fig_dir} --provenance {output.table_provenance} --threads {threads} --log {log}"


rule estimator_regression:
    """The check against the reference table: report, summary, figure (a failed job would lose them, so the
    rule never fails on flags; the gate for CI is `python -m benchmarks.mi_regression ... --fail-on-regression`)."""
    input:
        current="results/estimators/check/table2.csv",
        reference=os.path.join(workflow.basedir, REGRESSION["reference"]),
    output:
        **with_provenance(
            report="results/estimators/check/regression.csv",
            summary="results/estimators/check/regression_summary.csv",
            figure="figures/estimators/check/regression.png",
        ),
    params:
        tolerance=REGRESSION["error_tolerance"],
        factor=REGRESSION["time_factor"],
        config=json.dumps(REGRESSION),
        command="snakemake estimator_regression",
    log:
        "logs/estimator_regression.log",
    localrule: True
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.mi_regression --current {input.current} --reference {input.reference:q}"
        " --out {output.report} --figure {output.figure} --error-tolerance {params.tolerance}"
        " --time-factor {params.factor} --command {params.command:q} --config {params.config:q} --log {log}"
