"""Sign-in, access tokens and user administration, over real HTTP against the running BFF."""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from tests.integration.helpers import (
    assert_problem,
    assert_unauthorized,
    assert_validation_problem,
    without_request_id,
)
from tests.support import TEST_PASSWORD, Org, Stack, create_deal, login

TTL = 86_400
ISSUER = "cornerstone"
AUDIENCE = "cornerstone-api"


def _signing_key(stack: Stack) -> str:
    return stack.env["CORNERSTONE_JWT_SIGNING_KEY"]


def _me(client: Any) -> dict[str, Any]:
    response = client.get("/api/me")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _new_user(org: Org, role: str, password: str | None = TEST_PASSWORD) -> tuple[dict[str, Any], str]:
    """A user created by the org's admin (the API's answer) and their email."""
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.test"
    body: dict[str, Any] = {"email": email, "role": role}
    if password is not None:
        body["password"] = password
    with org.client("admin") as admin:
        response = admin.post("/api/users", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json()), email


# --- sign-in -------------------------------------------------------------------------------------


def test_login_returns_a_24_hour_bearer_jwt_with_kid_iss_and_aud(stack: Stack, org: Org) -> None:
    user, email = _new_user(org, "gp")
    with stack.client() as anonymous:
        response = anonymous.post("/api/auth/token", json={"email": email, "password": TEST_PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == TTL
    token = body["access_token"]

    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    assert header["kid"]
    claims = jwt.decode(
        token, _signing_key(stack), algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER
    )  # verifies the signature with the server's key
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["exp"] - claims["iat"] == TTL
    assert abs(claims["iat"] - time.time()) < 60
    assert claims["sub"] == user["id"]
    assert "password" not in json.dumps(claims)

    with stack.client(token) as signed_in:
        assert _me(signed_in)["id"] == user["id"]


def test_login_email_is_case_insensitive(stack: Stack, org: Org) -> None:
    user, email = _new_user(org, "analyst")
    token = login(stack, email.upper(), TEST_PASSWORD)
    with stack.client(token) as client:
        assert _me(client)["id"] == user["id"]


def test_wrong_password_and_unknown_email_answer_the_same_401(stack: Stack, org: Org) -> None:
    _, email = _new_user(org, "gp")
    with stack.client() as anonymous:
        wrong_password = anonymous.post("/api/auth/token", json={"email": email, "password": "wrong-password-123"})
        unknown_email = anonymous.post(
            "/api/auth/token", json={"email": f"nobody-{uuid.uuid4().hex[:8]}@example.test", "password": TEST_PASSWORD}
        )
    wrong_body = assert_unauthorized(wrong_password)
    unknown_body = assert_unauthorized(unknown_email)
    assert without_request_id(wrong_body) == without_request_id(unknown_body)
    assert email not in wrong_password.text


def test_a_user_without_a_password_cannot_sign_in(stack: Stack, org: Org) -> None:
    _, email = _new_user(org, "gp", password=None)
    with stack.client() as anonymous:
        assert_validation_problem(
            anonymous.post("/api/auth/token", json={"email": email, "password": ""}), "body.password"
        )
        assert_unauthorized(anonymous.post("/api/auth/token", json={"email": email, "password": TEST_PASSWORD}))


def test_me_describes_the_caller(org: Org) -> None:
    user, email = _new_user(org, "auditor")
    with org.stack.client(login(org.stack, email, TEST_PASSWORD)) as auditor:
        me = _me(auditor)
    assert me == {"id": user["id"], "email": email, "org_id": org.org_id, "role": "auditor", "investor_id": None}


# --- forged and broken tokens ---------------------------------------------------------------------


def _claims(user_id: str, org_id: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user_id,
        "org": org_id,
        "role": "admin",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "tv": 0,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _tampered(token: str) -> str:
    """The real token with its payload rewritten (role escalated) and the original signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    claims["exp"] = claims["exp"] + 3600
    return f"{header}.{_b64(claims)}.{signature}"


@dataclass(frozen=True)
class Genuine:
    """What a forger starts from: the server's key and key id, a real user and a real token of theirs."""

    key: str
    kid: str
    user_id: str
    org_id: str
    token: str

    def sign(self, claims: dict[str, Any], *, key: str | None = None, kid: str | None = "", alg: str = "HS256") -> str:
        headers = {} if kid is None else {"kid": kid or self.kid}
        return jwt.encode(claims, key or self.key, algorithm=alg, headers=headers)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        return _claims(self.user_id, self.org_id, **overrides)


def _from_now(**offsets: int) -> dict[str, int]:
    now = int(time.time())
    return {name: now + offset for name, offset in offsets.items()}


FORGERIES: dict[str, Callable[[Genuine], str]] = {
    "tampered payload": lambda g: _tampered(g.token),
    "signature stripped": lambda g: g.token.rsplit(".", 1)[0] + ".",
    "other key, same kid": lambda g: g.sign(g.claims(), key=secrets.token_urlsafe(32)),
    "other key, its own kid": lambda g: g.sign(g.claims(), key=secrets.token_urlsafe(32), kid=uuid.uuid4().hex[:16]),
    "alg none": lambda g: f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': g.kid})}.{_b64(g.claims())}.",
    "alg HS512": lambda g: g.sign(g.claims(), key=g.key * 2, alg="HS512"),
    "no kid": lambda g: g.sign(g.claims(), kid=None),
    "wrong audience": lambda g: g.sign(g.claims(aud="cornerstone-kernel")),
    "wrong issuer": lambda g: g.sign(g.claims(iss="someone-else")),
    "expired": lambda g: g.sign(g.claims(**_from_now(iat=-2 * TTL, nbf=-2 * TTL, exp=-TTL))),
    "not yet valid": lambda g: g.sign(g.claims(**_from_now(nbf=3600))),
    "no exp": lambda g: g.sign(g.claims(exp=None)),
    "no jti": lambda g: g.sign(g.claims(jti=None)),
    "empty jti": lambda g: g.sign(g.claims(jti="")),
    "jti not a string": lambda g: g.sign(g.claims(jti=12345)),
    "jti of 4 KiB": lambda g: g.sign(g.claims(jti="j" * 4096)),
    "audience as a list": lambda g: g.sign(g.claims(aud=[AUDIENCE])),
    "audience list with ours and another": lambda g: g.sign(g.claims(aud=[AUDIENCE, "cornerstone-kernel"])),
    "lifetime of 30 years": lambda g: g.sign(g.claims(**_from_now(exp=30 * 365 * 86_400))),
    "lifetime past the configured one": lambda g: g.sign(g.claims(**_from_now(exp=TTL + 60))),
    "issued in the future": lambda g: g.sign(g.claims(**_from_now(iat=3600, exp=3600 + 600))),
    "unknown user": lambda g: g.sign(_claims(uuid.uuid4().hex, g.org_id)),
    "user of another org": lambda g: g.sign(_claims(g.user_id, uuid.uuid4().hex)),
    "garbage": lambda g: "not.a.jwt",
}


def _genuine(stack: Stack, org: Org) -> Genuine:
    user, email = _new_user(org, "gp")
    token = login(stack, email, TEST_PASSWORD)
    kid = jwt.get_unverified_header(token)["kid"]
    return Genuine(key=_signing_key(stack), kid=kid, user_id=user["id"], org_id=org.org_id, token=token)


def test_a_token_forged_the_right_way_is_accepted(stack: Stack, org: Org) -> None:
    """The control for the forgeries below: the crafting itself is sound, so each 401 is the one fault."""
    genuine = _genuine(stack, org)
    with stack.client(genuine.sign(genuine.claims())) as client:
        me = _me(client)
    assert me["id"] == genuine.user_id
    # The forged claims say "admin"; the role comes from the user record, never from the token.
    assert me["role"] == "gp"


def test_a_forged_or_broken_token_is_401_with_www_authenticate(
    stack: Stack, org: Org, subtests: pytest.Subtests
) -> None:
    genuine = _genuine(stack, org)
    for forgery, forge in FORGERIES.items():
        with subtests.test(forgery), stack.client(forge(genuine)) as client:
            assert_unauthorized(client.get("/api/me"))
            assert_unauthorized(client.get("/api/deals"))
            assert_unauthorized(client.get("/api/users"))
    with stack.client(genuine.token) as client:
        assert _me(client)["role"] == "gp"


# --- user administration --------------------------------------------------------------------------


def test_an_admin_creates_a_user_with_a_lowercased_email_and_no_password_in_the_answer(stack: Stack, org: Org) -> None:
    local = f"New.Person.{uuid.uuid4().hex[:8]}"
    with org.client("admin") as admin:
        response = admin.post(
            "/api/users", json={"email": f"{local}@Example.TEST", "role": "analyst", "password": TEST_PASSWORD}
        )
        listed = admin.get("/api/users")
    assert response.status_code == 201, response.text
    user = response.json()
    assert user["email"] == f"{local.lower()}@example.test"
    assert (user["role"], user["active"], user["org_id"]) == ("analyst", True, org.org_id)
    assert not {key for key in user if "password" in key or "hash" in key}
    assert TEST_PASSWORD not in response.text
    assert "$argon2" not in response.text
    assert listed.status_code == 200
    assert user["id"] in {u["id"] for u in listed.json()["items"]}
    assert "$argon2" not in listed.text
    login(stack, user["email"], TEST_PASSWORD)


def test_a_duplicate_email_is_409_email_taken_whatever_its_case(org: Org, other_org: Org) -> None:
    _, email = _new_user(org, "gp")
    with org.client("admin") as admin:
        same = admin.post("/api/users", json={"email": email, "role": "analyst", "password": TEST_PASSWORD})
        shouted = admin.post("/api/users", json={"email": email.upper(), "role": "analyst"})
        users = admin.get("/api/users").json()["items"]
    assert_problem(same, 409, "EMAIL_TAKEN")
    assert_problem(shouted, 409, "EMAIL_TAKEN")
    assert [u["email"] for u in users].count(email) == 1
    # Email is the login name, so it is unique across orgs too.
    with other_org.client("admin") as other_admin:
        assert_problem(other_admin.post("/api/users", json={"email": email, "role": "gp"}), 409, "EMAIL_TAKEN")


BAD_USER_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("11-character password", {"role": "gp", "password": "short-pass1"}, "body.password"),
    ("empty password", {"role": "gp", "password": ""}, "body.password"),
    ("unknown role", {"role": "superuser"}, "body.role"),
    ("unknown field", {"role": "gp", "colour": "red"}, "body.colour"),
    ("not an email", {"role": "gp", "email": "not-an-email"}, "body.email"),
    ("two at signs", {"role": "gp", "email": "two@@example.test"}, "body.email"),
    ("space in the email", {"role": "gp", "email": "spaces in@example.test"}, "body.email"),
    ("empty email", {"role": "gp", "email": ""}, "body.email"),
]


def test_bad_user_input_is_422_naming_the_field_and_creates_nobody(org: Org, subtests: pytest.Subtests) -> None:
    with org.client() as admin:
        before = admin.get("/api/users").json()["items"]
        for case, body, field in BAD_USER_BODIES:
            with subtests.test(case, field=field):
                payload = {"email": f"bad-{uuid.uuid4().hex[:8]}@example.test", **body}
                assert_validation_problem(admin.post("/api/users", json=payload), field)
                assert admin.get("/api/users").json()["items"] == before


def test_only_an_admin_may_list_create_or_change_users(org: Org, subtests: pytest.Subtests) -> None:
    target, _ = _new_user(org, "analyst")
    for role in ("gp", "analyst", "auditor", "lp", "external"):
        with subtests.test(role), org.client(role) as client:
            me = _me(client)
            with org.client() as admin:
                before = admin.get("/api/users").json()["items"]
            assert_problem(client.get("/api/users"), 403, "FORBIDDEN")
            email = f"x-{uuid.uuid4().hex[:8]}@example.test"
            assert_problem(client.post("/api/users", json={"email": email, "role": "admin"}), 403, "FORBIDDEN")
            assert_problem(client.patch(f"/api/users/{target['id']}", json={"role": "admin"}), 403, "FORBIDDEN")
            assert_problem(client.patch(f"/api/users/{me['id']}", json={"role": "admin"}), 403, "FORBIDDEN")
            assert _me(client)["role"] == role
            with org.client() as admin:
                assert admin.get("/api/users").json()["items"] == before


def test_a_role_change_takes_effect_on_the_users_next_request(org: Org) -> None:
    with org.client("gp") as gp:
        gp_id = _me(gp)["id"]
        create_deal(gp, name="Before Demotion")
        with org.client("admin") as admin:
            demoted = admin.patch(f"/api/users/{gp_id}", json={"role": "auditor"})
        assert demoted.status_code == 200, demoted.text
        assert demoted.json()["role"] == "auditor"

        # The token issued while a gp ends with the role change; a new sign-in carries the new role.
        assert_unauthorized(gp.get("/api/me"))
    with org.client("admin") as admin:
        email = admin.get("/api/users").json()["items"]
    email = next(user["email"] for user in email if user["id"] == gp_id)
    with org.stack.client(login(org.stack, email, TEST_PASSWORD)) as auditor:
        assert_problem(auditor.post("/api/deals", json={"name": "After", "asset_class": "office"}), 403, "FORBIDDEN")
        assert _me(auditor)["role"] == "auditor"
        assert [d["name"] for d in auditor.get("/api/deals").json()["items"]] == ["Before Demotion"]


def test_a_deactivated_users_token_is_refused_at_once_and_they_cannot_sign_in(stack: Stack, org: Org) -> None:
    user, email = _new_user(org, "analyst")
    token = login(stack, email, TEST_PASSWORD)
    with stack.client(token) as analyst:
        assert _me(analyst)["id"] == user["id"]
        with org.client("admin") as admin:
            deactivated = admin.patch(f"/api/users/{user['id']}", json={"active": False})
        assert deactivated.status_code == 200, deactivated.text
        assert deactivated.json()["active"] is False
        assert_unauthorized(analyst.get("/api/me"))
        assert_unauthorized(analyst.get("/api/deals"))
    with stack.client() as anonymous:
        refused = anonymous.post("/api/auth/token", json={"email": email, "password": TEST_PASSWORD})
        wrong = anonymous.post("/api/auth/token", json={"email": email, "password": "wrong-password-123"})
    # A deactivated account is indistinguishable from a wrong password.
    assert without_request_id(assert_unauthorized(refused)) == without_request_id(assert_unauthorized(wrong))


def test_an_admin_cannot_deactivate_or_demote_themselves(org: Org, subtests: pytest.Subtests) -> None:
    changes = {
        "deactivate": {"active": False},
        "demote": {"role": "gp"},
        "both": {"role": "auditor", "active": False},
    }
    with org.client() as admin:
        me = _me(admin)
        for case, change in changes.items():
            with subtests.test(case):
                assert_problem(admin.patch(f"/api/users/{me['id']}", json=change), 409, "CANNOT_CHANGE_SELF")
                assert _me(admin) == me
                assert admin.get("/api/users").status_code == 200


def test_an_admin_may_deactivate_another_admin(stack: Stack, org: Org) -> None:
    second, email = _new_user(org, "admin")
    with org.client("admin") as admin:
        response = admin.patch(f"/api/users/{second['id']}", json={"active": False})
    assert response.status_code == 200, response.text
    with stack.client() as anonymous:
        assert_unauthorized(anonymous.post("/api/auth/token", json={"email": email, "password": TEST_PASSWORD}))


def test_another_orgs_user_is_404_for_patch_like_a_missing_one_and_is_unchanged(org: Org, other_org: Org) -> None:
    with org.client("gp") as gp:
        victim_id = _me(gp)["id"]
    with other_org.client("admin") as intruder:
        foreign = intruder.patch(f"/api/users/{victim_id}", json={"role": "lp", "active": False})
        missing = intruder.patch(f"/api/users/{uuid.uuid4().hex}", json={"role": "lp", "active": False})
        assert victim_id not in {u["id"] for u in intruder.get("/api/users").json()["items"]}
    foreign_body = assert_problem(foreign, 404, "USER_NOT_FOUND")
    assert without_request_id(foreign_body) == without_request_id(assert_problem(missing, 404))
    with org.client("gp") as gp:
        assert _me(gp)["role"] == "gp"


def test_the_user_list_holds_only_the_callers_org(org: Org, other_org: Org) -> None:
    ours, _ = _new_user(org, "gp")
    theirs, _ = _new_user(other_org, "gp")
    with org.client("admin") as admin:
        users = admin.get("/api/users").json()
    assert users["next_cursor"] is None
    assert ours["id"] in {u["id"] for u in users["items"]}
    assert theirs["id"] not in {u["id"] for u in users["items"]}
    assert {u["org_id"] for u in users["items"]} == {org.org_id}
