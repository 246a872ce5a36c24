# ibcnn (Li & Liu): each network trained once per dataset with its layer activity stored at the authors'
# logged epochs, measured (binning and KDE bounds), then Figs 4-8 and the final-layer table with the
# authors' values beside ours. Outputs -> functions: benchmarks/papers/ibcnn/README.md.
from benchmarks.papers import ibcnn as ibcnn_paper

IBCNN = config["ibcnn"]


rule ibcnn_run:
    input:
        data=lambda w: f"runs/data/{w.dataset}.json",
    output:
        record="results/ibcnn/runs/{network}/{dataset}/seed{seed}.json",
    params:
        spec=lambda w: json.dumps(ibcnn_paper.run_spec(config, w.network, w.dataset, SCALE)),
        data_root=DATA_ROOT,
        activity="runs/ibcnn/{network}/{dataset}/seed{seed}",
    log:
        "logs/ibcnn/run_{network}_{dataset}_seed{seed}.log",
    threads: IBCNN["resources"].get("cpus", 1)
    resources:
        gpu=IBCNN["resources"].get("gpus", 0),
        mem_mb=IBCNN["resources"].get("mem_mb", 8000),
        runtime=IBCNN["resources"].get("runtime", 240),
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.ibcnn.record --spec {params.spec:q} --seed {wildcards.seed}"
        " --data-root {params.data_root:q} --activity-dir {params.activity} --out {output.record}"
        " --threads {threads} --log {log}"


rule ibcnn_measure:
    input:
        record="results/ibcnn/runs/{network}/{dataset}/seed{seed}.json",
    output:
        **with_provenance(table="results/ibcnn/information/{network}/{dataset}/seed{seed}.csv"),
    params:
        spec=lambda w: json.dumps(ibcnn_paper.run_spec(config, w.network, w.dataset, SCALE)),
        command=lambda w: f"snakemake results/ibcnn/information/{w.network}/{w.dataset}/seed{w.seed}.csv --config scale={SCALE}",
    log:
        "logs/ibcnn/measure_{network}_{dataset}_seed{seed}.log",
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.ibcnn.measure --record {input.record} --spec {params.spec:q}"
        " --out {output.table} --command {params.command:q} --log {log}"


rule ibcnn_figure:
    input:
        information=lambda w: ibcnn_paper.information_files(config, IBCNN["figures"][w.n]["networks"]),
    output:
        **with_provenance(figure="figures/ibcnn/fig{n}.png", kde="figures/ibcnn/fig{n}_kde.png"),
    wildcard_constraints:
        n="[0-9]+",
    params:
        study=lambda w: IBCNN["figures"][w.n]["study"],
        networks=lambda w: " ".join(IBCNN["figures"][w.n]["networks"]),
        plane=lambda w: "--plane" if IBCNN["figures"][w.n].get("plane") else "",
        config=lambda w: json.dumps(IBCNN["figures"][w.n]),
        command=lambda w: f"snakemake figures/ibcnn/fig{w.n}.png --config scale={SCALE}",
    log:
        "logs/ibcnn/fig{n}.log",
    localrule: True
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.ibcnn.figures figure --figure {wildcards.n} --study {params.study} {params.plane}"
        " --networks {params.networks} --information {input.information} --out {output.figure}"
        " --kde-out {output.kde} --command {params.command:q} --config {params.config:q} --log {log}"


rule ibcnn_final_layer:
    input:
        information=ibcnn_paper.information_files(config),
        reference=os.path.join(workflow.basedir, "results", "reference", "ibcnn_final_layer.csv"),
    output:
        **with_provenance(table="results/ibcnn/final_layer.csv"),
    params:
        config=json.dumps({k: IBCNN[k] for k in ("figures", "epoch_cap", "bin_width", "kde", "sample")}),
        command=f"snakemake results/ibcnn/final_layer.csv --config scale={SCALE}",
    log:
        "logs/ibcnn/final_layer.log",
    localrule: True
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.ibcnn.figures final-layer --information {input.information}"
        " --reference {input.reference} --out {output.table} --command {params.command:q}"
        " --config {params.config:q} --log {log}"


rule ibcnn_speed:
    """CPU training speed of every network: each variant's steps per second against eager PyTorch."""
    output:
        **with_provenance(table="results/perf/ibcnn_training_speed.csv"),
    params:
        networks=json.dumps(IBCNN["networks"]),
        variants=" ".join(IBCNN["speed_variants"]),
        command="snakemake results/perf/ibcnn_training_speed.csv",
    log:
        "logs/ibcnn/speed.log",
    threads: IBCNN["speed_threads"]
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.ibcnn.speed --networks {params.networks:q} --variants {params.variants}"
        " --out {output.table} --threads {threads} --command {params.command:q} --log {log}"


rule ibcnn_all:
    """Every ibcnn output: Figs 4-8 (binning and KDE versions), the final-layer table, the CPU speed table."""
    input:
        expand("figures/ibcnn/fig{n}.png", n=list(IBCNN["figures"])),
        "results/ibcnn/final_layer.csv",
        "results/perf/ibcnn_training_speed.csv",
