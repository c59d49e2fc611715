"""Registration import at bank scale, against the raw bulk insert of the same rows.

    python bench/bench_import.py                       # 1,000,000 rows, SQLite and PostgreSQL
    python bench/bench_import.py --rows 50000 --db sqlite

For each database, in fresh databases:
  1. `guanxi import customers FILE` into an empty database (a fresh process: wall time, rows/s, peak RSS);
  2. the same rows again as an update (every deposit balance changed, so every row is rewritten);
  3. the baseline: the same rows, already validated (validation not timed), inserted with the
     database driver alone — SQLite executemany, PostgreSQL COPY — into the same tables and indexes
     the import writes (customers, name tokens — on SQLite one FTS5 row per customer —, audit
     entries), and into the customer table alone;
  4. the same driver-only insert with the secondary indexes of the customer table and the audit log
     (and on PostgreSQL the name tokens' indexes and primary key) dropped first and built again
     after the load — what the import itself does with a file at least as big as the table
     (`core.bulkload`): the fastest the driver can fill the same tables.
The ratio import / baseline (3) is printed (goal: within 3x, and at least 20,000 rows/s on SQLite),
and the ratio to (4).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

GUANXI = str(Path(sys.executable).with_name("guanxi"))
ORGS = "B1,B2,B3,B4,B5,B6"
ORG_CSV = "code,name,kind,parent_code\nHQ,总行,head_office,\n" + "".join(
    f"B{i},网点{i},branch,HQ\n" for i in range(1, 7))


def scratch_database(kind: str, folder: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:6]}.sqlite3'}", None
    import psycopg

    name = f"guanxi_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@127.0.0.1:5432/{name}", name


def drop_database(name: str | None) -> None:
    if name:
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def environment(url: str, folder: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GUANXI_"))}
    env.update(GUANXI_DATABASE_URL=url, GUANXI_DATA_DIR=str(folder / "data"), GUANXI_HTTPS="false",
               GUANXI_SECRET_KEY="bench-" + "k" * 50)
    return env


def prepared(kind: str, folder: Path) -> tuple[str, str | None, dict]:
    url, name = scratch_database(kind, folder)
    env = environment(url, folder)
    subprocess.run([GUANXI, "migrate", "-v", "0"], env=env, check=True)
    org = folder / "org.csv"
    org.write_text(ORG_CSV)
    subprocess.run([GUANXI, "import", "orgunits", str(org)], env=env, check=True, stdout=subprocess.DEVNULL)
    return url, name, env


def timed(argv: list[str], env: dict) -> dict:
    """Run a step in a fresh process; it reports its own wall time and peak RSS as JSON on the last line."""
    out = subprocess.run([sys.executable, __file__, "--step", *argv], env=env, check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- steps (run inside the scratch environment) ------------------------------------------------------


def step_import(path: str) -> None:
    import django

    os.environ["DJANGO_SETTINGS_MODULE"] = "guanxi.settings"
    django.setup()
    from guanxi.customers.importing.customers import customers_import

    started = time.perf_counter()
    outcome = customers_import(acting_user=None, path=Path(path))
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": outcome.rows_read, "created": outcome.created,
                      "updated": outcome.updated, "unchanged": outcome.unchanged, "rejected": outcome.rejected,
                      "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def step_baseline(path: str, tables: str) -> None:
    """Validate every row first (not timed), then time the driver-only insert of the same rows."""
    import django

    os.environ["DJANGO_SETTINGS_MODULE"] = "guanxi.settings"
    django.setup()
    from django.db import connection
    from django.utils import timezone

    from guanxi.core.bulkload import primary_key, secondary_indexes
    from guanxi.core.models import OrgUnit
    from guanxi.customers import search
    from guanxi.customers.importing.customers import COLUMNS, DEFAULTS, HEADERS, _db_row
    from guanxi.customers.importing.readers import open_tabular
    from guanxi.customers.models import MARKET_BY_TYPE
    from guanxi.customers.validation import clean_customer_input

    units = {unit.code: unit for unit in OrgUnit.objects.all()}
    tabular = open_tabular(Path(path))
    mapping = [(i, HEADERS[h]) for i, h in enumerate(tabular.header) if h in HEADERS]
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    customers, tokens, audits = [], [], []
    for number, (_line, raw) in enumerate(tabular.rows(), start=1):
        data = {name: raw[i] for i, name in mapping if raw[i].strip() or name in ("customer_type", "name",
                                                                                   "id_number", "org_code")}
        values = clean_customer_input(data, org_units=units)
        values["org_unit_id"] = values.pop("org_unit").pk
        values["market"] = MARKET_BY_TYPE[values["customer_type"]]
        row = dict(DEFAULTS)
        row.update({c: values[c] for c in values if c in COLUMNS})
        customers.append([number, f"KH{number:010d}", *_db_row(row), "", now, now, None])
        if connection.vendor == "postgresql":
            tokens.extend((token, number) for token in search.name_tokens(row["name"]))
        else:
            tokens.append((number, search.fts_text(search.name_tokens(row["name"]))))
        audits.append([now, None, "system", "customer.create", "customers.customer", str(number),
                       f"{row['name']} (KH{number:010d})", json.dumps({"name": [None, row["name"]]})])
    tabular.close()
    columns = ["id", "customer_no", *COLUMNS, "products", "created_at", "updated_at", "created_by_id"]
    audit_columns = ["created_at", "actor_id", "actor_username", "action", "object_type", "object_id",
                     "object_repr", "changes"]
    deferred, keys = [], []
    if tables == "deferred":  # what the import drops on a first load (`_deferred_tables`), foreign keys aside
        deferred = secondary_indexes("customers_customer") + secondary_indexes("core_auditentry")
        if connection.vendor == "postgresql":
            deferred += secondary_indexes("customers_nametoken")
            keys = primary_key("customers_nametoken")
        with connection.cursor() as cursor:
            for name, _sql in deferred:
                cursor.execute(f'DROP INDEX "{name}"')
            for name, _sql in keys:
                cursor.execute(f'ALTER TABLE customers_nametoken DROP CONSTRAINT "{name}"')
        deferred += keys
    started = time.perf_counter()
    with connection.cursor() as cursor:
        raw_cursor = cursor.cursor
        if connection.vendor == "postgresql":
            with raw_cursor.copy(f"COPY customers_customer ({', '.join(columns)}) FROM STDIN") as copy:
                for row in customers:
                    copy.write_row(row)
            if tables != "customers":
                with raw_cursor.copy("COPY customers_nametoken (token, customer_id) FROM STDIN") as copy:
                    for row in tokens:
                        copy.write_row(row)
                with raw_cursor.copy(f"COPY core_auditentry ({', '.join(audit_columns)}) FROM STDIN") as copy:
                    for row in audits:
                        copy.write_row(row)
            for _name, sql in deferred:
                raw_cursor.execute(sql)
            connection.commit() if not connection.get_autocommit() else None
        else:
            raw_cursor.execute("BEGIN")
            marks = ", ".join("?" * len(columns))
            raw_cursor.executemany(f"INSERT INTO customers_customer ({', '.join(columns)}) VALUES ({marks})",
                                   customers)
            if tables != "customers":
                raw_cursor.executemany(f"INSERT INTO {search.FTS_TABLE} (rowid, tokens) VALUES (?, ?)", tokens)
                raw_cursor.executemany(f"INSERT INTO core_auditentry ({', '.join(audit_columns)}) "
                                       f"VALUES ({', '.join('?' * len(audit_columns))})", audits)
            for _name, sql in deferred:
                raw_cursor.execute(sql)
            raw_cursor.execute("COMMIT")
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": len(customers),
                      "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


# --- orchestration -------------------------------------------------------------------------------------


def make_files(rows: int, folder: Path) -> tuple[Path, Path]:
    first = folder / f"registration-{rows}.csv"
    subprocess.run([GUANXI, "generate", "customers", str(rows), "--out", str(first), "--seed", "11", "--orgs", ORGS],
                   check=True, stdout=subprocess.DEVNULL, env={**os.environ, "GUANXI_DATA_DIR": str(folder / "gen")})
    second = folder / f"registration-{rows}-update.csv"
    with first.open(encoding="utf-8-sig", newline="") as source, second.open("w", encoding="utf-8-sig",
                                                                              newline="") as target:
        reader, writer = csv.reader(source), csv.writer(target)
        header = next(reader)
        writer.writerow(header)
        deposit = header.index("存款余额")
        for row in reader:
            row[deposit] = f"{float(row[deposit] or 0) + 1:.2f}"
            writer.writerow(row)
    return first, second


def report(kind: str, rows: int, first: Path, second: Path, folder: Path) -> None:
    results = {}
    for label, argv in (("import into empty", ["import", str(first)]),
                        ("import as update", None),
                        ("baseline, same tables", ["baseline", str(first), "all"]),
                        ("baseline, customer table only", ["baseline", str(first), "customers"]),
                        ("baseline, indexes built after", ["baseline", str(first), "deferred"])):
        if label == "import as update":
            continue
        sub = folder / kind / label.replace(" ", "_").replace(",", "")
        sub.mkdir(parents=True)
        url, name, env = prepared(kind, sub)
        try:
            results[label] = timed(argv, env)
            if label == "import into empty":
                results["import as update"] = timed(["import", str(second)], env)
        finally:
            drop_database(name)
    base = results["baseline, same tables"]["seconds"]
    fastest = results["baseline, indexes built after"]["seconds"]
    print(f"\n{kind}: {rows:,} registration rows (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    for label in ("import into empty", "import as update", "baseline, same tables", "baseline, customer table only",
                  "baseline, indexes built after"):
        result = results[label]
        rate = result["rows"] / result["seconds"]
        extra = ""
        if label.startswith("import"):
            extra = (f"  created {result['created']:,} updated {result['updated']:,} unchanged "
                     f"{result['unchanged']:,} rejected {result['rejected']:,}; ratio to baseline "
                     f"{result['seconds'] / base:.2f}x (to the indexes-built-after baseline "
                     f"{result['seconds'] / fastest:.2f}x)")
        print(f"  {label:<32} {result['seconds']:8.1f} s {rate:>10,.0f} rows/s  peak RSS {result['rss_mib']:6.0f} MiB"
              + extra)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--step":
        {"import": step_import, "baseline": step_baseline}[sys.argv[2]](*sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="guanxi-bench-import-"))
    first, second = make_files(options.rows, folder)
    for kind in (["sqlite", "postgres"] if options.db == "both" else [options.db]):
        report(kind, options.rows, first, second, folder)


if __name__ == "__main__":
    main()
