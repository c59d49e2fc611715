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


def test_the_ui_speaks_chinese_by_default_even_to_an_english_browser(client, bank):
    assert "登录" in client.get("/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()


def test_the_language_switch_turns_the_pages_english(client, bank):
    client.post("/i18n/setlang/", {"language": "en", "next": "/login/"})
    assert "Sign in" in client.get("/login/").content.decode()
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/login/"})
    assert "登录" in client.get("/login/").content.decode()


def test_api_messages_follow_accept_language(client, bank):
    from guanxi.core.services import token_create

    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_create(acting_user=None, user=bank.alice)}"}
    payload = {"customer_type": "person", "name": "x", "id_number": "2.31102E+17", "org_code": "B1"}
    chinese = client.post("/api/v1/customers", payload, content_type="application/json", **headers).json()
    english = client.post("/api/v1/customers", payload, content_type="application/json", HTTP_ACCEPT_LANGUAGE="en",
                          **headers).json()
    assert "Excel" in english["detail"][0]["msg"] and "科学计数法" in chinese["detail"][0]["msg"]
