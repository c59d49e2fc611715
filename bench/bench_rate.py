"""Batch rating at bank scale: `assessments_run_batch` against the same scorecard compiled to plain SQL.

    python bench/bench_rate.py                       # 1,000,000 farmer households, SQLite
    python bench/bench_rate.py --rows 200000 --db both

For each database, in a fresh scratch database (SQLite file / PostgreSQL database, removed after):
  1. load N farmer households over 8 branches with the driver's bulk path (SQLite executemany,
     PostgreSQL COPY): the customer record (household size, assets, liabilities, income, birth
     date), 1–4 household members each (who are labourers), and the seven inputs the default farmer
     scorecard reads per household (member shares, the village group's judgement, repayment record,
     PBOC status, three eligibility answers) — about 2% of the households lack one input; local
     averages on the head office, one branch with its own;
  2. baseline: the default farmer scorecard compiled to ONE plain SQL statement — INSERT … SELECT
     with a CASE expression per indicator, the eligibility gates, the cap and the grade bands, over
     the same joins of customers, members and the pivoted inputs — writing (customer, score, grade);
  3. `assessments_run_batch` (what `guanxi rate` runs): the same facts read per chunk through the
     driver cursor, scored by the compiled scorecard in Python, written with COPY / executemany with
     the full per-indicator breakdown, gates and missing inputs; rate in customers per second, ratio
     to the baseline (goal ≤ 3×) and wall time (goal < 60 s);
  4. acceptance: every customer's score and grade agree between the two paths.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

KEYS = ("member_shares", "overall_judgement", "repayment_record", "credit_reference", "registered_in_area",
        "full_civil_capacity", "lawful_business")
CUSTOMER_COLUMNS = ("customer_no, customer_type, name, name_pinyin, name_initials, id_number, phone, phone_last4, "
                    "org_unit_id, status, address, industry, market, gender, guarantee_type, notes, deposit_balance, "
                    "loan_balance, products, created_at, updated_at, household_size, annual_income, total_assets, "
                    "total_liabilities, birth_date")
MEMBER_COLUMNS = "customer_id, name, relation, id_number, phone, is_labourer, occupation"
INPUT_COLUMNS = "customer_id, key, value, number, collected_at"


# --- parent --------------------------------------------------------------------------------------------


def run_parent(args) -> None:
    print(f"bench_rate: {args.rows:,} farmer households; {common.source_version()}; {common.load_line()}",
          flush=True)
    for kind in common.db_choices(args.db):
        with common.scratch_database(kind, keep=args.keep) as env:
            common.run_child(__file__, ["--child", "--rows", str(args.rows)], env)


# --- child: data ---------------------------------------------------------------------------------------


def households(n: int, org_ids: list[int], now):
    """(customer row, members, inputs) per household; amounts in fen."""
    rng = random.Random(2026)
    judgements = ["excellent"] * 3 + ["good"] * 4 + ["fair"] * 2 + ["poor"]
    repayments = ["on_time"] * 7 + ["no_history"] * 2 + ["interest_arrears", "principal_arrears", "bad_debt"]
    references = ["clean"] * 18 + ["minor", "bad"]
    for i in range(n):
        size = rng.randint(1, 6)
        assets = int(10 ** rng.uniform(4.5, 6.5)) * 100
        liabilities = int(assets * rng.uniform(0, 0.8)) // 100 * 100
        income = int(10 ** rng.uniform(3.8, 5.3)) * 100
        born = f"{rng.randint(1948, 2002)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        customer = (f"KB{i:010d}", "farmer", f"农户{i}", "nonghu", "nh", f"{i:018d}", "", "", org_ids[i % len(org_ids)],
                    "existing", "某村", "A", "agri", "", "credit", "", 0, 0, "", now, now, size, income, assets,
                    liabilities, born)
        members = [rng.random() < 0.75 for _ in range(min(size, 4))]
        shares = rng.choice([0, 0, 100000, 300000, 800000, 1500000])
        inputs = {"member_shares": (f"{shares / 100:.2f}", shares),
                  "overall_judgement": (rng.choice(judgements), None),
                  "repayment_record": (rng.choice(repayments), None),
                  "credit_reference": (rng.choice(references), None),
                  "registered_in_area": ("true", 1), "full_civil_capacity": ("true", 1),
                  "lawful_business": ("true", 1) if rng.random() < 0.99 else ("false", 0)}
        if rng.random() < 0.02:
            del inputs[rng.choice(KEYS)]
        yield customer, members, inputs


def load(n: int, org_ids: list[int]) -> float:
    from django.db import connection, transaction
    from django.utils import timezone

    now = connection.ops.adapt_datetimefield_value(timezone.now())
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM customers_customer")
        first_id = cursor.fetchone()[0] + 1
        postgres = connection.vendor == "postgresql"
        batches: dict[str, list] = {"customers": [], "members": [], "inputs": []}
        statements = {
            "customers": ("customers_customer", CUSTOMER_COLUMNS),
            "members": ("customers_householdmember", MEMBER_COLUMNS),
            "inputs": ("credit_ratinginput", INPUT_COLUMNS),
        }

        def flush(name: str) -> None:
            rows = batches[name]
            if not rows:
                return
            table, columns = statements[name]
            if postgres:
                with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(rows[0]))
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
            batches[name] = []

        for index, (customer, members, inputs) in enumerate(households(n, org_ids, now)):
            customer_id = first_id + index
            batches["customers"].append(customer)
            batches["members"] += [(customer_id, "成员", "other", "", "", labourer, "") for labourer in members]
            batches["inputs"] += [(customer_id, key, text, number, now) for key, (text, number) in inputs.items()]
            if len(batches["customers"]) == 50_000:
                for name in ("customers", "members", "inputs"):  # customers first: the others refer to them
                    flush(name)
        for name in ("customers", "members", "inputs"):
            flush(name)
        cursor.execute("SELECT MIN(id), MAX(id), COUNT(*) FROM customers_customer WHERE customer_no LIKE 'KB%%'")
        low, high, count = cursor.fetchone()
        assert (low, high, count) == (first_id, first_id + n - 1, n), "customer ids are not the ones expected"
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    return time.perf_counter() - started


# --- child: the baseline (the scorecard as plain SQL) -----------------------------------------------------


def baseline_sql(scorecard, today) -> tuple[str, list]:
    """The compiled scorecard as one INSERT … SELECT of CASE expressions (no breakdown, no missing list).

    It reads the same facts through the same SQL expressions and joins as the batch reader, over every
    farmer at once, and computes score and grade in the database.
    """
    from django.db import connection

    from guanxi.credit import engine, reader

    compiled = scorecard.compiled()
    query = reader.FactQuery(compiled.facts, compiled.fact_table, today=today)
    column = {key: f"f{i}" for i, key in enumerate(compiled.facts)}
    outer_params: list = []
    score_params: list = []

    def literal(value, into: list) -> str:
        into.append(value)
        return "%s"

    scores = []
    for item in compiled.indicators:
        v = column[compiled.facts[item.column - 2]]
        if item.kind == engine.CATEGORIES:
            whens = " ".join(f"WHEN {literal(code, score_params)} THEN {points}" for code, points in item.table.items())
            scores.append(f"(CASE WHEN {v} IS NULL THEN NULL ELSE (CASE {v} {whens} ELSE {item.other} END) END)")
            continue
        value = f"({v} * 10000 / a_{item.average})" if item.kind == engine.RATIO else v
        whens = " ".join(f"WHEN {value} >= {bound} THEN {points}"
                         for bound, points in reversed(list(zip(item.bounds, item.points[1:], strict=True))))
        scores.append(f"(CASE WHEN {value} IS NULL THEN NULL {whens} ELSE {item.points[0]} END)")

    def condition(spec) -> str:
        what, position, op, const = spec
        if what == "indicator":
            raise NotImplementedError("the farmer card has no indicator floors")
        v = f"s.{column[compiled.facts[position - 2]]}"
        if op == "between":
            return f"({v} BETWEEN {literal(const[0], outer_params)} AND {literal(const[1], outer_params)})"
        if op in ("in", "not_in"):
            marks = ", ".join(literal(c, outer_params) for c in const)
            return f"({v} {'NOT IN' if op == 'not_in' else 'IN'} ({marks}))"
        operator = {"==": "=", "!=": "<>"}.get(engine._OPERATORS[op], engine._OPERATORS[op])
        return f"({v} {operator} {literal(const, outer_params)})"

    gate_facts = {compiled.facts[spec[1] - 2] for _code, spec in compiled.eligibility}
    gate_facts |= {compiled.facts[spec[1] - 2] for _code, _rank, specs in compiled.caps for spec in specs}
    complete = " AND ".join(f"s.{column[key]} IS NOT NULL" for key in sorted(gate_facts)) or "1 = 1"
    eligible = " AND ".join(condition(spec) for _code, spec in compiled.eligibility) or "1 = 1"
    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    band = "CASE " + " ".join(f"WHEN s.score >= {band['min']} THEN {compiled.rank[band['grade']]}"
                              for band in compiled.bands) + " END"
    caps = [f"CASE WHEN {' OR '.join(condition(spec) for spec in specs)} THEN {rank} ELSE 0 END"
            for _code, rank, specs in compiled.caps]
    rank = f"{greatest}({band}, {', '.join(caps)})" if caps else band
    grade_params: list = []
    grade = "CASE g.r " + " ".join(f"WHEN {index} THEN {literal(code, grade_params)}"
                                   for index, code in enumerate(compiled.grades)) + " END"
    facts = ", ".join(f"{expression} AS {column[key]}" for key, expression in zip(compiled.facts, query.expressions,
                                                                                  strict=True))
    averages = ", ".join(f"av.{key} AS a_{key}" for key in compiled.averages_used)
    joins, join_params = query.joins(0, 2 ** 62)
    sql = ("INSERT INTO bench_result (customer_id, score, grade) "
           f"SELECT g.id, CASE WHEN g.complete THEN g.score END, "
           f"CASE WHEN g.score IS NULL OR NOT g.complete THEN NULL ELSE {grade} END FROM ("
           f"SELECT s.id, s.score, ({complete}) AS complete, "
           f"CASE WHEN NOT ({eligible}) THEN {compiled.lowest} ELSE {rank} END AS r "
           f"FROM (SELECT t.*, {' + '.join(scores)} AS score FROM ("
           f"SELECT c.id, {facts}, {averages} FROM customers_customer c{joins} "
           "LEFT JOIN bench_average av ON av.org_unit_id = c.org_unit_id "
           "WHERE c.customer_type = 'farmer' AND c.status = 'existing') t) s) g")
    # Placeholders in text order: grade names, gates, score CASEs, the facts (age), the joins.
    return sql, [*grade_params, *outer_params, *score_params, *query.select_params, *join_params]


def run_baseline(scorecard, today) -> tuple[float, int]:
    """Time the plain-SQL scorecard; returns (seconds, rows)."""
    from django.db import connection, transaction

    from guanxi.credit import reader

    averages = reader.local_averages()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_result")
        cursor.execute("CREATE TABLE bench_result (customer_id BIGINT PRIMARY KEY, score INTEGER, grade VARCHAR(4))")
        cursor.execute("DROP TABLE IF EXISTS bench_average")
        cursor.execute("CREATE TABLE bench_average (org_unit_id BIGINT PRIMARY KEY, household_assets BIGINT, "
                       "net_assets BIGINT, net_income BIGINT)")
        cursor.executemany("INSERT INTO bench_average VALUES (%s, %s, %s, %s)",
                           [(unit, values.get("household_assets"), values.get("net_assets"), values.get("net_income"))
                            for unit, values in averages.items()])
    sql, params = baseline_sql(scorecard, today)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        cursor.execute("SELECT COUNT(*) FROM bench_result")
        rows = cursor.fetchone()[0]
    return time.perf_counter() - started, rows


# --- child: measurements ----------------------------------------------------------------------------------


def run_child(args) -> None:
    vendor = common.django_setup()
    from decimal import Decimal

    from django.db import connection
    from django.utils import timezone

    from guanxi.credit.models import LocalAverage, Scorecard
    from guanxi.credit.services import assessments_run_batch

    units = common.load_org_units()
    for key, amount in (("household_assets", "300000"), ("net_assets", "250000"), ("net_income", "60000")):
        LocalAverage.objects.create(org_unit=units["HO"], key=key, amount=Decimal(amount))
    LocalAverage.objects.create(org_unit=units["B3"], key="household_assets", amount=Decimal("400000"))
    n = args.rows
    seconds = load(n, [units[code].pk for code in common.ORG_CODES])
    print(f"[{vendor}] loaded {n:,} farmer households (+ members, 7 inputs each) in {seconds:.1f} s", flush=True)

    today = timezone.localdate()
    scorecard = Scorecard.objects.effective("farmer", today)
    baseline, rows = run_baseline(scorecard, today)
    print(f"[{vendor}] baseline: the farmer scorecard as one plain SQL INSERT … SELECT of CASE expressions: "
          f"{baseline:.2f} s for {rows:,} rows ({rows / baseline:,.0f} customers/s)", flush=True)

    with common.Timer() as timer:
        result = assessments_run_batch(acting_user=None, customer_type="farmer", today=today)
    rate = result.assessed / timer.seconds
    print(f"[{vendor}] assessments_run_batch: {timer.seconds:.2f} s for {result.assessed:,} customers "
          f"({rate:,.0f} customers/s, CPU {timer.cpu:.1f} s) → ratio {timer.seconds / baseline:.2f}x the plain SQL "
          f"(goal ≤ 3x), {'under' if timer.seconds < 60 else 'OVER'} 60 s", flush=True)
    common.print_table(["grade", "customers"], [*sorted(result.by_grade.items()), ("lacking inputs",
                                                                                   result.incomplete)])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM credit_ratingassessment a JOIN bench_result b ON b.customer_id = a.customer_id "
            "WHERE a.run_id = %s AND (COALESCE(b.grade, '') <> a.model_grade "
            "OR COALESCE(b.score, -1) <> COALESCE(a.model_score, -1))", [result.run.pk])
        disagree = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FROM credit_ratingassessment WHERE run_id = %s", [result.run.pk])
        written = cursor.fetchone()[0]
    print(f"[{vendor}] acceptance: {written:,} assessments written for {rows:,} customers, "
          f"{disagree} disagree with the plain SQL in score or grade → "
          f"{'OK' if disagree == 0 and written == rows == n else 'MISMATCH'}", flush=True)
    common.emit({"vendor": vendor, "rows": n, "baseline": baseline, "batch": timer.seconds, "rate": rate})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args)
    else:
        run_parent(args)


if __name__ == "__main__":
    main()
