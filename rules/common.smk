# Helpers shared by the rule files (kept apart from the rules, as the linter asks).
from benchmarks import studies as ibstudies
from benchmarks import table1 as ibtable1
from benchmarks.provenance import provenance_path

# Every pruning study of the workflow, (owner, name) -> benchmarks.studies.Study: the cross-method table's
# own and each listed paper's. The one `prune` rule makes their runs.
STUDIES = ibstudies.registry(ibtable1.studies(config, SCALE), ibpapers.studies(config, SCALE))
# The `prune` rule's wildcards: the path scheme's, its owner one of the studies' owners, so a paper's other
# records under results/<key>/runs/ (ibcnn's training runs) are never taken for pruning runs.
PRUNE_WILDCARDS = {**ibstudies.WILDCARDS, "owner": "|".join(sorted({s.owner for s in STUDIES.values()}))}


def with_provenance(**outputs):
    """A rule's named outputs plus the provenance record the builder writes beside each of them
    (`<stem>.provenance.json`, benchmarks.provenance), so that every file the job writes is declared.
    Use `output: **with_provenance(table=..., figure=...)`; it adds `table_provenance`, `figure_provenance`."""
    out = dict(outputs)
    for name, path in outputs.items():
        paths = [path] if isinstance(path, str) else list(path)
        records = [str(provenance_path(p)) for p in paths if not p.endswith(".json")]
        if records:
            out[f"{name}_provenance"] = records[0] if isinstance(path, str) else records
    return out


def benchmark_spec(name):
    return ibconfig.resolve_benchmark(config, name, SCALE)


JOB_RESOURCES = {"gpu": ("gpus", 0), "mem_mb": ("mem_mb", 4000), "runtime": ("runtime", 120)}


def job_resources(benchmark_of, defaults=None, **fixed):
    """A rule's per-job resources (`resources: **job_resources(...)`): each of JOB_RESOURCES from the
    `resources` of the benchmark the job works on (config benchmarks.<name>.resources), else its default
    (`defaults` overrides those); `fixed` values do not depend on the benchmark."""

    def get(key, default):
        return lambda w: config["benchmarks"][benchmark_of(w)].get("resources", {}).get(key, default)

    out = {name: get(key, (defaults or {}).get(name, default)) for name, (key, default) in JOB_RESOURCES.items()}
    out.update(fixed)
    return out


def seed_results(name):
    return [baseline_record(name, seed) for seed in benchmark_spec(name)["seeds"]]


def baseline_model(benchmark, seed):
    return f"runs/baselines/{benchmark}/seed{seed}/model.pt"


def baseline_record(benchmark, seed):
    return f"results/baselines/{benchmark}/seed{seed}.json"


def study_of(w):
    return STUDIES[(w.owner, w.study)]


def owner_runs(owner, names=None):
    """Every run record of an owner's studies (or of the named ones)."""
    return [r for (o, n), s in STUDIES.items() if o == owner and (names is None or n in names) for r in s.records()]


def study_runs(owner, name, value=None):
    """A study's run records (of one sweep value only, when given)."""
    s = STUDIES[(owner, name)]
    return s.records([s.setting(value)] if value is not None else None)


def study_baselines(owner, name):
    s = STUDIES[(owner, name)]
    return [baseline_record(s.benchmark, seed) for seed in s.seeds]


def study_files(owner, name):
    """A study's run records and pruned networks with their baselines' records and networks (for figure
    jobs that load the networks again)."""
    s = STUDIES[(owner, name)]
    return {
        "runs": s.records(),
        "baselines": study_baselines(owner, name),
        "models": s.models(),
        "baseline_models": [baseline_model(s.benchmark, seed) for seed in s.seeds],
    }


def table1_runs():
    """Every run behind results/table1.csv: the cross-method studies and the papers' curves on its benchmarks."""
    return ibtable1.table_runs(config, STUDIES.values())
