"""VIBNet (Dai, Zhu, Guo, Wipf, ICML 2018): Tables 1-4. The method is ``methods.vibnet``; this package is
what the harness needs to reproduce the paper (see README.md): its studies and its table builder."""
from __future__ import annotations

import copy

import yaml

from ...config import SCHEMA, finetune_protocol, resolve_benchmark, schema_errors, shrink_epochs
from ...studies import Study

KEY = "vibnet"
PROTOCOL_STUDY_PREFIX = "protocol_"  # study names of the protocol study: protocol_<factor>


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
    return out + protocol_studies(config, scale)


def _factor_protocol(config: dict, name: str, overrides: dict, scale: str) -> dict:
    """The base protocol with a factor's keys replaced, then the scale applied (smoke caps the epochs of
    the changed protocol, so a 300-epoch factor shrinks like every other run)."""
    p = copy.deepcopy(config["protocols"][name])
    p.update(copy.deepcopy(overrides))
    p["name"] = name + "".join(f"+{k}={v}" for k, v in sorted(overrides.items()))
    if scale == "smoke":
        shrink_epochs(p, config["smoke"]["epochs"])
    return p


def protocol_study_configs(config: dict) -> dict[str, dict]:
    """The protocol studies (issue 15) by output name: results/vibnet/<name>.csv."""
    return config[KEY].get("protocol_studies") or {}


def protocol_studies(config: dict, scale: str) -> list[Study]:
    """The protocol studies (issue 15): one study per factor, the base table with one thing changed, swept
    over the study's gammas and folded at every threshold of the study."""
    out = []
    for ps in protocol_study_configs(config).values():
        base = config[KEY]["tables"][ps["base_table"]]
        ((param, values),) = ps["sweep"].items()
        for factor, f in ps["factors"].items():
            bench = f.get("benchmark", base["benchmark"])
            out.append(Study(
                owner=KEY, name=PROTOCOL_STUDY_PREFIX + factor, method="vibnet", benchmark=bench,
                sweep_param=param, values=values, seeds=resolve_benchmark(config, bench, scale)["seeds"],
                params={**base["params"], **f.get("params", {}), "threshold_sweep": list(ps["thresholds"]),
                        "protocol": _factor_protocol(config, base["protocol"], f.get("protocol_overrides", {}),
                                                     scale)},
                finetune=finetune_protocol(config, f.get("finetune", base.get("finetune")), scale)))
    return out


def protocol_study_runs(config: dict, studies: dict, name: str) -> list[str]:
    """The run records of protocol study ``name``: the base table's runs at the study's gammas (the
    reference, factor "base"), then each factor's, in config order."""
    ps = protocol_study_configs(config)[name]
    base = studies[(KEY, ps["base_table"])]
    ((_, values),) = ps["sweep"].items()
    out = [base.record(base.setting(v), s) for v in values for s in base.seeds]
    return out + [r for f in ps["factors"] for r in studies[(KEY, PROTOCOL_STUDY_PREFIX + f)].records()]


def protocol_study_baselines(config: dict, scale: str, name: str) -> list[str]:
    """The unpruned baselines of every benchmark protocol study ``name`` runs on (the split offsets)."""
    ps = protocol_study_configs(config)[name]
    base = config[KEY]["tables"][ps["base_table"]]
    benches = {base["benchmark"]} | {f.get("benchmark", base["benchmark"]) for f in ps["factors"].values()}
    return _baseline_records(config, benches, scale)


def reference_table(n) -> str:
    """The paper's rows of its table ``n`` (transcribed, results/reference/)."""
    return f"results/reference/{KEY}_table{n}.csv"


def protocol_study_reference(config: dict, name: str) -> str:
    """The paper's values the protocol study ``name`` is measured against: its base table's paper table."""
    return reference_table(config[KEY]["tables"][protocol_study_configs(config)[name]["base_table"]]["paper_table"])


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
    return _baseline_records(config, {config[KEY]["tables"][t]["benchmark"] for t in paper_tables(config)[n]}, scale)


def _baseline_records(config: dict, benchmarks: set[str], scale: str) -> list[str]:
    """The baseline records of every seed of ``benchmarks`` (sorted by benchmark, then seed)."""
    return [f"results/baselines/{b}/seed{s}.json" for b in sorted(benchmarks)
            for s in resolve_benchmark(config, b, scale)["seeds"]]


def _protocol_schema() -> dict:
    """The shared schema's training-protocol definition (a factor's overridden protocol must satisfy it)."""
    shared = yaml.safe_load(SCHEMA.read_text())
    return {"$ref": "#/definitions/protocol", "definitions": shared["definitions"]}


def check_config(config: dict) -> list[str]:
    problems = []
    for name, t in config[KEY]["tables"].items():
        key = f"{KEY}.tables.{name}"
        if t["benchmark"] not in config["benchmarks"]:
            problems.append(f"config key '{key}.benchmark': {t['benchmark']!r} is not a benchmark")
        for field in ("protocol", "finetune"):
            if t.get(field) and t[field] not in config["protocols"]:
                problems.append(f"config key '{key}.{field}': {t[field]!r} is not a protocol")
    factor_owner: dict[str, str] = {}
    for name, ps in protocol_study_configs(config).items():
        key = f"{KEY}.protocol_studies.{name}"
        for factor in ps["factors"]:
            if factor in factor_owner or PROTOCOL_STUDY_PREFIX + factor in config[KEY]["tables"]:
                problems.append(f"config key '{key}.factors.{factor}': the name is taken by "
                                f"{factor_owner.get(factor, f'{KEY}.tables')} (factor names are unique over all "
                                f"protocol studies and table names: each is the study "
                                f"{PROTOCOL_STUDY_PREFIX}<factor>)")
            factor_owner[factor] = f"{KEY}.protocol_studies.{name}"
        if ps["base_table"] not in config[KEY]["tables"]:
            problems.append(f"config key '{key}.base_table': {ps['base_table']!r} is not a table of "
                            f"{KEY}.tables ({', '.join(config[KEY]['tables'])})")
        else:
            base = config[KEY]["tables"][ps["base_table"]]
            ((param, values),) = ps["sweep"].items()
            missing = [v for v in values if v not in base["sweep"].get(param, [])]
            if missing:
                problems.append(f"config key '{key}.sweep.{param}': {missing} are not values of the base table's "
                                f"sweep {base['sweep']} (its runs there are the study's reference)")
            for factor, f in ps["factors"].items():
                if f.get("finetune") and f["finetune"] not in config["protocols"]:
                    problems.append(f"config key '{key}.factors.{factor}.finetune': {f['finetune']!r} is not a "
                                    f"protocol")
                if f.get("benchmark") and f["benchmark"] not in config["benchmarks"]:
                    problems.append(f"config key '{key}.factors.{factor}.benchmark': {f['benchmark']!r} is not "
                                    f"a benchmark")
                merged = {**config["protocols"][base["protocol"]], **f.get("protocol_overrides", {})}
                problems += schema_errors(merged, _protocol_schema(), (key, "factors", factor, "protocol_overrides"))
    for n, names in paper_tables(config).items():
        labels = [config[KEY]["tables"][t].get("paper_protocol") for t in names]
        if len(names) > 1 and (None in labels or len(set(labels)) < len(labels)):
            problems.append(f"config key '{KEY}.tables': paper table {n} has several config tables {names}; "
                            f"each needs its own paper_protocol label")
    return problems
