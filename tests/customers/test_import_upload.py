"""The upload page and API: the import runs as a job, with progress and a downloadable error report."""

import csv
import io

from django.core.files.uploadedfile import SimpleUploadedFile

from guanxi.core.services import token_create
from guanxi.customers.models import Customer, ImportRun
from guanxi.customers.synthetic import Synth


def registration_file(rows=3, bad=1, name="登记表.csv"):
    synth = Synth(seed=17)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["客户类型", "客户名称", "证件号码", "手机号码", "所属机构"])
    for _ in range(rows):
        writer.writerow(["个人", synth.person_name(), synth.resident_id(), synth.mobile(), "B1"])
    for _ in range(bad):
        writer.writerow(["个人", "坏行", "2.31102E+17", "", "B1"])
    return SimpleUploadedFile(name, buffer.getvalue().encode("gb18030"), content_type="text/csv")


def test_a_manager_uploads_a_file_and_follows_the_job(login, bank):
    client = login(bank.alice)
    response = client.post("/customers/import/", {"file": registration_file()})
    run = ImportRun.objects.get()
    assert response.status_code == 302 and response.url == f"/customers/import/{run.pk}/"
    assert run.state == "done" and run.rows_created == 3 and run.rows_rejected == 1 and run.started_by == bank.alice
    page = client.get(response.url).content.decode()
    assert 'id="rows-created">3<' in page and "100%" in page
    assert Customer.objects.visible_to(bank.alice).count() == 3  # assigned to the manager who imported them
    report = client.get(f"/customers/import/{run.pk}/errors/")
    text = b"".join(report.streaming_content).decode("utf-8-sig")
    assert "坏行" in text and "错误原因" in text


def test_a_running_import_page_polls_for_progress(login, bank):
    run = ImportRun.objects.create(kind="customers", file_name="x.csv", started_by=bank.alice, state="running",
                                   bytes_total=1000, bytes_read=250, rows_read=40)
    page = login(bank.alice).get(f"/customers/import/{run.pk}/").content.decode()
    assert 'hx-trigger="every 1s"' in page and "25%" in page


def test_another_users_import_is_404(login, bank):
    login(bank.alice).post("/customers/import/", {"file": registration_file()})
    run = ImportRun.objects.get()
    client = login(bank.carol)
    assert client.get(f"/customers/import/{run.pk}/").status_code == 404
    assert client.get(f"/customers/import/{run.pk}/errors/").status_code == 404


def test_a_branch_head_follows_imports_of_their_staff(login, bank):
    login(bank.alice).post("/customers/import/", {"file": registration_file()})
    run = ImportRun.objects.get()
    assert login(bank.hank).get(f"/customers/import/{run.pk}/").status_code == 200


def test_a_wrong_file_type_is_refused_with_a_reason(login, bank):
    response = login(bank.alice).post("/customers/import/", {"file": SimpleUploadedFile("a.pdf", b"%PDF")})
    assert response.status_code == 422 and ".xlsx" in response.content.decode()
    assert not ImportRun.objects.exists()


def test_the_auditor_cannot_import(login, bank):
    assert login(bank.audrey).get("/customers/import/").status_code == 403


def test_the_api_starts_an_import_and_reports_its_state(client, bank):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_create(acting_user=None, user=bank.alice)}"}
    response = client.post("/api/v1/customers/imports", {"file": registration_file(rows=2, bad=0)}, **headers)
    assert response.status_code == 202
    body = client.get(f"/api/v1/customers/imports/{response.json()['id']}", **headers).json()
    assert body["state"] == "done" and body["rows_created"] == 2 and body["has_error_report"] is False


def test_a_dry_run_upload_writes_no_customers(login, bank):
    login(bank.alice).post("/customers/import/", {"file": registration_file(), "dry_run": "1"})
    run = ImportRun.objects.get()
    assert run.dry_run and run.state == "done" and run.rows_rejected == 1
    assert Customer.objects.count() == 0
