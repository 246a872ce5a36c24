# A toy paper: its runs are the study of benchmarks/papers/toy (made by the shared `prune` rule).


rule toy_table:
    input:
        runs=lambda w: owner_runs("toy"),
    output:
        "results/toy/table1.csv",
    log:
        "logs/toy/table1.log",
    localrule: True
    conda:
        "../../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.papers.toy.tables --runs {input.runs} --out {output} 2> {log}"
