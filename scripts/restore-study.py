#!/usr/bin/env python3
"""Puts a collected study's finished runs back into a sweep directory, so that `rdarts sweep`
skips them and computes only the rest (on a fresh machine, say, where the sweep directory is gone):

    python3 scripts/restore-study.py studies/results/NAME SWEEP_DIR
    rdarts sweep GRID.toml --out SWEEP_DIR --jobs 2

The inverse of scripts/collect-study.py: per finished run, search/config.json, lambda.jsonl and
genotype*.txt as collected, search/metrics.jsonl (rebuilt from epochs.jsonl: every epoch and
DARTS-ADA event as recorded, the α matrices empty, since collect-study.py does not keep them and
neither the sweep nor its report reads them), search/genotype.json and genotype_es.json
(as collected, or else the last epoch's and DARTS-ES's genotype from the records, checked against
the collected genotype.txt / genotype_es.txt), and train*/result.json. Runs that had not finished
(no genotype.txt, or a training without result.json) are left out: the sweep runs them afresh.
A run directory already in SWEEP_DIR is never touched.
"""

import json
import re
import shutil
import sys
from pathlib import Path

from study_files import SEARCH_FILES, first_es_record, read_jsonl


def pairs_of_text(text):
    """The (operation, input) pairs of a genotype's text form, normal cell then reduction cell."""
    return [(op.replace("_", ""), int(i)) for op, i in re.findall(r"\('(\w+)', (\d+)\)", text)]


def pairs_of_json(g):
    return [(op.replace("_", ""), int(i)) for op, i in g["normal"] + g["reduce"]]


def derived_genotype(search, name, records_genotype):
    """The records' genotype as JSON, checked against the collected text form `name`.txt (for
    runs collected before collect-study.py kept `name`.json)."""
    text = (search / f"{name}.txt").read_text()
    if records_genotype is None or pairs_of_json(records_genotype) != pairs_of_text(text):
        sys.exit(f"{search / (name + '.txt')}: does not match the genotype in {search / 'epochs.jsonl'}")
    return json.dumps(records_genotype)


def restore(run, dest):
    search = run / "search"
    if not (search / "genotype.txt").exists():
        return False
    trains = ["train"] + (["train-es"] if (search / "genotype_es.txt").exists() else [])
    if any(not (run / t / "result.json").exists() for t in trains):
        return False
    records, last = [], {}
    for e in read_jsonl(search / "epochs.jsonl"):
        if e.get("event") != "robust":
            e = {"event": "epoch", **e, "alpha_normal": [], "alpha_reduce": []}
            last[e["epoch"]] = e
        records.append(e)
    es = first_es_record(records)
    derived = {}
    if not (search / "genotype.json").exists():
        derived["genotype"] = derived_genotype(search, "genotype", last[max(last)]["genotype"] if last else None)
    if (search / "genotype_es.txt").exists() and not (search / "genotype_es.json").exists():
        derived["genotype_es"] = derived_genotype(search, "genotype_es", es and es.get("genotype"))
    tmp = dest.with_name(dest.name + ".restoring")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "search").mkdir(parents=True)
    for name in SEARCH_FILES:
        if (search / name).exists():
            shutil.copy(search / name, tmp / "search" / name)
    for name, text in derived.items():
        (tmp / "search" / f"{name}.json").write_text(text)
    (tmp / "search" / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in records))
    for t in trains:
        (tmp / t).mkdir()
        shutil.copy(run / t / "result.json", tmp / t / "result.json")
    tmp.rename(dest)
    return True


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, sweep = Path(sys.argv[1]), Path(sys.argv[2])
    if not (src / "runs").is_dir():
        sys.exit(f"{src}: no runs/ (expected what scripts/collect-study.py writes)")
    (sweep / "runs").mkdir(parents=True, exist_ok=True)
    restored, skipped = [], []
    for run in sorted((src / "runs").iterdir()):
        dest = sweep / "runs" / run.name
        if dest.exists():
            skipped.append(f"{run.name} (already in {sweep})")
        elif restore(run, dest):
            restored.append(run.name)
        else:
            skipped.append(f"{run.name} (not finished)")
    print(f"restored {len(restored)} finished runs into {sweep / 'runs'}")
    for s in skipped:
        print(f"  left out: {s}")


if __name__ == "__main__":
    main()
