# MINT (Ganesh, Corso, Yasaei Sekeh, ICPR 2020): Table I and Figs. 4-8, A-1. Scores per (scoring variant,
# seed) split into parallel chunk jobs; the prune + retrain runs are the studies of benchmarks/papers/mint
# (one per variant, made by the shared `prune` rule); then Table I and the figures.
# Outputs -> functions: benchmarks/papers/mint/README.md.
from benchmarks.papers import mint as mint_paper

MINT = config["mint"]


rule mint_score_chunk:
    input:
        baseline=lambda w: baseline_model(STUDIES[("mint", w.variant)].benchmark, w.seed),
    output:
        temp("runs/mint/scores/{variant}/seed{seed}/chunk{k}.pt"),
    params:
        spec=lambda w: json.dumps(benchmark_spec(STUDIES[("mint", w.variant)].benchmark)),
        data_root=DATA_ROOT,
        score_params=lambda w: json.dumps(
            {**mint_paper.score_params(config, w.variant, SCALE), "seed": int(w.seed)}
        ),
        chunks=MINT["score_chunks"],
    log:
        "logs/mint/score_{variant}_seed{seed}_chunk{k}.log",
    threads: 1
    resources:
        **job_resources(lambda w: STUDIES[("mint", w.variant)].benchmark, defaults={"mem_mb": 8000}),
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.mint.jobs score --spec {params.spec:q} --data-root {params.data_root:q}"
        " --baseline {input.baseline} --params {params.score_params:q} --chunk {wildcards.k}"
        " --chunks {params.chunks} --out {output} --threads {threads} --log {log}"


rule mint_scores:
    input:
        lambda w: expand(
            "runs/mint/scores/{{variant}}/seed{{seed}}/chunk{k}.pt", k=range(MINT["score_chunks"])
        ),
    output:
        scores="runs/mint/scores/{variant}/seed{seed}/scores.pt",
        perf="results/perf/mint/{variant}_seed{seed}.json",
    log:
        "logs/mint/scores_{variant}_seed{seed}.log",
    localrule: True
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.mint.jobs merge --inputs {input} --out {output.scores}"
        " --perf-out {output.perf} --log {log}"


rule mint_table1:
    input:
        runs=lambda w: owner_runs("mint", MINT["table1"]["variants"]),
        baselines=lambda w: sorted({r for v in MINT["table1"]["variants"] for r in study_baselines("mint", v)}),
        perf=lambda w: [
            f"results/perf/mint/{mint_paper.scoring(config, v, SCALE)}_seed{s}.json"
            for v in MINT["table1"]["variants"]
            for s in STUDIES[("mint", v)].seeds
        ],
        reference=os.path.join(workflow.basedir, "results", "reference", "mint_table1.csv"),
    output:
        **with_provenance(
            table="results/mint/table1.csv",
            sweep="results/mint/table1_sweep.csv",
            perf="results/perf/mint_scoring.csv",
            figure="figures/mint/fig5.png",
        ),
    params:
        drop=MINT["max_val_drop_pp"],
        target_seconds=MINT["scoring_target_seconds"],
        config=lambda w: mint_paper.variants_json(config, SCALE, MINT["table1"]["variants"]),
        command=f"snakemake results/mint/table1.csv --config scale={SCALE}",
    log:
        "logs/mint/table1.log",
    localrule: True
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.mint.tables table --runs {input.runs} --baselines {input.baselines}"
        " --perf {input.perf} --reference {input.reference} --max-val-drop-pp {params.drop}"
        " --scoring-target-seconds {params.target_seconds} --config {params.config:q}"
        " --out {output.table} --sweep-out {output.sweep} --perf-out {output.perf} --figure {output.figure}"
        " --command {params.command:q} --log {log}"


rule mint_ablation:
    input:
        runs=lambda w: owner_runs("mint", mint_paper.figure_variants(config, w.fig)),
        baselines=lambda w: sorted(
            {r for v in mint_paper.figure_variants(config, w.fig) for r in study_baselines("mint", v)}
        ),
        reference=os.path.join(workflow.basedir, "results", "reference", "mint_ablations_code_readme.csv"),
    output:
        **with_provenance(
            table="results/mint/{fig}.csv",
            figure="figures/mint/{fig}.png",
        ),
    wildcard_constraints:
        fig="fig4a|fig4b|figA1",
    params:
        drop=MINT["ablation_max_val_drop_pp"],
        series=lambda w: json.dumps(mint_paper.figure_series(config, w.fig)),
        config=lambda w: mint_paper.variants_json(config, SCALE, mint_paper.figure_variants(config, w.fig)),
        command=lambda w: f"snakemake results/mint/{w.fig}.csv --config scale={SCALE}",
    log:
        "logs/mint/{fig}.log",
    localrule: True
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.mint.tables ablation --fig {wildcards.fig} --runs {input.runs}"
        " --baselines {input.baselines} --reference {input.reference} --series {params.series:q}"
        " --config {params.config:q} --max-val-drop-pp {params.drop} --out {output.table}"
        " --figure {output.figure} --command {params.command:q} --log {log}"


rule mint_characterize:
    input:
        unpack(lambda w: study_files("mint", MINT["figures"]["characterize"])),
    output:
        **with_provenance(
            attacks="results/mint/fig6.csv",
            calibration="results/mint/fig8.csv",
            fig6="figures/mint/fig6.png",
            fig8="figures/mint/fig8.png",
        ),
    params:
        spec=lambda w: json.dumps(benchmark_spec(STUDIES[("mint", MINT["figures"]["characterize"])].benchmark)),
        data_root=DATA_ROOT,
        drop=MINT["max_val_drop_pp"],
        config=lambda w: mint_paper.variants_json(config, SCALE, [MINT["figures"]["characterize"]]),
        eps=" ".join(str(e) for e in MINT["figures"]["attack_eps"]),
        samples=MINT["figures"].get("attack_samples", 2000) if SCALE == "paper" else 100,
        command=f"snakemake results/mint/fig6.csv --config scale={SCALE}",
    log:
        "logs/mint/characterize.log",
    threads: 1
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.mint.tables characterize --spec {params.spec:q} --data-root {params.data_root:q}"
        " --runs {input.runs} --baselines {input.baselines} --models {input.models}"
        " --baseline-models {input.baseline_models} --max-val-drop-pp {params.drop} --config {params.config:q}"
        " --eps {params.eps} --samples {params.samples} --attacks-out {output.attacks}"
        " --calibration-out {output.calibration} --fig6 {output.fig6} --fig8 {output.fig8}"
        " --command {params.command:q} --threads {threads} --log {log}"


rule mint_gradcam:
    input:
        unpack(lambda w: study_files("mint", MINT["figures"]["gradcam"]["variant"])),
    output:
        **with_provenance(
            figure="figures/mint/fig7.png",
        ),
    params:
        spec=lambda w: json.dumps(benchmark_spec(STUDIES[("mint", MINT["figures"]["gradcam"]["variant"])].benchmark)),
        data_root=DATA_ROOT,
        drop=MINT["max_val_drop_pp"],
        config=lambda w: mint_paper.variants_json(config, SCALE, [MINT["figures"]["gradcam"]["variant"]]),
        layer=MINT["figures"]["gradcam"]["layer"],
        images=MINT["figures"]["gradcam"].get("images", 6),
        command=f"snakemake figures/mint/fig7.png --config scale={SCALE}",
    log:
        "logs/mint/gradcam.log",
    threads: 1
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.mint.tables gradcam --spec {params.spec:q} --data-root {params.data_root:q}"
        " --runs {input.runs} --baselines {input.baselines} --models {input.models}"
        " --baseline-models {input.baseline_models} --max-val-drop-pp {params.drop} --config {params.config:q}"
        " --layer {params.layer} --images {params.images} --figure {output.figure}"
        " --command {params.command:q} --threads {threads} --log {log}"


rule mint_mnist:
    """MINT's figures that run on a CPU workstation (MNIST MLP). Table I's MNIST row on a CPU:
    results/mint/table1.csv with --configfile config/mint_mnist_only.yaml (by default Table I also holds
    the GPU rows)."""
    input:
        "results/mint/fig4a.csv",
        "results/mint/fig4b.csv",
        "results/mint/figA1.csv",
        "results/mint/fig6.csv",


rule mint_all:
    input:
        "results/mint/table1.csv",
        "results/mint/fig4a.csv",
        "results/mint/fig4b.csv",
        "results/mint/figA1.csv",
        "results/mint/fig6.csv",
        "figures/mint/fig7.png",
