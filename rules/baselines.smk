# Baselines: train each benchmark once per seed, select on validation, evaluate on test, summarise.


rule train_baseline:
    input:
        data=lambda w: "runs/data/{}.json".format(config["benchmarks"][w.benchmark]["dataset"]),
    output:
        model="runs/baselines/{benchmark}/seed{seed}/model.pt",
        summary="runs/baselines/{benchmark}/seed{seed}/train.json",
    params:
        spec=lambda w: json.dumps(benchmark_spec(w.benchmark)),
        data_root=DATA_ROOT,
    log:
        "logs/train_baseline/{benchmark}_seed{seed}.log",
    threads: lambda w: config["benchmarks"][w.benchmark].get("resources", {}).get("cpus", 1)
    resources:
        **job_resources(lambda w: w.benchmark),
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.jobs train --spec {params.spec:q} --seed {wildcards.seed}"
        " --data-root {params.data_root:q} --model-out {output.model} --summary-out {output.summary}"
        " --num-workers {threads} --threads {threads} --log {log}"


rule evaluate_baseline:
    input:
        model="runs/baselines/{benchmark}/seed{seed}/model.pt",
        summary="runs/baselines/{benchmark}/seed{seed}/train.json",
    output:
        "results/baselines/{benchmark}/seed{seed}.json",
    params:
        spec=lambda w: json.dumps(benchmark_spec(w.benchmark)),
        data_root=DATA_ROOT,
    log:
        "logs/evaluate_baseline/{benchmark}_seed{seed}.log",
    resources:
        **job_resources(lambda w: w.benchmark, runtime=60),
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.jobs evaluate --spec {params.spec:q} --data-root {params.data_root:q}"
        " --model {input.model} --train-summary {input.summary} --out {output} --log {log}"


rule summarize_benchmark:
    input:
        lambda w: seed_results(w.benchmark),
    output:
        **with_provenance(
            table="results/baselines/{benchmark}.csv",
            per_seed="results/baselines/{benchmark}_per_seed.csv",
        ),
    params:
        config=lambda w: json.dumps(benchmark_spec(w.benchmark)),
        command=lambda w: f"snakemake results/baselines/{w.benchmark}.csv --config scale={SCALE}",
    log:
        "logs/summarize_benchmark/{benchmark}.log",
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.jobs summarize --inputs {input} --out {output.table}"
        " --command {params.command:q} --config {params.config:q} --log {log}"


rule baselines_summary:
    input:
        [r for name in config["baseline_summary"] for r in seed_results(name)],
    output:
        **with_provenance(
            table="results/baselines.csv",
            per_seed="results/baselines_per_seed.csv",
        ),
    params:
        config=json.dumps({name: benchmark_spec(name) for name in config["baseline_summary"]}),
        command=f"snakemake results/baselines.csv --config scale={SCALE}",
    log:
        "logs/baselines_summary.log",
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.jobs summarize --inputs {input} --out {output.table}"
        " --command {params.command:q} --config {params.config:q} --log {log}"


rule all_baselines:
    input:
        expand("results/baselines/{benchmark}.csv", benchmark=BENCHMARKS),
