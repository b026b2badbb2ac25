"""What the study scripts (collect-study.py, restore-study.py, study-numbers.py) agree on: the
files of a run's search directory the repository keeps as they are, which record marks DARTS-ES's
epoch, and reading JSON lines with an error that names the file and line."""

import json
import sys

# Copied from a run's search directory as they are: by collect-study.py into the repository, by
# restore-study.py back into a sweep directory.
SEARCH_FILES = ("config.json", "lambda.jsonl", "genotype.txt", "genotype_es.txt", "genotype.json", "genotype_es.json")


def read_jsonl(path):
    """Every record of a JSON-lines file; a line that is not JSON ends the script naming it."""
    records = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as e:
                    sys.exit(f"{path}:{number}: not a JSON record ({e.msg})")
    return records


def first_es_record(records):
    """The robustness controller's record of where DARTS-ES stopped the search or would have
    (for DARTS-ADA: its first rollback); None where the rule never fired."""
    return next((r for r in records if r.get("event") == "robust" and r.get("action") in ("stop", "would_stop", "rollback")), None)
