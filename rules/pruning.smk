# Pruning: one rule for every pruning run of every study (the cross-method table's and each paper's; see
# benchmarks/studies.py for the path scheme), then results/table1.csv.


rule prune:
    input:
        unpack(
            lambda w: {
                "baseline": baseline_model(study_of(w).benchmark, w.seed),
                "record": baseline_record(study_of(w).benchmark, w.seed),
                **study_of(w).input_files(int(w.seed)),
            }
        ),
    output:
        model=ibstudies.MODEL,
        record=ibstudies.RECORD,
    wildcard_constraints:
        **PRUNE_WILDCARDS,
    params:
        spec=lambda w: json.dumps(benchmark_spec(study_of(w).benchmark)),
        data_root=DATA_ROOT,
        method=lambda w: study_of(w).method,
        method_params=lambda w: json.dumps(
            study_of(w).method_params(w.setting, study_of(w).input_files(int(w.seed)))
        ),
        ratio=lambda w: study_of(w).target_ratio(w.setting),
        widths=lambda w: json.dumps(study_of(w).target_widths(w.setting)),
        scope=lambda w: study_of(w).scope,
        finetune=lambda w: json.dumps(study_of(w).finetune),
        study=lambda w: json.dumps(study_of(w).context(w.setting)),
    log:
        "logs/prune/{owner}/{study}/{setting}_seed{seed}.log",
    threads: 1
    resources:
        **job_resources(lambda w: study_of(w).benchmark),
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.jobs prune --spec {params.spec:q} --seed {wildcards.seed}"
        " --data-root {params.data_root:q} --baseline {input.baseline} --baseline-record {input.record}"
        " --method {params.method} --method-params {params.method_params:q} --ratio {params.ratio}"
        " --scope {params.scope} --widths {params.widths:q} --finetune {params.finetune:q} --study {params.study:q}"
        " --model-out {output.model} --out {output.record} --threads {threads} --log {log}"


rule table1:
    input:
        runs=lambda w: table1_runs(),
        baselines=[r for b in ibtable1.table_benchmarks(config) for r in seed_results(b)],
    output:
        **with_provenance(
            table="results/table1.csv",
            figure="figures/table1.png",
        ),
    params:
        config=json.dumps(config["table1"]),
        command=f"snakemake results/table1.csv --config scale={SCALE}",
    log:
        "logs/table1.log",
    localrule: True
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.table1 --runs {input.runs} --baselines {input.baselines}"
        " --out {output.table} --figure {output.figure} --command {params.command:q}"
        " --config {params.config:q} --log {log}"
