"""I(X;T) and I(Y;T) of every layer at every logged epoch of one ibcnn run, from its stored activity.

- ``binning``: the paper's estimator on every sample (bin width 0.67, whole-layer rows; I(X;T) = H(T) for
  a deterministic network, I(Y;T) = H(T) - H(T|Y)), from the stored per-sample cells
  (``estimators.binning.symbol_information``). H(X) = log2 of the distinct inputs (13.29 bits for 10,000
  distinct images): every layer whose rows are all distinct saturates there, by construction.
- ``kde_upper``, ``kde_lower``: the pairwise-distance bounds on the mixture entropy of T + N(0, s^2 I)
  (``estimators.kde``, KL and Bhattacharyya; s^2 = ``kde.noise_var``) that the authors' base code reports
  beside binning, on the first ``kde.samples`` stored samples of each split; their H(X) is log2 of that
  number (the bounds cannot exceed it).

Writes one CSV (``benchmarks.papers.ibcnn.figures`` reads it): a row per study the network serves x split
x logged epoch x layer x estimator, values in bits. ``python -m benchmarks.papers.ibcnn.measure --record
<run.json> --spec <json> --out <csv>`` (the rule ``ibcnn_measure``).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path
from typing import Optional

import pandas as pd
import torch

from ... import fileio, logs
from ...provenance import write_provenance

log = logging.getLogger("ibbench.ibcnn")

LN2 = math.log(2.0)
COLUMNS = ["study", "network", "setting", "dataset", "split", "seed", "epoch", "layer", "layer_name", "estimator",
           "i_xt_bits", "i_yt_bits", "h_x_bits", "h_y_bits", "scale", "epoch_cap", "samples"]


def epoch_rows(data: dict, kde_noise_var: float, kde_samples: int) -> list[dict]:
    """Rows (without the run's identity columns) for one stored epoch file's content."""
    from estimators.binning import symbol_information
    from estimators.kde import information_plane_bounds

    rows = []
    for split, s in data["splits"].items():
        labels = s["labels"]
        kde_rows = s["stored_rows"][:kde_samples]
        kde_labels = labels[kde_rows]
        kde_n = len(kde_rows)
        for k, (name, layer) in enumerate(s["layers"].items(), start=1):
            base = {"epoch": data["epoch"], "split": split, "layer": k, "layer_name": name, "h_y_bits": s["h_y_bits"]}
            h_t, i_ty = symbol_information(layer["cells"].long(), labels)
            rows.append({**base, "estimator": "binning", "i_xt_bits": h_t / LN2, "i_yt_bits": i_ty / LN2,
                         "h_x_bits": s["h_x_bits"], "samples": len(labels)})
            kde = information_plane_bounds(layer["raw"][:kde_samples].double(), kde_labels, kde_noise_var, "cpu")
            for bound in ("upper", "lower"):
                rows.append({**base, "estimator": f"kde_{bound}", "i_xt_bits": kde[f"i_xt_{bound}"] / LN2,
                             "i_yt_bits": kde[f"i_yt_{bound}"] / LN2, "h_x_bits": math.log2(kde_n),
                             "samples": kde_n})
    return rows


def measure_run(record: dict, spec: dict) -> pd.DataFrame:
    """Every logged epoch of the run (its activity files must all exist) -> the measurement table."""
    act = Path(record["activity_dir"])
    missing = [e for e in spec["log_epochs"] if not (act / f"epoch{e:05d}.pt").exists()]
    if missing:
        raise FileNotFoundError(f"ibcnn {record['network']} on {record['dataset']} seed {record['seed']}: no stored "
                                f"activity for logged epochs {missing} in {act} (rerun the run job)")
    rows = []
    for e in spec["log_epochs"]:
        data = torch.load(act / f"epoch{e:05d}.pt", map_location="cpu", weights_only=False)
        rows += epoch_rows(data, spec["kde"]["noise_var"], spec["kde"]["samples"])
    per_epoch = pd.DataFrame(rows)
    out = []
    for study, setting in spec["memberships"]:
        t = per_epoch.copy()
        t.insert(0, "study", study)
        t.insert(1, "network", record["network"])
        t.insert(2, "setting", setting)
        t.insert(3, "dataset", record["dataset"])
        t["seed"] = record["seed"]
        t["scale"] = record["scale"]
        t["epoch_cap"] = record["epoch_cap"]
        out.append(t)
    return pd.concat(out, ignore_index=True)[COLUMNS]


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description="binning and KDE information of every layer of an ibcnn run")
    p.add_argument("--record", type=Path, required=True, help="the run's record (benchmarks.papers.ibcnn.record)")
    p.add_argument("--spec", required=True, help="the run's spec as JSON")
    p.add_argument("--out", type=Path, required=True)
    logs.add_record_arguments(logs.add_job_arguments(p))
    a = p.parse_args(argv)
    logs.start_job(a)
    t0 = time.perf_counter()
    record, spec = json.loads(a.record.read_text()), json.loads(a.spec)
    table = measure_run(record, spec)
    fileio.atomic_write(a.out, lambda tmp: table.to_csv(tmp, index=False, float_format="%.6g"))
    write_provenance(a.out, command=a.command, config=json.loads(a.config) if a.config else spec,
                     scale=record["scale"], wall_seconds=record["wall_seconds"] + time.perf_counter() - t0,
                     inputs=[str(a.record)], outputs=[str(a.out)], device=record["device"])
    last = table[(table["epoch"] == table["epoch"].max()) & (table["estimator"] == "binning")]
    log.info("ibcnn %s on %s: epoch %d, binning (bits)\n%s", record["network"], record["dataset"],
             int(table["epoch"].max()), last[["study", "split", "layer_name", "i_xt_bits", "i_yt_bits"]]
             .drop_duplicates(["split", "layer_name"]).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
