# Pruning: each method on each table1 benchmark at each target ratio and seed, then results/table1.csv.


rule prune:
    input:
        baseline="runs/baselines/{benchmark}/seed{seed}/model.pt",
        record="results/baselines/{benchmark}/seed{seed}.json",
    output:
        model="runs/pruning/{benchmark}/{method}/ratio{ratio}/seed{seed}/model.pt",
        record="results/pruning/{benchmark}/{method}/ratio{ratio}/seed{seed}.json",
    params:
        spec=lambda w: json.dumps(benchmark_spec(w.benchmark)),
        data_root=DATA_ROOT,
        method_params=lambda w: json.dumps(config["table1"]["methods"][w.method].get("params", {})),
        scope=lambda w: config["table1"]["methods"][w.method].get("scope", "per_layer"),
        finetune=json.dumps(ibconfig.finetune_protocol(config, config["table1"]["finetune"], SCALE)),
    log:
        "logs/prune/{benchmark}_{method}_ratio{ratio}_seed{seed}.log",
    threads: 1
    resources:
        gpu=lambda w: benchmark_resources(w.benchmark, "gpus", 0),
        mem_mb=lambda w: benchmark_resources(w.benchmark, "mem_mb", 4000),
        runtime=lambda w: benchmark_resources(w.benchmark, "runtime", 120),
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.jobs prune --spec {params.spec:q} --seed {wildcards.seed}"
        " --data-root {params.data_root:q} --baseline {input.baseline} --baseline-record {input.record}"
        " --method {wildcards.method} --method-params {params.method_params:q} --ratio {wildcards.ratio}"
        " --scope {params.scope} --finetune {params.finetune:q} --model-out {output.model}"
        " --out {output.record} --threads {threads} --log {log}"


rule table1:
    input:
        runs=table1_runs() + table1_vibnet_runs() + table1_mint_runs(),
        baselines=[r for b in config["table1"]["benchmarks"] for r in seed_results(b)],
    output:
        table="results/table1.csv",
        figure="figures/table1.png",
        provenance="results/table1.provenance.json",
    params:
        config=json.dumps(config["table1"]),
        command=f"snakemake --config scale={SCALE} results/table1.csv",
    log:
        "logs/table1.log",
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.table1 --runs {input.runs} --baselines {input.baselines}"
        " --out {output.table} --figure {output.figure} --command {params.command:q}"
        " --config {params.config:q} --log {log}"
