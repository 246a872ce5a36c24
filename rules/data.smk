# Dataset preparation: fetch (from the data root, a mirror, or the official URL), verify md5, extract. The
# mirror reaches the job through IBBENCH_MIRROR (benchmarks.config.export_mirror, from config `mirror`), not
# through its params or command: moving the md5-verified archives reruns nothing.


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
