#!/usr/bin/env python3
"""Per-run numbers behind RESULTS.md's reading, from a collected study (scripts/collect-study.py):

    python3 scripts/study-numbers.py studies/results/robustdarts-digits

One line per run: method, space, seed, epochs recorded, mean λmax of the first and of the last 5
epochs of the trajectory the search ended with, the final λmax, parameter-free operations among
the final normal cell's, the DARTS-ES epoch, DARTS-ADA's iterations and final weight decay, and
the trained cells' test errors (found cell; DARTS-ES's).
"""

import json
import sys
from pathlib import Path

from study_files import first_es_record, read_jsonl

FREE = ("skip_connect", "max_pool3x3", "avg_pool3x3", "none", "noise")


def test_error(path):
    return f'{json.loads(path.read_text())["test_error_percent"]:.2f}' if path.exists() else "-"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    runs = Path(sys.argv[1]) / "runs"
    print("run\tmethod\tspace\tseed\tepochs\tlambda_first5\tlambda_last5\tlambda_final\tfree_normal\tes_epoch\tada_iterations\tweight_decay\ttest_error\ttest_error_es")
    for run in sorted(runs.iterdir()):
        config = json.loads((run / "search" / "config.json").read_text())
        epochs_file = run / "search" / "epochs.jsonl"
        rows = read_jsonl(epochs_file) if epochs_file.exists() else []
        # The trajectory the search ended with: the newest record of each epoch (DARTS-ADA rolls back).
        by_epoch = {}
        for r in rows:
            if "lr" in r:
                by_epoch[r["epoch"]] = r
        epochs = [by_epoch[e] for e in sorted(by_epoch)]
        lam = [e["curvature"]["lambda_max"] for e in epochs if e.get("curvature")]
        es_record = first_es_record(rows)
        es = es_record["stop"]["stop_epoch"] + 1 if es_record else None
        genotype = epochs[-1]["genotype"] if epochs else None
        free = sum(op in FREE for op, _ in genotype["normal"]) if genotype else "-"
        method = run.name.split("-seed=")[0]
        mean = lambda v: f"{sum(v) / len(v):.3f}" if v else "-"
        print("\t".join(str(x) for x in [
            run.name, method, config["net"]["space"], config["seed"], len(epochs), mean(lam[:5]), mean(lam[-5:]),
            f"{lam[-1]:.3f}" if lam else "-", free, es or "-", max((e["iteration"] for e in epochs), default="-"),
            epochs[-1]["weight_decay"] if epochs else "-", test_error(run / "train" / "result.json"),
            test_error(run / "train-es" / "result.json"),
        ]))


if __name__ == "__main__":
    main()
