"""results/toy/table1.csv: mean test error per ratio."""
import argparse
import json
from pathlib import Path

import pandas as pd


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", nargs="+", required=True)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    rows = [json.loads(Path(f).read_text()) for f in a.runs]
    df = pd.DataFrame([{"setting": r["setting"], "error_pct": 100 * r["test"]["error"]} for r in rows])
    a.out.parent.mkdir(parents=True, exist_ok=True)
    df.groupby("setting").mean().reset_index().to_csv(a.out, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
