"""Regenerates golden.json: PyYAML's rendering of the entries in cases.json,
the way bqetl's Backfill.to_yaml writes them (yaml.dump, sort_keys=False,
multi-line strings as literal blocks). Run: python3 gen.py > golden.json
"""
import datetime
import json

import yaml


def str_presenter(dumper, data):
    if len(data.splitlines()) > 1:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


yaml.add_representer(str, str_presenter)

ORDER = [
    "start_date", "end_date", "excluded_dates", "reason", "watchers", "status",
    "custom_query_path", "shredder_mitigation", "reinitialize_table",
    "reinitialize_sampling_batch_size", "override_retention_limit",
    "override_depends_on_past_end_date", "override_depends_on_past_null_partition",
    "ignore_date_partition_offset", "billing_project", "query_script_entrypoint",
    "query_script_date_arg", "query_script_args", "query_script_dry_run_arg",
]
DEFAULT_FALSE = [
    "shredder_mitigation", "override_retention_limit",
    "override_depends_on_past_end_date", "override_depends_on_past_null_partition",
    "ignore_date_partition_offset",
]
DATES = {"start_date", "end_date"}


def entry(case):
    fields = {}
    for k in ORDER:
        v = case.get(k)
        if v is None and k in DEFAULT_FALSE:
            v = False
        if k in DATES:
            v = datetime.date.fromisoformat(v)
        if k == "excluded_dates":
            v = sorted(datetime.date.fromisoformat(d) for d in (v or [])) or None
        if v is not None:
            fields[k] = v
    return {datetime.date.fromisoformat(case["entry_date"]): fields}


cases = json.load(open("cases.json"))
print(json.dumps([yaml.dump(entry(c), sort_keys=False) for c in cases], indent=1))
