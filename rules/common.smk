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


def vibnet_table_settings(table):
    """(param, value) pairs of a VIBNet table's sweep, e.g. [("gamma", "0.001"), ...]."""
    ((param, values),) = config["vibnet"]["tables"][table]["sweep"].items()
    return [(param, f"{v:g}") for v in values]


def vibnet_runs(table):
    t = config["vibnet"]["tables"][table]
    return [
        f"results/vibnet/runs/{table}/{param}{value}/seed{seed}.json"
        for param, value in vibnet_table_settings(table)
        for seed in benchmark_spec(t["benchmark"])["seeds"]
    ]


def vibnet_paper_tables():
    """Paper table number -> the config tables (protocols) it holds: {"3": ["table3_bc", ...]}."""
    out = {}
    for name in config["vibnet"]["tables"]:
        out.setdefault(name.split("_")[0].removeprefix("table"), []).append(name)
    return out


def vibnet_method_params(w):
    t = config["vibnet"]["tables"][w.table]
    protocol = ibconfig.finetune_protocol(config, t["protocol"], SCALE)
    return json.dumps({**t["params"], w.param: float(w.value), "protocol": protocol})


def vibnet_core_baselines(n):
    """The pruning-core runs (table1) on the benchmarks of VIBNet paper table n, if any."""
    benches = {config["vibnet"]["tables"][t]["benchmark"] for t in vibnet_paper_tables()[n]}
    return [r for r in table1_runs() if r.split("/")[2] in benches]


def table1_vibnet_runs():
    """VIBNet sweeps on the table1 benchmarks: they join results/table1.csv as one curve over gamma."""
    return [
        r
        for t, spec in config["vibnet"]["tables"].items()
        if spec["benchmark"] in config["table1"]["benchmarks"]
        for r in vibnet_runs(t)
    ]
