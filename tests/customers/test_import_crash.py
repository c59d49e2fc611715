"""Killing an import midway (kill -9) and running it again ends in the same state as one clean run."""

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from guanxi.customers.synthetic import Synth

ROWS = 12000


def _database(tmp_path: Path, name: str):
    """A scratch database for a subprocess: a SQLite file, or a fresh PostgreSQL database."""
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" in engine:
        import psycopg

        db = f"guanxi_crash_{name}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db}"')
        return f"postgres://postgres@127.0.0.1:5432/{db}", db
    return f"sqlite:///{tmp_path / (name + '.sqlite3')}", None


def _drop(db):
    if db:
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def _env(tmp_path: Path, url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(GUANXI_DATABASE_URL=url, GUANXI_DATA_DIR=str(tmp_path / "data"), GUANXI_HTTPS="false",
               GUANXI_SECRET_KEY="crash-test-" + "x" * 50)
    return env


def _guanxi(env, *args, **kwargs):
    return subprocess.run([sys.executable, "-m", "guanxi", *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False, **kwargs)


def _state(url: str):
    query = ("SELECT customer_no, customer_type, name, id_number, phone, org_unit_id, status, deposit_balance, "
             "loan_balance, address FROM customers_customer ORDER BY id_number")
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return conn.execute(query).fetchall()
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://")) as conn:
        return conn.execute(query).fetchall()


def _prepare(tmp_path, name):
    url, db = _database(tmp_path, name)
    env = _env(tmp_path, url)
    assert _guanxi(env, "migrate").returncode == 0
    org = tmp_path / "org.csv"
    org.write_text("code,name,kind,parent_code\nHQ,总行,head_office,\nB1,城关支行,branch,HQ\nB2,兴隆信用社,coop,HQ\n")
    assert _guanxi(env, "import", "orgunits", str(org)).returncode == 0
    return url, db, env


@pytest.fixture
def registration(tmp_path):
    synth = Synth(seed=2024)
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["客户类型", "客户名称", "证件号码", "手机号码", "所属机构", "存款余额", "地址"])
        for index in range(ROWS):
            writer.writerow(["个人", synth.person_name(), synth.resident_id(), synth.mobile(),
                             "B1" if index % 2 else "B2", f"{synth.amount(10, 100000)}.{index % 100:02d}",
                             synth.village_address()])
    return path


def _indexes(url: str) -> list:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                                "AND tbl_name = 'customers_customer' ORDER BY name").fetchall()
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://")) as conn:
        return conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'customers_customer' "
                            "ORDER BY indexname").fetchall()


def _settled(url: str) -> None:
    """Wait until no server session works for the killed import any more (PostgreSQL): a COMMIT the server had
    received before the client died still completes, after the kill, and the state read before it would be
    one batch short of the state read after it. (SQLite works in the killed process itself.)"""
    if url.startswith("sqlite"):
        return
    import psycopg

    name = url.rsplit("/", 1)[1]
    deadline = time.monotonic() + 30
    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                           [name]).fetchone()[0]:
            assert time.monotonic() < deadline, "the killed import's server session did not end"
            time.sleep(0.05)


def _written_with(url: str) -> tuple[int, int]:
    """(customers with their creation audit entry, customers with their search row)."""
    search = ("SELECT count(*) FROM customers_customer c JOIN customers_namesearch s ON s.rowid = c.id"
              if url.startswith("sqlite") else
              "SELECT count(DISTINCT c.id) FROM customers_customer c JOIN customers_nametoken t ON t.customer_id = c.id")
    audited = ("SELECT count(*) FROM customers_customer c JOIN core_auditentry a ON a.object_type = "
               "'customers.customer' AND a.action = 'customer.create' AND a.object_id = CAST(c.id AS TEXT)")
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return conn.execute(audited).fetchone()[0], conn.execute(search).fetchone()[0]
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://")) as conn:
        return conn.execute(audited).fetchone()[0], conn.execute(search).fetchone()[0]


@pytest.mark.parametrize("mode", ["indexes-kept", "indexes-deferred", "workers"])
def test_kill_9_midway_then_rerun_equals_one_clean_run(tmp_path, registration, db, mode):
    """Also when the import drops the customer table's indexes for the load (a big file): the rerun
    builds them again, and the table ends with exactly the indexes it had. And when worker
    processes validate the rows (on SQLite they stage each block for the writer in a file)."""
    clean_url, clean_db, clean_env = _prepare(tmp_path / "clean", "clean")
    crash_url, crash_db, crash_env = _prepare(tmp_path / "crash", "crash")
    options = ["--batch-size", "1000"]
    if mode == "indexes-deferred":
        crash_env["GUANXI_IMPORT_DEFER_INDEXES_MIN_ROWS"] = "1000"
    elif mode == "workers":
        options = ["--batch-size", "200", "--workers", "2"]  # blocks of ~230 rows: many, and killed early
    indexes = _indexes(clean_url)
    try:
        assert _guanxi(clean_env, "import", "customers", str(registration), "--no-progress").returncode == 0

        process = subprocess.Popen([sys.executable, "-m", "guanxi", "import", "customers", str(registration),
                                    "--no-progress", *options], env=crash_env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        try:
            while time.monotonic() < deadline:
                time.sleep(0.2 if mode != "workers" else 0.02)
                try:
                    count = len(_state(crash_url))
                except Exception:  # noqa: BLE001 - table busy or not yet visible
                    continue
                if count >= (2000 if mode != "workers" else 1):
                    break
            assert process.poll() is None, "the import finished before it could be killed"
        finally:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        _settled(crash_url)
        partial = _state(crash_url)
        assert 0 < len(partial) < ROWS
        if mode == "workers":
            # Whole blocks only: the first rows of the file, each with its audit entry and search row.
            with registration.open(encoding="utf-8", newline="") as handle:
                ids = [row[2] for row in list(csv.reader(handle))[1:]]
            assert {row[3] for row in partial} == set(ids[: len(partial)])
        else:
            assert len(partial) % 1000 == 0  # whole batches only
        assert _written_with(crash_url) == (len(partial), len(partial))
        if mode == "indexes-deferred":
            assert len(_indexes(crash_url)) < len(indexes), "the import did not drop the indexes"

        scratch = list(Path(tempfile.gettempdir()).glob(f"guanxi-import-{process.pid}-*"))
        if mode == "workers" and crash_url.startswith("sqlite"):
            assert scratch, "the killed import staged its blocks in a scratch folder"
        rerun = _guanxi(crash_env, "import", "customers", str(registration), "--no-progress",
                        *(["--workers", "2"] if mode == "workers" else []))
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert not any(folder.exists() for folder in scratch)  # the rerun removed what the killed one left
        crashed, clean = _state(crash_url), _state(clean_url)
        assert len(clean) == ROWS
        # Same customers with the same data; customer numbers may differ only in order of allocation.
        assert [row[1:] for row in crashed] == [row[1:] for row in clean]
        assert len({row[0] for row in crashed}) == ROWS
        assert _indexes(crash_url) == _indexes(clean_url) == indexes
    finally:
        _drop(clean_db)
        _drop(crash_db)
