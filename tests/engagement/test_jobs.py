"""The job runner: nightly jobs recorded as JobRuns, their operator page, and the periodic schedule running
under `guanxi serve` alone and under a Redis-backed `guanxi worker` (real processes, real settings)."""

from __future__ import annotations

import secrets
import socket
import sqlite3
import time

import pytest

from guanxi.engagement.models import FollowUp
from guanxi.site.jobs import JobResult, recorded_job
from guanxi.site.models import JobRun
from tests.site.servers import (
    HOST,
    database_url,
    free_port,
    guanxi_command,
    guanxi_env,
    logs,
    run_guanxi,
    start,
    stop,
    wait_until_ready,
)

NIGHTLY = ("care_plans_run", "followups_generate", "segments_recompute")
EVERY_MINUTE = {f"GUANXI_SCHEDULE_{job.upper()}": "* * * * *" for job in NIGHTLY}
WAIT_SECONDS = 60


def test_a_job_run_records_duration_and_items(db):
    @recorded_job("example")
    def job():
        return JobResult(items=7, failures=1, error="one refused")

    assert job().items == 7
    run = JobRun.objects.get()
    assert (run.name, run.state, run.items, run.failures, run.error) == ("example", "done", 7, 1, "one refused")
    assert run.finished_at >= run.started_at and run.seconds >= 0


def test_a_failing_job_is_recorded_and_raised(db):
    @recorded_job("broken")
    def job():
        raise RuntimeError("the gateway is down")

    with pytest.raises(RuntimeError):
        job()
    run = JobRun.objects.get()
    assert run.state == "failed" and "the gateway is down" in run.error and run.finished_at is not None


def test_the_nightly_visit_job_generates_tasks(bank, person):
    from guanxi.site.tasks import followups_nightly

    customer = person("高端", tier="high")
    customer.created_at = customer.created_at.replace(year=customer.created_at.year - 1)
    customer.save()
    followups_nightly.call_local()
    assert FollowUp.objects.filter(customer=customer).exists()
    assert JobRun.objects.get(name="followups_generate").items == 1


def test_the_operator_page_shows_the_runs_to_the_sysadmin_and_the_auditor(login, bank):
    JobRun.objects.create(name="care_plans_run", state="done", items=12, seconds=1.5)
    page = login(bank.sam).get("/jobs/").content.decode()
    assert "care_plans_run" in page and "followups_generate" in page and "segments_recompute" in page
    assert '<td class="num">12</td>' in page
    assert login(bank.audrey).get("/jobs/").status_code == 200
    for user in (bank.alice, bank.hank, bank.sec):
        assert login(user).get("/jobs/").status_code == 403


# --- real processes ---------------------------------------------------------------------------------------------------


def _job_runs(db_url: str) -> dict[str, str]:
    """{job name: state of its latest run} in the subprocess's database."""
    query = "SELECT name, state FROM guanxi_site_jobrun ORDER BY id"
    if db_url.startswith("sqlite:///"):
        try:
            with sqlite3.connect(db_url.removeprefix("sqlite:///"), timeout=5) as conn:
                return dict(conn.execute(query).fetchall())
        except sqlite3.OperationalError:  # not migrated yet
            return {}
    import psycopg

    try:
        with psycopg.connect(db_url.replace("postgres://", "postgresql://", 1)) as conn:
            return dict(conn.execute(query).fetchall())
    except psycopg.Error:
        return {}


def _wait_for_runs(process, db_url: str, log_dir) -> dict[str, str]:
    deadline = time.monotonic() + WAIT_SECONDS
    runs: dict[str, str] = {}
    while time.monotonic() < deadline:
        runs = _job_runs(db_url)
        if all(runs.get(job) in ("done", "failed") for job in NIGHTLY):
            return runs
        if process.poll() is not None:
            pytest.fail(f"{process.args} exited with {process.returncode}\n{logs(log_dir)}")
        time.sleep(0.5)
    pytest.fail(f"the nightly jobs did not all run within {WAIT_SECONDS} s: {runs}\n{logs(log_dir)}")


def test_the_nightly_jobs_run_under_guanxi_serve_alone(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    port = free_port()
    with database_url(data_dir) as db_url:
        env = guanxi_env(data_dir, GUANXI_DATABASE_URL=db_url, GUANXI_SECRET_KEY=secrets.token_urlsafe(45),
                         **EVERY_MINUTE)
        process = start(guanxi_command("serve", "--port", str(port)), env=env, cwd=tmp_path, log_dir=tmp_path)
        try:
            wait_until_ready(process, f"http://{HOST}:{port}/login/", status=301, log_dir=tmp_path)
            runs = _wait_for_runs(process, db_url, tmp_path)
        finally:
            stop(process)
    assert runs == dict.fromkeys(NIGHTLY, "done"), logs(tmp_path)


def _redis_reachable() -> bool:
    try:
        with socket.create_connection((HOST, 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_reachable(), reason="needs Redis on 127.0.0.1:6379")
def test_the_nightly_jobs_run_under_a_redis_backed_worker(tmp_path):
    import redis

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    queue = f"guanxi-test-{secrets.token_hex(4)}"  # apart from any other run sharing this Redis
    with database_url(data_dir) as db_url:
        env = guanxi_env(data_dir, GUANXI_DATABASE_URL=db_url, GUANXI_SECRET_KEY=secrets.token_urlsafe(45),
                         GUANXI_REDIS_URL=f"redis://{HOST}:6379/0", GUANXI_QUEUE_NAME=queue, **EVERY_MINUTE)
        migrated = run_guanxi("migrate", "--no-input", env=env, cwd=tmp_path, timeout=300)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        process = start(guanxi_command("worker", "--workers", "2"), env=env, cwd=tmp_path, log_dir=tmp_path)
        try:
            runs = _wait_for_runs(process, db_url, tmp_path)
        finally:
            stop(process)
            client = redis.Redis.from_url(f"redis://{HOST}:6379/0")
            for key in client.scan_iter(f"*{queue}*"):
                client.delete(key)
    assert runs == dict.fromkeys(NIGHTLY, "done"), logs(tmp_path)
