#!/usr/bin/env python3
"""Human visits per day and country, one day per run.

Like the query.py scripts of bigquery-etl, it writes where --destination_table
says (the backfill entry's query_script_args name the staging table there);
without it, it writes nothing. Local mode has no BigQuery client, so the
script sends its SQL to the loopback endpoint of the embedded warehouse named
by BQBACKFILL_LOCAL_SQL_URL, with the per-run token bqbackfill gives its
scripts in BQBACKFILL_LOCAL_SQL_TOKEN (shared/local/sqlapi.go). Standard
library only.
"""
import argparse
import json
import os
import urllib.error
import urllib.request

SOURCE = "moz-fx-data-shared-prod.special_live.visits_v1"
PRODUCTION = "moz-fx-data-shared-prod.special_derived.script_visits_v1"


def run_sql(sql, submission_date):
    body = json.dumps(
        {
            "sql": sql,
            "params": [{"name": "submission_date", "type": "DATE", "value": submission_date}],
        }
    ).encode()
    request = urllib.request.Request(
        os.environ["BQBACKFILL_LOCAL_SQL_URL"],
        data=body,
        headers={
            "Content-Type": "application/json",
            "Authorization": "Bearer " + os.environ["BQBACKFILL_LOCAL_SQL_TOKEN"],
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        raise SystemExit("query failed: %s" % e.read().decode())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--submission_date", required=True)
    parser.add_argument("--destination_table")
    parser.add_argument("--create_only", action="store_true", help="create the destination, write no rows")
    parser.add_argument("--dry_run", action="store_true")
    args = parser.parse_args()

    if args.dry_run:
        count = run_sql("SELECT COUNT(*) FROM `%s` WHERE submission_date = @submission_date" % SOURCE, args.submission_date)
        print("dry run: %s source rows for %s" % (count["rows"][0][0], args.submission_date))
        return
    if not args.destination_table:
        print("no --destination_table: nothing written")
        return
    dest = args.destination_table
    run_sql("CREATE TABLE IF NOT EXISTS `%s` LIKE `%s`" % (dest, PRODUCTION), args.submission_date)
    if args.create_only:
        return
    run_sql("DELETE FROM `%s` WHERE submission_date = @submission_date" % dest, args.submission_date)
    run_sql(
        "INSERT INTO `%s` "
        "SELECT submission_date, country, SUM(visits) AS visits FROM `%s` "
        "WHERE submission_date = @submission_date AND NOT is_bot "
        "GROUP BY submission_date, country" % (dest, SOURCE),
        args.submission_date,
    )
    print("wrote %s for %s" % (dest, args.submission_date))


if __name__ == "__main__":
    main()
