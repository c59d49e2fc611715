"""Sign-in: Argon2 hashes, lockout after repeated failures, idle expiry, CSRF, security headers."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from guanxi.core.models import User


@pytest.fixture
def argon2(settings):
    settings.PASSWORD_HASHERS = settings.REAL_PASSWORD_HASHERS


def test_passwords_are_hashed_with_argon2(argon2, bank):
    bank.alice.set_password("a long pass phrase")
    bank.alice.save()
    assert User.objects.get(pk=bank.alice.pk).password.startswith("argon2")


def sign_in(client, username, password):
    return client.post("/login/", {"username": username, "password": password})


def test_a_correct_sign_in_lands_on_the_home_page(client, bank):
    response = sign_in(client, "alice", "correct-horse-battery")
    assert response.status_code == 302 and response.url == "/"


def test_five_failures_lock_the_account_even_with_the_right_password(client, bank):
    for _ in range(5):
        sign_in(client, "alice", "wrong")
    response = sign_in(client, "alice", "correct-horse-battery")
    assert response.status_code == 429
    assert "/" not in (response.get("Location") or "")


def test_an_idle_session_expires(client, bank):
    sign_in(client, "alice", "correct-horse-battery")
    assert client.get("/customers/").status_code == 200
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get("/customers/")
    assert response.status_code == 302 and response.url.startswith("/login/")


def test_activity_renews_the_idle_timer(client, bank, settings):
    sign_in(client, "alice", "correct-horse-battery")
    first = Session.objects.get().expire_date
    Session.objects.update(expire_date=timezone.now() + timedelta(seconds=60))
    client.get("/")
    assert Session.objects.get().expire_date > timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE - 60)
    assert first


def test_forms_refuse_posts_without_a_csrf_token(bank, customers):
    client = Client(enforce_csrf_checks=True)
    client.force_login(bank.alice, backend="django.contrib.auth.backends.ModelBackend")
    response = client.post(f"/customers/{customers.alice_person.pk}/reveal/id_number/")
    assert response.status_code == 403


def test_pages_carry_a_content_security_policy_and_security_headers(client, bank):
    response = client.get("/login/")
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_ui_speaks_chinese_by_default_and_english_on_request(client, bank):
    assert "登录" in client.get("/login/").content.decode()
    english = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Sign in" in english
