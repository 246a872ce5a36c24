"""ibfs end to end at smoke scale on the real MNIST (digit 3 vs the rest): baseline, analysis, the
selection through the shared prune rule, every figure and both tables, with the CPU overlay."""
import json

import pandas as pd
import pytest

from conftest import REPO, snakemake

# one study, held at a tolerance the two-epoch smoke network can keep while filters go
SMOKE_OVERLAY = """
ibfs:
  studies:
    lenet5-binary:
      sweep: {param: auc_tolerance, values: [0.05]}
  selection_studies: [lenet5-binary]
"""


@pytest.mark.slow
def test_ibfs_smoke_dag_end_to_end(tmp_path, mnist_mirror):
    overlay = tmp_path / "ibfs_smoke.yaml"
    overlay.write_text(SMOKE_OVERLAY)
    rc, out = snakemake(tmp_path, "--cores", "2", "--configfile", str(REPO / "config" / "ibfs_cpu.yaml"), str(overlay),
                        "--config", "scale=smoke", f"mirror={mnist_mirror}", f"data_root={tmp_path / 'data'}",
                        "download=False", "--", "ibfs_all")
    assert rc == 0, out[-4000:]
    smoke = tmp_path / "smoke"
    for fig in ("fig2", "fig3", "fig4a", "fig4b"):
        assert (smoke / "figures" / "ibfs" / f"{fig}.png").stat().st_size > 10_000, fig
    sel = pd.read_csv(smoke / "results" / "ibfs" / "lenet5.csv")
    assert set(sel["layer"].astype(str)) == {"0", "3"} and (sel["scale"] == "smoke").all()
    assert (sel["auc_val_after"] >= sel["auc_threshold"] - 1e-12).all()
    rec = json.loads((smoke / "results" / "ibfs" / "runs" / "lenet5-binary" / "auc_tolerance0.05" / "seed0.json").read_text())
    assert rec["metrics"]["params_total"] < rec["metrics"]["params_total_original"]  # physically smaller
    assert rec["method_report"]["auc_split"] == "val"
    t1 = pd.read_csv(smoke / "results" / "ibfs" / "table1.csv")
    assert (t1["ours_seeds"] == 0).all() and len(t1) == 16  # the paper's rows only on a CPU
    info = pd.read_csv(smoke / "results" / "ibfs" / "analysis" / "lenet5_mnist3_vs_rest" / "seed0_information.csv")
    assert set(info["label"]) == {"conv1", "conv2"} and (info["i_ty_bits"] <= info["i_xt_bits"] + 1e-9).all()
    curve = pd.read_csv(smoke / "results" / "ibfs" / "analysis" / "lenet5_mnist3_vs_rest" / "seed0_curve.csv")
    assert set(curve["ranking"]) == {"y0", "y1", "y0_y1"} and curve["masked"].min() == 0
    assert not (tmp_path / "results").exists()
    # provenance: the target that rebuilds the output (copyable), and the command line that really ran
    # with its config overlays
    prov = json.loads((smoke / "figures" / "ibfs" / "fig2.provenance.json").read_text())
    assert prov["command"] == "snakemake figures/ibfs/fig2.png --config scale=smoke"
    argv = prov["invocation"]["argv"]
    assert "ibfs_all" in argv and "scale=smoke" in argv and "--configfile" in argv
    overlays = prov["invocation"]["configfiles"]
    assert [o["path"].rsplit("/", 1)[-1] for o in overlays] == ["ibfs_cpu.yaml", "ibfs_smoke.yaml"]
    assert all(len(o["sha256"]) == 64 for o in overlays)
