"""MINT's committed Table I, scoring record and ablation figures rebuild from the committed run records with
the same numbers. (Figs. 6 and 8 need the pruned networks, which are not committed: not rebuilt here.)"""
import pytest

from conftest import REPO, assert_same_table, committed_config, committed_studies


@pytest.fixture
def mint_setup(monkeypatch):
    monkeypatch.chdir(REPO)
    cfg = committed_config("mint_mnist_only.yaml")
    return cfg, committed_studies(cfg)


def _baselines(studies, names):
    return sorted({f"results/baselines/{studies[('mint', v)].benchmark}/seed{s}.json"
                   for v in names for s in studies[("mint", v)].seeds})


def test_table1_rebuilds(mint_setup, tmp_path):
    from benchmarks.papers import mint
    from benchmarks.papers.mint import tables

    cfg, studies = mint_setup
    names = cfg["mint"]["table1"]["variants"]
    runs = [r for v in names for r in studies[("mint", v)].records()]
    perf = [f"results/perf/mint/{mint.scoring(cfg, v, 'paper')}_seed{s}.json" for v in names
            for s in studies[("mint", v)].seeds]
    out = {k: tmp_path / f"{k}.csv" for k in ("table", "sweep", "perf")}
    assert tables.main(["table", "--runs", *runs, "--baselines", *_baselines(studies, names), "--perf", *perf,
                        "--reference", "results/reference/mint_table1.csv",
                        "--max-val-drop-pp", str(cfg["mint"]["max_val_drop_pp"]),
                        "--scoring-target-seconds", str(cfg["mint"]["scoring_target_seconds"]),
                        "--config", mint.variants_json(cfg, "paper", names), "--out", str(out["table"]),
                        "--sweep-out", str(out["sweep"]), "--perf-out", str(out["perf"]),
                        "--figure", str(tmp_path / "fig5.png")]) == 0
    assert_same_table(out["table"], REPO / "results" / "mint" / "table1.csv")
    assert_same_table(out["sweep"], REPO / "results" / "mint" / "table1_sweep.csv")
    assert_same_table(out["perf"], REPO / "results" / "perf" / "mint_scoring.csv")


@pytest.mark.parametrize("fig", ["fig4a", "fig4b", "figA1"])
def test_ablation_rebuilds(fig, mint_setup, tmp_path):
    import json

    from benchmarks.papers import mint
    from benchmarks.papers.mint import tables

    cfg, studies = mint_setup
    names = mint.figure_variants(cfg, fig)
    runs = [r for v in names for r in studies[("mint", v)].records()]
    out = tmp_path / f"{fig}.csv"
    assert tables.main(["ablation", "--fig", fig, "--runs", *runs, "--baselines", *_baselines(studies, names),
                        "--reference", "results/reference/mint_ablations_code_readme.csv",
                        "--series", json.dumps(mint.figure_series(cfg, fig)),
                        "--config", mint.variants_json(cfg, "paper", names),
                        "--max-val-drop-pp", str(cfg["mint"]["ablation_max_val_drop_pp"]),
                        "--out", str(out), "--figure", str(tmp_path / f"{fig}.png")]) == 0
    assert_same_table(out, REPO / "results" / "mint" / f"{fig}.csv")
