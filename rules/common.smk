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
