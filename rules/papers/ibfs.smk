# ibfs ("Interpreting CNN compression using information bottleneck"): the selection runs are the studies of
# benchmarks/papers/ibfs (made by the shared `prune` rule, methods/ibfs.py); here the analysis of trained
# networks (filter information, masking curves, heatmaps), Figs 2, 3, 4a, 4b, Table 1 with the paper's
# values and accounting beside ours, and the Table-1 analogue run on a CPU. Outputs -> functions:
# benchmarks/papers/ibfs/README.md.
from benchmarks.papers import ibfs as ibfs_paper

IBFS = config["ibfs"]
IBFS_ANALYSIS = ibfs_paper.ANALYSIS


rule ibfs_analysis:
    input:
        baseline=lambda w: baseline_model(w.benchmark, w.seed),
        record=lambda w: baseline_record(w.benchmark, w.seed),
    output:
        **with_provenance(information=IBFS_ANALYSIS["information"]),
        curve=IBFS_ANALYSIS["curve"],
        heatmaps=IBFS_ANALYSIS["heatmaps"],
    params:
        spec=lambda w: json.dumps(benchmark_spec(w.benchmark)),
        data_root=DATA_ROOT,
        layers=lambda w: json.dumps(IBFS["analysis"][w.benchmark]["layers"]),
        top=lambda w: IBFS["analysis"][w.benchmark]["top"] or "",
        rankings=" ".join(IBFS["rankings"]),
        method=json.dumps(IBFS["method_params"]),
        command=lambda w: "snakemake {} --config scale={}".format(IBFS_ANALYSIS["information"].format(**w), SCALE),
    log:
        "logs/ibfs/analysis_{benchmark}_seed{seed}.log",
    threads: 1
    resources:
        **job_resources(lambda w: w.benchmark),
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.ibfs.analysis --spec {params.spec:q} --seed {wildcards.seed}"
        " --data-root {params.data_root:q} --baseline {input.baseline} --layers {params.layers:q}"
        " --top={params.top:q} --rankings {params.rankings} --method-params {params.method:q}"
        f" --curve-points {IBFS['curve_points']} --heatmap-filters {IBFS['heatmap_filters']}"
        f" --heatmap-images {IBFS['heatmap_images']} --heatmap-ranking {IBFS['heatmap_ranking']}"
        " --information {output.information} --curve {output.curve} --heatmaps {output.heatmaps}"
        " --threads {threads} --command {params.command:q} --log {log}"


rule ibfs_figure:
    input:
        lambda w: (
            ibfs_paper.analysis_files(config, SCALE, w.fig)
            if w.fig != "fig4b"
            else [r for s in IBFS["figures"]["fig4b"] for r in study_runs("ibfs", s, IBFS["studies"][s]["sweep"]["values"][0])]
        ),
    output:
        **with_provenance(figure="figures/ibfs/{fig}.png"),
    wildcard_constraints:
        fig="fig2|fig3|fig4a|fig4b",
    params:
        benchmarks=lambda w: " ".join(IBFS["figures"][w.fig]) if w.fig != "fig4b" else "",
        studies=lambda w: json.dumps(
            {s: study_runs("ibfs", s, IBFS["studies"][s]["sweep"]["values"][0]) for s in IBFS["figures"]["fig4b"]}
            if w.fig == "fig4b"
            else {}
        ),
        config=lambda w: json.dumps({"figure": IBFS["figures"][w.fig], "analysis": IBFS["analysis"]}),
        command=lambda w: f"snakemake figures/ibfs/{w.fig}.png --config scale={SCALE}",
        scale=SCALE,
    log:
        "logs/ibfs/{fig}.log",
    localrule: True
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.ibfs.figures {wildcards.fig} --inputs {input} --benchmarks {params.benchmarks}"
        " --studies {params.studies:q} --scale {params.scale} --out {output.figure} --command {params.command:q}"
        " --config {params.config:q} --log {log}"


rule ibfs_table1:
    input:
        runs=lambda w: [r for s in ibfs_paper.table1_studies(config) for r in study_runs("ibfs", s, IBFS["studies"][s]["sweep"]["values"][0])],
        reference=os.path.join(workflow.basedir, "results", "reference", "ibfs_table1.csv"),
    output:
        **with_provenance(table="results/ibfs/table1.csv"),
    params:
        config=json.dumps({s: IBFS["studies"][s] for s in ibfs_paper.table1_studies(config)}),
        command=f"snakemake results/ibfs/table1.csv --config scale={SCALE}",
        scale=SCALE,
    log:
        "logs/ibfs/table1.log",
    localrule: True
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.ibfs.tables table1 --runs {input.runs} --reference {input.reference}"
        " --scale {params.scale} --out {output.table} --command {params.command:q} --config {params.config:q} --log {log}"


rule ibfs_selection_table:
    input:
        runs=lambda w: owner_runs("ibfs", IBFS["selection_studies"]),
    output:
        **with_provenance(table="results/ibfs/lenet5.csv"),
    params:
        config=json.dumps({s: IBFS["studies"][s] for s in IBFS["selection_studies"]}),
        command=f"snakemake results/ibfs/lenet5.csv --config scale={SCALE}",
        scale=SCALE,
    log:
        "logs/ibfs/lenet5.log",
    localrule: True
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.ibfs.tables selection --runs {input.runs} --scale {params.scale}"
        " --out {output.table} --command {params.command:q} --config {params.config:q} --log {log}"


rule ibfs_all:
    """Every ibfs output: Figs 2, 3, 4a, 4b, Table 1 and its CPU analogue."""
    input:
        expand("figures/ibfs/{fig}.png", fig=["fig2", "fig3", "fig4a", "fig4b"]),
        "results/ibfs/table1.csv",
        "results/ibfs/lenet5.csv",
