# aura (Musat & Andonie 2023) and HRel: the runs are the studies of benchmarks/papers/aura (made by the
# shared `prune` rule: HRel's rounds inside the method); here Tables 1-3 with the paper's values beside
# ours, the LeNet-5 comparison at equal widths, the per-filter MI distributions (Tables 4-5), the score
# sanity check. Outputs -> functions: benchmarks/papers/aura/README.md.
from benchmarks.papers import aura as aura_paper

AURA_TABLES = aura_paper.paper_tables(config)
# the paper's architecture keys (results/reference/aura_tables.csv) -> our benchmarks
AURA_BENCHMARKS = {"vgg16_cifar10": "vgg16_hrel_cifar10", "resnet56_cifar10": "resnet56_hrel_cifar10",
                   "resnet110_cifar10": "resnet110_hrel_cifar10"}
AURA_TABLE_ARCHITECTURE = {"1": "vgg16_cifar10", "2": "resnet56_cifar10", "3": "resnet110_cifar10"}
AURA_LENET5 = aura_paper.LENET5_STUDIES


rule aura_table:
    input:
        runs=lambda w: owner_runs("aura", AURA_TABLES.get(int(w.n), [])),
        baselines=lambda w: seed_results(AURA_BENCHMARKS[AURA_TABLE_ARCHITECTURE[w.n]]),
        reference=os.path.join(workflow.basedir, "results", "reference", "aura_tables.csv"),
    output:
        **with_provenance(table="results/aura/table{n}.csv"),
    wildcard_constraints:
        n="[123]",
    params:
        benchmarks=json.dumps(AURA_BENCHMARKS),
        config=lambda w: json.dumps({s: config["aura"]["studies"][s] for s in AURA_TABLES.get(int(w.n), [])}),
        command=lambda w: f"snakemake results/aura/table{w.n}.csv --config scale={SCALE}",
    log:
        "logs/aura/table{n}.log",
    localrule: True
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.aura.tables table --table {wildcards.n} --runs {input.runs}"
        " --baselines {input.baselines} --reference {input.reference} --benchmarks {params.benchmarks:q}"
        " --out {output.table} --command {params.command:q} --config {params.config:q} --log {log}"


rule aura_lenet5:
    input:
        runs=lambda w: owner_runs("aura", AURA_LENET5),
        baselines=lambda w: study_baselines("aura", AURA_LENET5[0]),
    output:
        **with_provenance(table="results/aura/lenet5.csv", figure="figures/aura/lenet5.png"),
    params:
        config=lambda w: json.dumps({s: config["aura"]["studies"][s] for s in AURA_LENET5}),
        command=f"snakemake results/aura/lenet5.csv --config scale={SCALE}",
    log:
        "logs/aura/lenet5.log",
    localrule: True
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.aura.tables lenet5 --runs {input.runs} --baselines {input.baselines}"
        " --out {output.table} --figure {output.figure} --command {params.command:q} --config {params.config:q}"
        " --log {log}"


rule aura_lenet5_distributions:
    input:
        runs=lambda w: [r for s in ("lenet5-hrel", "lenet5-aura") for r in study_runs("aura", s, "paper")],
    output:
        **with_provenance(figure="figures/aura/lenet5_mi.png"),
    params:
        command=f"snakemake figures/aura/lenet5_mi.png --config scale={SCALE}",
    log:
        "logs/aura/lenet5_mi.log",
    localrule: True
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.aura.tables distributions --runs {input.runs} --layers 0 3"
        " --title 'LeNet-5 per-filter scores during pruning, paper limits (HRel top, aura bottom)'"
        " --figure {output.figure} --command {params.command:q} --log {log}"


rule aura_vgg_distributions:
    """Tables 4-5: VGG-16 conv5 at 256/150/101 filters and conv12 at 512/175/71, HRel top, aura bottom."""
    input:
        runs=lambda w: [r for s in ("vgg16-hrel", "vgg16-aura") for r in study_runs("aura", s, "configuration_1")],
    output:
        **with_provenance(figure="figures/aura/table{k}.png"),
    wildcard_constraints:
        k="[45]",
    params:
        layer=lambda w: {"4": "features.14", "5": "features.37"}[w.k],
        widths=lambda w: {"4": "[[256, 150, 101]]", "5": "[[512, 175, 71]]"}[w.k],
        command=lambda w: f"snakemake figures/aura/table{w.k}.png --config scale={SCALE}",
    log:
        "logs/aura/table{k}.log",
    localrule: True
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.aura.tables distributions --runs {input.runs} --layers {params.layer}"
        " --widths {params.widths:q} --title 'aura Table {wildcards.k}: VGG-16 per-filter MI during pruning'"
        " --figure {output.figure} --command {params.command:q} --log {log}"


rule aura_score_sanity:
    output:
        **with_provenance(table="results/aura/score_sanity.csv", summary="results/aura/score_sanity_summary.csv"),
    log:
        "logs/aura/score_sanity.log",
    threads: 1
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.aura.sanity --out {output.table} --summary-out {output.summary}"
        " --threads {threads} --log {log}"


rule aura_cpu:
    """What runs on a CPU workstation: the LeNet-5 comparison and its MI distributions, the score sanity
    check, the runtime comparison."""
    input:
        "results/aura/lenet5.csv",
        "figures/aura/lenet5_mi.png",
        "results/aura/score_sanity.csv",
        "results/perf/aura_vs_hrel.csv",


rule aura_all:
    input:
        rules.aura_cpu.input,
        expand("results/aura/table{n}.csv", n=[1, 2, 3]),
        expand("figures/aura/table{k}.png", k=[4, 5]),


rule aura_runtime:
    """The aura score against HRel's Renyi MI on every VGG-16/LeNet-5 layer shape (one thread; both
    cores reserved so nothing runs beside the timing), and the LeNet-5 pruning loop of each method."""
    input:
        runs=lambda w: [r for s in ("lenet5-hrel", "lenet5-aura") for r in study_runs("aura", s)],
    output:
        **with_provenance(table="results/perf/aura_vs_hrel.csv", loop="results/perf/aura_vs_hrel_loop.csv"),
    params:
        command=f"snakemake results/perf/aura_vs_hrel.csv --config scale={SCALE}",
    log:
        "logs/aura/runtime.log",
    threads: 2
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.aura.runtime --out {output.table} --loop-out {output.loop} --runs {input.runs}"
        " --threads 1 --command {params.command:q} --log {log}"
