"""ibcnn (Li & Liu, "Information Bottleneck Methods on Convolutional Neural Networks"): information-plane
paths of small tanh CNNs on MNIST and Fashion-MNIST (Figs 4-8). No pruning: every network is trained once
per dataset (``record``: the run, recording layer activity after the authors' logged epochs on the
training sample and on the test set), the stored activity is measured (``measure``: binning at 0.67 and
the KDE bounds), and the figures and the final-layer table are drawn from the measurements (``figures``).
README.md maps every output to its rule and function.
"""
from __future__ import annotations

import copy
from typing import Optional

from ...studies import Study

KEY = "ibcnn"
PAPER_LAST_EPOCH = 9999  # the authors' runs: 10,000 epochs, numbered from 0


def log_epochs(last: int = PAPER_LAST_EPOCH) -> list[int]:
    """The authors' logged epochs (0 = after the first epoch has trained), up to ``last``: 0, 2, 4, 6, 8,
    then every 5th from 14 to 49, 99, 149, 199, then every 500th (499, 999, ..., 9999): 36 in a 10k run."""
    if last < 0:
        raise ValueError(f"log_epochs: last must be >= 0, got {last}")
    full = [0, 2, 4, 6, 8, *range(14, 50, 5), 99, 149, 199, *range(499, PAPER_LAST_EPOCH + 1, 500)]
    out = [e for e in full if e <= last]
    if out[-1] != last and last < PAPER_LAST_EPOCH:  # a truncated run also measures its last epoch
        out.append(last)
    return out


def studies(config: dict, scale: str) -> list[Study]:
    return []  # no pruning runs


def runs(config: dict) -> list[tuple[str, str, int]]:
    """(network, dataset, seed) of every training run the figures need (each network once per dataset)."""
    c = config[KEY]
    nets = list(dict.fromkeys(n for f in c["figures"].values() for n in f["networks"]))
    return [(n, d, s) for n in nets for d in c["datasets"] for s in c["seeds"]]


def information_files(config: dict, networks=None) -> list[str]:
    """The measurement CSV of every run (of the named networks), as the rule ``ibcnn_measure`` names them."""
    return [f"results/ibcnn/information/{n}/{d}/seed{s}.csv" for n, d, s in runs(config)
            if networks is None or n in networks]


def memberships(config: dict, network: str) -> list[tuple[str, str]]:
    """(study, the paper's label of the network in it) for every figure the network appears in."""
    return [(f["study"], f["networks"][network]) for f in config[KEY]["figures"].values() if network in f["networks"]]


def run_spec(config: dict, network: str, dataset: str, scale: str) -> dict:
    """Everything a run needs (the model, protocol, sample, logging and measurement settings) at ``scale``."""
    c = config[KEY]
    protocol = copy.deepcopy(config["protocols"][c["protocol"]])
    protocol["name"] = c["protocol"]
    cap: Optional[int] = c["epoch_caps"].get(network, c["epoch_cap"])
    sample = dict(c["sample"])
    spec = {"network": network, "dataset": dataset, "scale": scale, "model": "ibcnn",
            "model_params": dict(c["networks"][network]), "protocol": protocol, "sample": sample,
            "val_size": c["val_size"], "max_test": None, "split_seed": config.get("split_seed", 0),
            "bin_width": c["bin_width"], "kde": dict(c["kde"]), "store_samples": c["store_samples"],
            "device": config.get("device", "auto"), "memberships": memberships(config, network),
            "channels_last": c["channels_last"], "direct_conv": c["direct_conv"]}
    if scale == "smoke":
        s = c["smoke"]
        sample["per_class"] = min(sample["per_class"], s["per_class"])
        spec.update(max_test=s["max_test"], val_size=s["val_size"], store_samples=s["store_samples"])
        spec["kde"]["samples"] = s["kde_samples"]
        cap = s["epoch_cap"] if cap is None else min(cap, s["epoch_cap"])
    last = protocol["epochs"] - 1 if cap is None else min(cap, protocol["epochs"] - 1)
    protocol["epochs"] = last + 1  # the trainer counts epochs from 1
    spec["epoch_cap"] = last
    spec["log_epochs"] = log_epochs(last)
    return spec


def check_config(config: dict) -> list[str]:
    c = config[KEY]
    problems = []
    if c["protocol"] not in config["protocols"]:
        problems.append(f"config key '{KEY}.protocol': {c['protocol']!r} is not a protocol")
    for net in c["epoch_caps"]:
        if net not in c["networks"]:
            problems.append(f"config key '{KEY}.epoch_caps': {net!r} is not in {KEY}.networks")
    for num, f in c["figures"].items():
        for net in f["networks"]:
            if net not in c["networks"]:
                problems.append(f"config key '{KEY}.figures.{num}.networks': {net!r} is not in {KEY}.networks "
                                f"(defined: {', '.join(c['networks'])})")
    return problems
