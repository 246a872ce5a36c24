# Helpers shared by the rule files (kept apart from the rules, as the linter asks).


def benchmark_spec(name):
    return ibconfig.resolve_benchmark(config, name, SCALE)


def benchmark_resources(name, key, default):
    return config["benchmarks"][name].get("resources", {}).get(key, default)


def seed_results(name):
    return expand(
        "results/baselines/{benchmark}/seed{seed}.json",
        benchmark=name,
        seed=benchmark_spec(name)["seeds"],
    )


def table1_runs():
    """Every pruning run behind results/table1.csv: benchmark x method x ratio x seed."""
    t1 = config["table1"]
    return [
        f"results/pruning/{b}/{m}/ratio{r}/seed{s}.json"
        for b in t1["benchmarks"]
        for m in t1["methods"]
        for r in t1["ratios"]
        for s in benchmark_spec(b)["seeds"]
    ]
