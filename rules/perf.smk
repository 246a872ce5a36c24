# Benchmarks of the suite itself (speed, memory), run by the DAG rather than as timed tests.


rule harness_overhead:
    input:
        data="runs/data/mnist.json",
    output:
        table="results/perf/harness_overhead.csv",
        provenance="results/perf/harness_overhead.provenance.json",
    params:
        data_root=DATA_ROOT,
        scale=SCALE,
    log:
        "logs/perf/harness_overhead.log",
    threads: 1
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.perf_harness --data-root {params.data_root:q} --scale {params.scale}"
        " --out {output.table} --threads {threads} --log {log}"
