"""Accounts, tokens, sessions, lockout, scopes, masking and the audit log — over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from chengyun.adapters.db import tables as t
from chengyun.clock import DrivenClock
from chengyun.demo.loader import DEMO_PASSWORD
from chengyun.entrypoints.platform import Platform
from chengyun.services.accounts import verify_audit
from tests.factories import (
    OPERATOR,
    files,
    login_csrf,
    patrol_member,
    png,
    report,
    statements_sent,
    submit,
)


def sign_in(client: TestClient, username: str, password: str = DEMO_PASSWORD):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


def bearer(answer) -> dict[str, str]:
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_sign_in_me_and_tokens(anonymous: TestClient, demo: Platform) -> None:
    answer = sign_in(anonymous, "admin")
    assert answer.status_code == 200, answer.text
    assert answer.json()["access_token"].startswith("cy_")
    me = anonymous.get("/api/v1/auth/me", headers=bearer(answer)).json()
    assert me["role"] == "administrator" and "accounts.manage" in me["permissions"]

    operator = bearer(sign_in(anonymous, OPERATOR))
    narrow = anonymous.post(
        "/api/v1/auth/tokens",
        headers=operator,
        json={"name": "read-only", "permissions": ["cases.read"]},
    )
    assert narrow.status_code == 201, narrow.text
    read_only = {"Authorization": f"Bearer {narrow.json()['access_token']}"}
    assert anonymous.get("/api/v1/cases", headers=read_only).status_code == 200
    assert anonymous.get("/api/v1/duty", headers=read_only).status_code == 403
    too_much = anonymous.post(
        "/api/v1/auth/tokens",
        headers=operator,
        json={"name": "x", "permissions": ["accounts.manage"]},
    )
    assert too_much.status_code == 422
    revoked = anonymous.delete(f"/api/v1/auth/tokens/{narrow.json()['id']}", headers=operator)
    assert revoked.status_code == 204
    assert anonymous.get("/api/v1/cases", headers=read_only).status_code == 401
    listed = anonymous.get("/api/v1/auth/tokens", headers=operator).json()
    assert [x["revoked_at"] is not None for x in listed if x["name"] == "read-only"] == [True]
    assert "token_hash" not in str(listed) and "access_token" not in str(listed)


def test_wrong_passwords_lock_the_account_for_a_while(
    anonymous: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    assert sign_in(anonymous, "admin", "wrong").status_code == 401
    assert sign_in(anonymous, "nobody", "wrong").status_code == 401
    for _ in range(4):
        sign_in(anonymous, "admin", "wrong")
    locked = sign_in(anonymous, "admin")  # right password, but locked
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    clock.tick(timedelta(minutes=1, seconds=1))
    assert sign_in(anonymous, "admin").status_code == 200
    assert anonymous.post("/api/v1/auth/token", json={"username": "admin"}).status_code == 422


def test_pages_sign_in_with_a_session_cookie_and_csrf(
    anonymous: TestClient, demo: Platform
) -> None:
    page = anonymous.get("/login")
    assert page.status_code == 200 and "csrf_token" in page.text
    forged = anonymous.post(
        "/login",
        data={"username": OPERATOR, "password": DEMO_PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    csrf = login_csrf(anonymous)
    wrong = anonymous.post(
        "/login",
        data={"username": OPERATOR, "password": "nope", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert wrong.status_code == 401 and "wrong username or password" in wrong.text
    csrf = login_csrf(anonymous)
    signed = anonymous.post(
        "/login",
        data={
            "username": OPERATOR,
            "password": DEMO_PASSWORD,
            "csrf_token": csrf,
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/docs"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    me = anonymous.get("/api/v1/auth/me").json()
    assert me["via"] == "session" and me["csrf_token"]
    body = report(channel="citizen_qr")
    refused = anonymous.post("/api/v1/cases", json=body)
    assert refused.status_code == 403 and refused.json()["detail"][0]["type"] == "csrf"
    accepted = anonymous.post(
        "/api/v1/cases", json=body, headers={"X-CSRF-Token": me["csrf_token"]}
    )
    assert accepted.status_code == 201, accepted.text
    out = anonymous.post(
        "/logout", headers={"X-CSRF-Token": me["csrf_token"]}, follow_redirects=False
    )
    assert out.status_code == 303
    anonymous.cookies.clear()
    assert anonymous.get("/api/v1/auth/me").status_code == 401


def _reported_in_grid5(client: TestClient, demo_geojson: dict) -> dict:
    """A citizen's report in the demo's grid 5, outside a grid-1 patrol member's scope."""
    from shapely.geometry import shape

    grid5 = next(
        f
        for f in demo_geojson["features"]
        if f["properties"]["layer"] == "unit" and f["properties"]["grid_code"].endswith("900005")
    )
    point = shape(grid5["geometry"]).representative_point()
    position = {"lng": point.x, "lat": point.y}
    return submit(client, report(channel="citizen_qr", position=position)).json()


def test_a_patrol_member_sees_their_grid_and_masked_contacts(
    client: TestClient, demo: Platform, demo_geojson: dict
) -> None:
    mine = submit(client, report(channel="citizen_qr")).json()  # grid 1
    other = _reported_in_grid5(client, demo_geojson)
    patrol = client.headers_for(patrol_member(client))
    listing = client.get("/api/v1/cases", headers=patrol).json()
    assert [c["id"] for c in listing["items"]] == [mine["id"]]
    assert client.get(f"/api/v1/cases/{other['id']}", headers=patrol).status_code == 403
    assert client.get(f"/api/v1/cases/{mine['id']}", headers=patrol).status_code == 200

    people = client.get("/api/v1/people", headers=patrol, params={"limit": 5}).json()["items"]
    assert all("****" in p["phone"] and "*" in p["name"] for p in people)
    full = client.get(
        "/api/v1/people", headers=client.headers_for(OPERATOR), params={"limit": 5}
    ).json()["items"]
    assert all("*" not in p["phone"] for p in full)
    number = full[0]["number"]
    client.get(f"/api/v1/people/{number}", headers=client.headers_for(OPERATOR))
    with demo.engine.connect() as c:
        viewed = (
            c.execute(
                sa.select(t.audit_log.c.actor).where(
                    t.audit_log.c.action == "contact.view",
                    t.audit_log.c.target == f"person:{number}",
                )
            )
            .scalars()
            .all()
        )
    assert viewed == [OPERATOR]
    duty = client.get("/api/v1/duty", headers=patrol).json()
    assert "****" in duty["commander"]["phone"]


def test_an_action_outside_ones_scope_is_refused_unwritten_and_loads_its_case_once(
    client: TestClient, demo: Platform, demo_geojson: dict
) -> None:
    """An action checks the actor's scope on the case it loads to act on (no read of its
    own before): outside it, 403 and nothing written; inside, one load and the answer's."""
    other = _reported_in_grid5(client, demo_geojson)
    member = patrol_member(client)
    patrol = client.headers_for(member)
    before = client.get(f"/api/v1/cases/{other['id']}", headers=client.headers_for(OPERATOR))
    with statements_sent(demo.engine) as sent:
        refused = client.post(
            f"/api/v1/cases/{other['id']}/actions/hold", json={"reason": "x"}, headers=patrol
        )
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"][0]["type"] == "scope"
    written = [s for s in sent if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert not [s for s in written if "case" in s or "outbox" in s], written
    after = client.get(f"/api/v1/cases/{other['id']}", headers=client.headers_for(OPERATOR))
    assert after.json()["version"] == before.json()["version"]
    missing = client.post("/api/v1/cases/999999/actions/hold", json={"reason": "x"}, headers=patrol)
    assert missing.status_code == 404

    with statements_sent(demo.engine) as sent:
        registered = client.post(
            f"/api/v1/cases/{other['id']}/actions/register",
            json={},
            headers=client.headers_for(OPERATOR),
        )
    assert registered.status_code == 200, registered.text
    assert registered.json()["version"] > before.json()["version"]
    # the case's events are read twice: loaded to act on, and for the answer
    assert sum("FROM case_events" in s for s in sent) == 2, sent


def test_a_photo_outside_ones_scope_is_refused_unstored_and_the_check_reads_no_events(
    client: TestClient, demo: Platform, demo_geojson: dict
) -> None:
    """Uploading and fetching a case's photo check the reader's scope on the few columns
    that decide it, not on the case loaded with its events: outside it, 403 and nothing
    stored; inside, the photo is stored and served."""
    mine = submit(client, report(channel="citizen_qr")).json()  # grid 1
    other = _reported_in_grid5(client, demo_geojson)
    patrol = client.headers_for(patrol_member(client))
    operator = client.headers_for(OPERATOR)
    theirs = client.post(
        f"/api/v1/cases/{other['id']}/photos", files=files(png()), headers=operator
    )
    assert theirs.status_code == 201, theirs.text

    def photos() -> int:
        with demo.engine.connect() as c:
            return int(
                c.execute(sa.select(sa.func.count()).select_from(t.case_photos)).scalar_one()
            )

    before = photos()
    refused = client.post(f"/api/v1/cases/{other['id']}/photos", files=files(png()), headers=patrol)
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"][0]["type"] == "scope"
    assert photos() == before
    assert client.get(theirs.json()["photos"][0]["url"], headers=patrol).status_code == 403
    with statements_sent(demo.engine) as sent:
        added = client.post(
            f"/api/v1/cases/{mine['id']}/photos", files=files(png()), headers=patrol
        )
        assert added.status_code == 201, added.text
        served = client.get(added.json()["photos"][0]["url"], headers=patrol)
        assert served.status_code == 200
    assert photos() == before + 1
    assert not [s for s in sent if "case_events" in s], sent
    assert (
        client.post("/api/v1/cases/999999/photos", files=files(png()), headers=patrol).status_code
        == 404
    )


def test_the_audit_chain_detects_alteration_and_removal(
    client: TestClient, demo: Platform, monkeypatch
) -> None:
    submit(client, report(channel="citizen_qr"))
    client.put("/api/v1/taxonomy/E0102", json=client.get("/api/v1/taxonomy/E0102").json())
    check = client.get("/api/v1/audit/verify").json()
    assert check["intact"] and check["records"] >= 3
    with demo.engine.begin() as c:
        actions = c.execute(sa.select(t.audit_log.c.action)).scalars().all()
        assert "POST /api/v1/cases" in actions and "PUT /api/v1/taxonomy/{code}" in actions
        second = (
            c.execute(sa.select(t.audit_log.c.id).order_by(t.audit_log.c.id)).scalars().all()[1]
        )
        c.execute(t.audit_log.update().where(t.audit_log.c.id == second).values(actor="someone"))
    broken = client.get("/api/v1/audit/verify").json()
    assert not broken["intact"] and broken["breaks"][0]["record"] == second

    from chengyun.entrypoints.cli import app

    monkeypatch.setenv("CHENGYUN_DATABASE_URL", demo.engine.url.render_as_string(False))
    result = CliRunner().invoke(app, ["audit", "verify"])
    assert result.exit_code == 1 and "broken" in result.output
    with demo.engine.begin() as c:
        c.execute(t.audit_log.delete().where(t.audit_log.c.id == second))
    removed = client.get("/api/v1/audit/verify").json()
    assert not removed["intact"] and "removed" in removed["breaks"][0]["reason"]


def test_a_log_whose_oldest_records_were_archived_verifies_from_the_last_archived_hash(
    client: TestClient, demo: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        submit(client, report(channel="citizen_qr"))
    with demo.engine.begin() as c:
        chain = c.execute(sa.select(t.audit_log.c.id, t.audit_log.c.hash).order_by("id")).all()
        kept_from = chain[len(chain) // 2]
        last_archived = chain[len(chain) // 2 - 1]
        c.execute(t.audit_log.delete().where(t.audit_log.c.id < kept_from.id))  # archived
    left = len(chain) - len(chain) // 2

    unanchored = client.get("/api/v1/audit/verify").json()
    assert not unanchored["intact"] and [b["record"] for b in unanchored["breaks"]] == [
        kept_from.id
    ]
    assert "archived" in unanchored["breaks"][0]["reason"]
    anchored = client.get("/api/v1/audit/verify", params={"after": last_archived.hash}).json()
    assert anchored["intact"] and anchored["records"] == left
    assert anchored["head"] == chain[-1].hash
    wrong = client.get("/api/v1/audit/verify", params={"after": kept_from.hash}).json()
    assert not wrong["intact"] and wrong["breaks"][0]["record"] == kept_from.id
    malformed = client.get("/api/v1/audit/verify", params={"after": "abc"})
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["loc"] == ["query", "after"]

    from chengyun.entrypoints.cli import app

    monkeypatch.setenv("CHENGYUN_DATABASE_URL", demo.engine.url.render_as_string(False))
    cli = CliRunner()
    upper = cli.invoke(app, ["audit", "verify", "--after", last_archived.hash.upper()])
    assert upper.exit_code == 0 and f"{left} records, from {last_archived.hash}" in upper.output
    assert cli.invoke(app, ["audit", "verify"]).exit_code == 1
    bad = cli.invoke(app, ["audit", "verify", "--after", "not-a-hash"])
    assert bad.exit_code == 1 and "--after" in bad.output and "64 hexadecimal" in bad.output


def test_the_chain_is_checked_a_batch_at_a_time(
    demo: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chengyun.adapters.db import account_repository

    monkeypatch.setattr(account_repository, "_BATCH", 4)  # many batches of a short log
    with demo.uow() as uow:
        for i in range(30):
            uow.audit.append(demo.clock.now(), "tester", f"test.{i}", "", {"i": i})
        uow.commit()
    count, breaks, head = verify_audit(demo.uow())
    with demo.engine.begin() as c:
        ids = c.execute(sa.select(t.audit_log.c.id).order_by("id")).scalars().all()
        assert count == len(ids) and not breaks
        assert (
            head
            == c.execute(sa.select(t.audit_log.c.hash).where(t.audit_log.c.id == ids[-1])).scalar()
        )
        c.execute(t.audit_log.update().where(t.audit_log.c.id == ids[-7]).values(target="x"))
    assert [b.record_id for b in verify_audit(demo.uow())[1]] == [ids[-7]]


def test_security_headers_and_no_inline_scripts(anonymous: TestClient) -> None:
    page = anonymous.get("/docs")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script>" not in page.text
    assert anonymous.get("/api/v1/health").headers["x-content-type-options"] == "nosniff"


def test_sign_in_is_rate_limited_per_client(anonymous: TestClient, demo: Platform) -> None:
    answers = [
        anonymous.post("/api/v1/auth/token", json={"username": "x", "password": "y"})
        for _ in range(12)
    ]
    assert answers[0].status_code == 401
    assert answers[-1].status_code == 429


def test_nul_characters_are_refused_up_front(client: TestClient, demo: Platform) -> None:
    answer = client.post("/api/v1/auth/tokens", json={"name": "bad\u0000name"})
    assert answer.status_code == 422 and answer.json()["detail"][0]["type"] == "nul_character"
    assert client.get("/api/v1/cases", params={"q": "a\x00b"}).status_code == 422
