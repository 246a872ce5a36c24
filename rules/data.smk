# Dataset preparation: fetch (from the data root, a mirror, or the official URL), verify md5, extract. The
# mirror comes in through IBBENCH_MIRROR (set by the Snakefile from config `mirror`), so moving it reruns nothing.


rule prepare_data:
    output:
        marker="runs/data/{dataset}.json",
    params:
        data_root=DATA_ROOT,
        download="" if config.get("download", True) else "--no-download",
    log:
        "logs/prepare_data/{dataset}.log",
    resources:
        runtime=240,
        mem_mb=8000,
    conda:
        "../envs/ibbench.yaml"
    shell:
        "python -m benchmarks.jobs prepare --dataset {wildcards.dataset} --data-root {params.data_root:q}"
        " --marker {output.marker} {params.download} --log {log}"
