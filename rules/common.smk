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


# ---------------------------------------------------------------- MINT

MINT_SCORE_KEYS = ("groups", "pair_groups", "samples_per_class", "hook", "skip", "only")


def mint_variant(name):
    return ibconfig.mint_variant(config, name, SCALE)


def mint_seeds(name):
    v = mint_variant(name)
    return v["seeds"] if v["seeds"] is not None else benchmark_spec(v["benchmark"])["seeds"]


def mint_score_params(name):
    p = mint_variant(name)["params"]
    return {k: p[k] for k in MINT_SCORE_KEYS if k in p}


def mint_scoring(name):
    """The variant whose score files this variant reuses: the first one (config order) with the same
    benchmark and scoring params (variants that differ only in cap/prune percents share scores)."""
    key = (mint_variant(name)["benchmark"], json.dumps(mint_score_params(name), sort_keys=True))
    for other in config["mint"]["variants"]:
        if (mint_variant(other)["benchmark"], json.dumps(mint_score_params(other), sort_keys=True)) == key:
            return other
    return name


def mint_percent_labels(name):
    return [f"{p:g}" for p in mint_variant(name)["prune_percents"]]


def mint_runs(name):
    return [
        f"results/mint/runs/{name}/p{p}/seed{s}.json"
        for p in mint_percent_labels(name)
        for s in mint_seeds(name)
    ]


def mint_baseline_records(name):
    return [f"results/baselines/{mint_variant(name)['benchmark']}/seed{s}.json" for s in mint_seeds(name)]


def mint_figure_variants(key):
    figs = config["mint"]["figures"]
    if key == "figA1":
        return sorted({v for vs in figs.get("figA1", {}).values() for v in vs})
    return figs.get(key, [])


def table1_mint_runs():
    """The Table I MINT variants on table1 benchmarks join results/table1.csv (one curve over delta)."""
    return [
        r
        for v in config["mint"]["table1"]["variants"]
        if mint_variant(v)["benchmark"] in config["table1"]["benchmarks"]
        for r in mint_runs(v)
    ]


def mint_chosen_inputs(variant):
    return {
        "runs": mint_runs(variant),
        "baselines": mint_baseline_records(variant),
        "models": [
            f"runs/mint/{variant}/p{p}/seed{s}/model.pt"
            for p in mint_percent_labels(variant)
            for s in mint_seeds(variant)
        ],
        "baseline_models": [
            f"runs/baselines/{mint_variant(variant)['benchmark']}/seed{s}/model.pt" for s in mint_seeds(variant)
        ],
    }
