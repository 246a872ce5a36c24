"""VIBNet (Dai, Zhu, Guo, Wipf, ICML 2018): Tables 1-4. The method is ``methods.vibnet``; this package is
what the harness needs to reproduce the paper (see README.md): its studies and its table builder."""
from __future__ import annotations

from ...config import finetune_protocol, resolve_benchmark
from ...studies import Study

KEY = "vibnet"


def studies(config: dict, scale: str) -> list[Study]:
    """One study per config table: IB training on its benchmark for every sweep value and seed."""
    out = []
    for name, t in config[KEY]["tables"].items():
        ((param, values),) = t["sweep"].items()
        out.append(Study(
            owner=KEY, name=name, method="vibnet", benchmark=t["benchmark"], sweep_param=param, values=values,
            seeds=resolve_benchmark(config, t["benchmark"], scale)["seeds"],
            params={**t["params"], "protocol": finetune_protocol(config, t["protocol"], scale)},
            finetune=finetune_protocol(config, t.get("finetune"), scale),
            in_table1=True))
    return out


def paper_tables(config: dict) -> dict[str, list[str]]:
    """Paper table number -> the config tables (row groups) it holds: {"3": ["table3_bc", ...]}."""
    out: dict[str, list[str]] = {}
    for name, t in config[KEY]["tables"].items():
        out.setdefault(str(t["paper_table"]), []).append(name)
    return out


def core_runs(config: dict, studies: dict, n: str, owner: str) -> list[str]:
    """The run records of ``owner``'s studies (the cross-method comparison) on the benchmarks of paper
    table ``n``: the pruning-core rows shown beside VIBNet's."""
    benches = {config[KEY]["tables"][t]["benchmark"] for t in paper_tables(config)[n]}
    return [r for s in studies.values() if s.owner == owner and s.benchmark in benches for r in s.records()]


def baseline_records(config: dict, n: str, scale: str) -> list[str]:
    """The unpruned baselines' records (every seed) of the benchmarks of paper table ``n``: the
    validation-test offset of the split_offset selection rule is measured on them."""
    benches = sorted({config[KEY]["tables"][t]["benchmark"] for t in paper_tables(config)[n]})
    return [f"results/baselines/{b}/seed{s}.json" for b in benches
            for s in resolve_benchmark(config, b, scale)["seeds"]]


def check_config(config: dict) -> list[str]:
    problems = []
    for name, t in config[KEY]["tables"].items():
        key = f"{KEY}.tables.{name}"
        if t["benchmark"] not in config["benchmarks"]:
            problems.append(f"config key '{key}.benchmark': {t['benchmark']!r} is not a benchmark")
        for field in ("protocol", "finetune"):
            if t.get(field) and t[field] not in config["protocols"]:
                problems.append(f"config key '{key}.{field}': {t[field]!r} is not a protocol")
    for n, names in paper_tables(config).items():
        labels = [config[KEY]["tables"][t].get("paper_protocol") for t in names]
        if len(names) > 1 and (None in labels or len(set(labels)) < len(labels)):
            problems.append(f"config key '{KEY}.tables': paper table {n} has several config tables {names}; "
                            f"each needs its own paper_protocol label")
    return problems
