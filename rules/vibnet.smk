# VIBNet (Dai et al., ICML 2018), Tables 1-4: IB training for every sweep value and seed, then each paper
# table with the paper's rows beside ours, and the sweeps as figures.


rule vibnet_run:
    input:
        baseline=lambda w: "runs/baselines/{}/seed{}/model.pt".format(
            config["vibnet"]["tables"][w.table]["benchmark"], w.seed
        ),
        record=lambda w: "results/baselines/{}/seed{}.json".format(
            config["vibnet"]["tables"][w.table]["benchmark"], w.seed
        ),
    output:
        model="runs/vibnet/{table}/{param}{value}/seed{seed}/model.pt",
        record="results/vibnet/runs/{table}/{param}{value}/seed{seed}.json",
    params:
        spec=lambda w: json.dumps(benchmark_spec(config["vibnet"]["tables"][w.table]["benchmark"])),
        data_root=DATA_ROOT,
        method_params=vibnet_method_params,
        finetune=lambda w: json.dumps(
            ibconfig.finetune_protocol(config, config["vibnet"]["tables"][w.table].get("finetune"), SCALE)
        ),
    log:
        "logs/vibnet/{table}_{param}{value}_seed{seed}.log",
    threads: 1
    resources:
        gpu=lambda w: benchmark_resources(config["vibnet"]["tables"][w.table]["benchmark"], "gpus", 0),
        mem_mb=lambda w: benchmark_resources(config["vibnet"]["tables"][w.table]["benchmark"], "mem_mb", 4000),
        runtime=lambda w: benchmark_resources(config["vibnet"]["tables"][w.table]["benchmark"], "runtime", 240),
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.jobs prune --spec {params.spec:q} --seed {wildcards.seed}"
        " --data-root {params.data_root:q} --baseline {input.baseline} --baseline-record {input.record}"
        " --method vibnet --method-params {params.method_params:q} --ratio 0.0"
        " --finetune {params.finetune:q} --model-out {output.model} --out {output.record}"
        " --threads {threads} --log {log}"


rule vibnet_table:
    input:
        runs=lambda w: [r for t in vibnet_paper_tables()[w.n] for r in vibnet_runs(t)],
        reference=os.path.join(workflow.basedir, "results", "reference", "vibnet_table{n}.csv"),
        baseline_runs=lambda w: vibnet_core_baselines(w.n),
    output:
        table="results/vibnet/table{n}.csv",
        sweep="results/vibnet/table{n}_sweep.csv",
        figure="figures/vibnet/table{n}_sweep.png",
        provenance="results/vibnet/table{n}.provenance.json",
    params:
        config=lambda w: json.dumps({t: config["vibnet"]["tables"][t] for t in vibnet_paper_tables()[w.n]}),
        tolerance=config["vibnet"].get("error_tolerance_pct", 0.2),
        command=lambda w: f"snakemake --config scale={SCALE} results/vibnet/table{w.n}.csv",
    log:
        "logs/vibnet/table{n}.log",
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.vibnet_tables --table {wildcards.n} --runs {input.runs}"
        " --reference {input.reference} --baseline-runs {input.baseline_runs} --tolerance {params.tolerance} --out {output.table}"
        " --figure {output.figure} --command {params.command:q} --config {params.config:q} --log {log}"


rule vibnet_all:
    input:
        expand("results/vibnet/table{n}.csv", n=sorted(vibnet_paper_tables())),
