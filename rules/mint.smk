# MINT (Ganesh, Corso, Yasaei Sekeh, ICPR 2020): scores per (scoring variant, seed) split into parallel
# chunk jobs, one prune + retrain job per (variant, prune percent, seed), then Table I and Figs. 4-8, A-1.


rule mint_score_chunk:
    input:
        baseline=lambda w: f"runs/baselines/{mint_variant(w.variant)['benchmark']}/seed{w.seed}/model.pt",
    output:
        temp("runs/mint/scores/{variant}/seed{seed}/chunk{k}.pt"),
    params:
        spec=lambda w: json.dumps(benchmark_spec(mint_variant(w.variant)["benchmark"])),
        data_root=DATA_ROOT,
        score_params=lambda w: json.dumps({**mint_score_params(w.variant), "seed": int(w.seed)}),
        chunks=config["mint"].get("score_chunks", 1),
    log:
        "logs/mint/score_{variant}_seed{seed}_chunk{k}.log",
    threads: 1
    resources:
        gpu=lambda w: benchmark_resources(mint_variant(w.variant)["benchmark"], "gpus", 0),
        mem_mb=lambda w: benchmark_resources(mint_variant(w.variant)["benchmark"], "mem_mb", 8000),
        runtime=lambda w: benchmark_resources(mint_variant(w.variant)["benchmark"], "runtime", 120),
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.mint_jobs score --spec {params.spec:q} --data-root {params.data_root:q}"
        " --baseline {input.baseline} --params {params.score_params:q} --chunk {wildcards.k}"
        " --chunks {params.chunks} --out {output} --threads {threads} --log {log}"


rule mint_scores:
    input:
        lambda w: expand(
            "runs/mint/scores/{{variant}}/seed{{seed}}/chunk{k}.pt", k=range(config["mint"].get("score_chunks", 1))
        ),
    output:
        scores="runs/mint/scores/{variant}/seed{seed}/scores.pt",
        perf="results/perf/mint/{variant}_seed{seed}.json",
    log:
        "logs/mint/scores_{variant}_seed{seed}.log",
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.mint_jobs merge --inputs {input} --out {output.scores} --perf-out {output.perf}"
        " --log {log}"


rule mint_prune:
    input:
        baseline=lambda w: f"runs/baselines/{mint_variant(w.variant)['benchmark']}/seed{w.seed}/model.pt",
        record=lambda w: f"results/baselines/{mint_variant(w.variant)['benchmark']}/seed{w.seed}.json",
        scores=lambda w: f"runs/mint/scores/{mint_scoring(w.variant)}/seed{w.seed}/scores.pt",
    output:
        model="runs/mint/{variant}/p{percent}/seed{seed}/model.pt",
        record="results/mint/runs/{variant}/p{percent}/seed{seed}.json",
    params:
        spec=lambda w: json.dumps(benchmark_spec(mint_variant(w.variant)["benchmark"])),
        data_root=DATA_ROOT,
        method_params=lambda w, input: json.dumps(
            {**mint_variant(w.variant)["params"], "prune_percent": float(w.percent), "seed": int(w.seed),
             "scores": input.scores}
        ),
        finetune=lambda w: json.dumps(ibconfig.finetune_protocol(config, mint_variant(w.variant)["retrain"], SCALE)),
    log:
        "logs/mint/prune_{variant}_p{percent}_seed{seed}.log",
    threads: 1
    resources:
        gpu=lambda w: benchmark_resources(mint_variant(w.variant)["benchmark"], "gpus", 0),
        mem_mb=lambda w: benchmark_resources(mint_variant(w.variant)["benchmark"], "mem_mb", 4000),
        runtime=lambda w: benchmark_resources(mint_variant(w.variant)["benchmark"], "runtime", 120),
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.jobs prune --spec {params.spec:q} --seed {wildcards.seed}"
        " --data-root {params.data_root:q} --baseline {input.baseline} --baseline-record {input.record}"
        " --method mint --method-params {params.method_params:q} --ratio 0.0"
        " --finetune {params.finetune:q} --model-out {output.model} --out {output.record}"
        " --threads {threads} --log {log}"


rule mint_table1:
    input:
        runs=lambda w: [r for v in config["mint"]["table1"]["variants"] for r in mint_runs(v)],
        baselines=lambda w: sorted({r for v in config["mint"]["table1"]["variants"] for r in mint_baseline_records(v)}),
        perf=lambda w: [
            f"results/perf/mint/{mint_scoring(v)}_seed{s}.json"
            for v in config["mint"]["table1"]["variants"]
            for s in mint_seeds(v)
        ],
        reference=os.path.join(workflow.basedir, "results", "reference", "mint_table1.csv"),
    output:
        table="results/mint/table1.csv",
        sweep="results/mint/table1_sweep.csv",
        perf="results/perf/mint_scoring.csv",
        figure="figures/mint/fig5.png",
        provenance="results/mint/table1.provenance.json",
    params:
        drop=config["mint"].get("max_val_drop_pp", 0.12),
        config=lambda w: json.dumps({v: mint_variant(v) for v in config["mint"]["table1"]["variants"]}),
        command=f"snakemake --config scale={SCALE} results/mint/table1.csv",
    log:
        "logs/mint/table1.log",
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.mint_tables table --runs {input.runs} --baselines {input.baselines}"
        " --perf {input.perf} --reference {input.reference} --max-val-drop-pp {params.drop}"
        " --out {output.table} --sweep-out {output.sweep} --perf-out {output.perf} --figure {output.figure}"
        " --command {params.command:q} --config {params.config:q} --log {log}"


rule mint_ablation:
    input:
        runs=lambda w: [r for v in mint_figure_variants(w.fig) for r in mint_runs(v)],
        baselines=lambda w: sorted({r for v in mint_figure_variants(w.fig) for r in mint_baseline_records(v)}),
        reference=os.path.join(workflow.basedir, "results", "reference", "mint_ablations_code_readme.csv"),
    output:
        table="results/mint/{fig}.csv",
        figure="figures/mint/{fig}.png",
        provenance="results/mint/{fig}.provenance.json",
    wildcard_constraints:
        fig="fig4a|fig4b|figA1",
    params:
        drop=config["mint"].get("ablation_max_val_drop_pp", 0.09),
        series=lambda w: json.dumps(
            {"none": mint_figure_variants(w.fig)} if w.fig != "figA1" else config["mint"]["figures"]["figA1"]
        ),
        command=lambda w: f"snakemake --config scale={SCALE} results/mint/{w.fig}.csv",
    log:
        "logs/mint/{fig}.log",
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.mint_tables ablation --fig {wildcards.fig} --runs {input.runs}"
        " --baselines {input.baselines} --reference {input.reference} --series {params.series:q}"
        " --max-val-drop-pp {params.drop} --out {output.table} --figure {output.figure}"
        " --command {params.command:q} --log {log}"


rule mint_characterize:
    input:
        unpack(lambda w: mint_chosen_inputs(config["mint"]["figures"]["characterize"])),
    output:
        attacks="results/mint/fig6.csv",
        calibration="results/mint/fig8.csv",
        fig6="figures/mint/fig6.png",
        fig8="figures/mint/fig8.png",
        provenance="results/mint/fig6.provenance.json",
    params:
        spec=lambda w: json.dumps(benchmark_spec(mint_variant(config["mint"]["figures"]["characterize"])["benchmark"])),
        data_root=DATA_ROOT,
        drop=config["mint"].get("max_val_drop_pp", 0.12),
        eps=" ".join(str(e) for e in config["mint"]["figures"]["attack_eps"]),
        samples=config["mint"]["figures"].get("attack_samples", 2000) if SCALE == "paper" else 100,
        command=f"snakemake --config scale={SCALE} results/mint/fig6.csv",
    log:
        "logs/mint/characterize.log",
    threads: 1
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.mint_tables characterize --spec {params.spec:q} --data-root {params.data_root:q}"
        " --runs {input.runs} --baselines {input.baselines} --models {input.models}"
        " --baseline-models {input.baseline_models} --max-val-drop-pp {params.drop} --eps {params.eps}"
        " --samples {params.samples} --attacks-out {output.attacks} --calibration-out {output.calibration}"
        " --fig6 {output.fig6} --fig8 {output.fig8} --command {params.command:q} --threads {threads} --log {log}"


rule mint_gradcam:
    input:
        unpack(lambda w: mint_chosen_inputs(config["mint"]["figures"]["gradcam"]["variant"])),
    output:
        figure="figures/mint/fig7.png",
        provenance="figures/mint/fig7.provenance.json",
    params:
        spec=lambda w: json.dumps(benchmark_spec(mint_variant(config["mint"]["figures"]["gradcam"]["variant"])["benchmark"])),
        data_root=DATA_ROOT,
        drop=config["mint"].get("max_val_drop_pp", 0.12),
        layer=config["mint"]["figures"]["gradcam"]["layer"],
        images=config["mint"]["figures"]["gradcam"].get("images", 6),
        command=f"snakemake --config scale={SCALE} figures/mint/fig7.png",
    log:
        "logs/mint/gradcam.log",
    threads: 1
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.mint_tables gradcam --spec {params.spec:q} --data-root {params.data_root:q}"
        " --runs {input.runs} --baselines {input.baselines} --models {input.models}"
        " --baseline-models {input.baseline_models} --max-val-drop-pp {params.drop} --layer {params.layer}"
        " --images {params.images} --figure {output.figure} --command {params.command:q} --threads {threads}"
        " --log {log}"


rule mint_mnist:
    """Everything of MINT that runs on a CPU workstation (the MNIST-MLP row and its figures)."""
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
