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
