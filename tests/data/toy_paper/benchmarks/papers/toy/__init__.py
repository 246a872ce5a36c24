"""A toy paper: L1 pruning of one benchmark at the configured ratios (README: "Adding a paper")."""
from __future__ import annotations

from ...config import finetune_protocol, resolve_benchmark
from ...studies import Study

KEY = "toy"


def studies(config: dict, scale: str) -> list[Study]:
    t = config[KEY]
    return [Study(owner=KEY, name="l1", method="l1", benchmark=t["benchmark"], sweep_param="ratio",
                  values=t["ratios"], seeds=resolve_benchmark(config, t["benchmark"], scale)["seeds"],
                  finetune=finetune_protocol(config, t["finetune"], scale))]


def check_config(config: dict) -> list[str]:
    t = config[KEY]
    return [f"config key '{KEY}.benchmark': {t['benchmark']!r} is not a benchmark"] \
        if t["benchmark"] not in config["benchmarks"] else []
