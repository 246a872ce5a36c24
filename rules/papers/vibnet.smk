# VIBNet (Dai et al., ICML 2018), Tables 1-4. Runs: the studies of benchmarks/papers/vibnet (one per config
# table, made by the shared `prune` rule); here each paper table with the paper's rows beside ours, and
# the sweeps as figures. Outputs -> functions: benchmarks/papers/vibnet/README.md.
import re

from benchmarks.papers import vibnet as vibnet_paper

VIBNET_TABLES = vibnet_paper.paper_tables(config)


rule vibnet_table:
    input:
        runs=lambda w: owner_runs("vibnet", VIBNET_TABLES[w.n]),
        reference=lambda w: os.path.join(workflow.basedir, vibnet_paper.reference_table(w.n)),
        baseline_runs=lambda w: vibnet_paper.core_runs(config, STUDIES, w.n, ibtable1.OWNER),
        baselines=lambda w: vibnet_paper.baseline_records(config, w.n, SCALE),
    output:
        **with_provenance(
            table="results/vibnet/table{n}.csv",
            sweep="results/vibnet/table{n}_sweep.csv",
            figure="figures/vibnet/table{n}_sweep.png",
        ),
    params:
        config=lambda w: json.dumps({t: config["vibnet"]["tables"][t] for t in VIBNET_TABLES[w.n]}),
        tolerance=config["vibnet"]["error_tolerance_pct"],
        selection_rule=config["vibnet"]["selection_rule"],
        target_factor=config["vibnet"]["target_factor"],
        command=lambda w: f"snakemake results/vibnet/table{w.n}.csv --config scale={SCALE}",
    log:
        "logs/vibnet/table{n}.log",
    localrule: True
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.vibnet.tables --table {wildcards.n} --runs {input.runs}"
        " --reference {input.reference} --baseline-runs {input.baseline_runs} --tolerance {params.tolerance}"
        " --selection-rule {params.selection_rule} --baselines {input.baselines}"
        " --target-factor {params.target_factor} --out {output.table} --sweep-out {output.sweep}"
        " --figure {output.figure} --command {params.command:q} --config {params.config:q} --log {log}"


rule vibnet_all:
    input:
        expand("results/vibnet/table{n}.csv", n=sorted(VIBNET_TABLES)),


# Issue 15: the protocol studies of config vibnet.protocol_studies (one study per factor), one output set per
# study key.
rule vibnet_protocol_study:
    input:
        runs=lambda w: vibnet_paper.protocol_study_runs(config, STUDIES, w.study),
        baselines=lambda w: vibnet_paper.protocol_study_baselines(config, SCALE, w.study),
        reference=lambda w: os.path.join(workflow.basedir, vibnet_paper.protocol_study_reference(config, w.study)),
    output:
        **with_provenance(
            table="results/vibnet/{study}.csv",
            points="results/vibnet/{study}_points.csv",
            figure="figures/vibnet/{study}.png",
        ),
    wildcard_constraints:
        study="|".join(map(re.escape, vibnet_paper.protocol_study_configs(config))) or "(?!)",
    params:
        config=lambda w: json.dumps(vibnet_paper.protocol_study_configs(config)[w.study]),
        tolerance=config["vibnet"]["error_tolerance_pct"],
        selection_rule=config["vibnet"]["selection_rule"],
        target_factor=config["vibnet"]["target_factor"],
        command=lambda w: f"snakemake results/vibnet/{w.study}.csv --config scale={SCALE}",
    log:
        "logs/vibnet/{study}.log",
    localrule: True
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.vibnet.protocol_study --runs {input.runs} --baselines {input.baselines}"
        " --reference {input.reference} --tolerance {params.tolerance} --target-factor {params.target_factor}"
        " --selection-rule {params.selection_rule} --out {output.table} --points-out {output.points}"
        " --figure {output.figure} --command {params.command:q} --config {params.config:q} --log {log}"
