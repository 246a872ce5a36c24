# Benchmarks of the suite itself (speed, memory), run by the DAG rather than as timed tests.


rule harness_overhead:
    input:
        data="runs/data/mnist.json",
    output:
        **with_provenance(
            table="results/perf/harness_overhead.csv",
        ),
    params:
        data_root=DATA_ROOT,
        scale=SCALE,
        torch_threads=1,
    log:
        "logs/perf/harness_overhead.log",
    # Timed with one torch thread; both cores are reserved so no other job runs beside the timing.
    threads: 2
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.perf_harness --data-root {params.data_root:q} --scale {params.scale}"
        " --out {output.table} --threads {params.torch_threads} --log {log}"
