#!/usr/bin/env python3
"""Copies what a sweep's report rests on into the repository, small enough to commit.

    rdarts sweep report SWEEP_DIR
    python3 scripts/collect-study.py SWEEP_DIR studies/results/NAME

Writes DEST/report.md, DEST/runs.csv, DEST/plots/*.svg (the report's), and for every run
DEST/runs/RUN/: search/config.json, search/lambda.jsonl, search/genotype.txt and .json (and
genotype_es.txt and .json), search/epochs.jsonl (each epoch's losses, accuracies, λ and genotype, without
the α matrices of metrics.jsonl), and train*/result.json. Checkpoints, logs and absolute paths
(sweep.json, run.json) stay behind. The runs are the grid's (SWEEP_DIR/sweep.json), and DEST is
replaced only once the copy is complete. scripts/restore-study.py puts the finished runs back into a
sweep directory, so that a sweep cut off on one machine continues on another.
"""

import json
import shutil
import sys
from pathlib import Path

from study_files import SEARCH_FILES, read_jsonl

KEEP_EPOCH = ("epoch", "lr", "train_loss", "train_acc", "valid_loss", "valid_acc", "seconds",
              "curvature", "weight_decay", "drop_path_prob", "iteration")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dest = Path(sys.argv[1]), Path(sys.argv[2])
    if not (src / "report.md").exists():
        sys.exit(f"{src}: no report.md; run `rdarts sweep report {src}` first")
    # Written beside DEST and swapped in at the end: an interrupted collection leaves DEST as it was.
    final, dest = dest, dest.with_name(dest.name + ".collecting")
    shutil.rmtree(dest, ignore_errors=True)
    (dest / "plots").mkdir(parents=True)
    for name in ("report.md", "runs.csv"):
        shutil.copy(src / name, dest / name)
    for svg in sorted((src / "plots").glob("*.svg")):
        shutil.copy(svg, dest / "plots" / svg.name)
    # The grid's runs, as the report reads them (not whatever else lies in runs/).
    for name in sorted(r["name"] for r in json.loads((src / "sweep.json").read_text())["runs"]):
        run, out = src / "runs" / name, dest / "runs" / name
        search = run / "search"
        if search.is_dir():
            (out / "search").mkdir(parents=True)
            for name in SEARCH_FILES:
                if (search / name).exists():
                    shutil.copy(search / name, out / "search" / name)
            metrics = search / "metrics.jsonl"
            if metrics.exists():
                with open(out / "search" / "epochs.jsonl", "w") as g:
                    for e in read_jsonl(metrics):
                        if e.get("event") == "epoch":
                            kept = {k: e[k] for k in KEEP_EPOCH if k in e}
                            kept["genotype"] = e.get("genotype")
                            g.write(json.dumps(kept) + "\n")
                        elif e.get("event") == "robust":
                            g.write(json.dumps(e) + "\n")
        for train in sorted(run.glob("train*")):
            if (train / "result.json").exists():
                (out / train.name).mkdir(parents=True, exist_ok=True)
                shutil.copy(train / "result.json", out / train.name / "result.json")
    runs = len(list((dest / "runs").iterdir()))
    shutil.rmtree(final, ignore_errors=True)
    dest.rename(final)
    print(f"copied the report and {runs} runs' results to {final}")


if __name__ == "__main__":
    main()
