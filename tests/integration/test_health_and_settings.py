"""Health answers, a server process's app readied before its first request, and settings
that refuse to start unsafely."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from typing import Any

import fastapi.routing
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from chengyun.adapters.db.engine import make_engine
from chengyun.config import Settings
from chengyun.entrypoints.api.app import (
    YOUNG_GC_THRESHOLD,
    create_app,
    ready_to_serve,
    telemetry_wanted,
)
from chengyun.entrypoints.api.audit_trail import route_templates
from chengyun.entrypoints.platform import Platform


def test_health_ok(client: TestClient) -> None:
    answer = client.get("/api/v1/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "database": "ok"}


def test_health_names_the_database_when_it_is_down(tmp_path) -> None:
    settings = Settings(
        mode="test",
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1",
    )
    engine = make_engine(settings.resolved_database_url)
    with TestClient(create_app(platform=Platform(settings, engine_override=engine))) as client:
        answer = client.get("/api/v1/health")
    assert answer.status_code == 503
    assert answer.json()["status"] == "unavailable"
    assert answer.json()["database"].startswith("unreachable")


def _routes_analysed_by(
    platform: Platform, ready: bool, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """The routes whose endpoints FastAPI analysed while a new app (readied for serving,
    or not) answered its first requests to the API and to the pages."""
    app = create_app(platform=platform)
    if ready:
        assert ready_to_serve(app) is app
    analysed: list[str] = []
    build: Callable[..., Any] = fastapi.routing.get_dependant

    def counted(**kwargs: Any) -> Any:
        analysed.append(str(kwargs.get("path")))
        return build(**kwargs)

    monkeypatch.setattr(fastapi.routing, "get_dependant", counted)
    with TestClient(app) as client:
        assert client.get("/api/v1/health").status_code == 200
        assert client.get("/m/", follow_redirects=False).status_code in (200, 303, 401)
    return analysed


def test_a_server_process_app_is_ready_before_its_first_request(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen, thresholds = gc.get_freeze_count(), gc.get_threshold()
    try:
        # unreadied, the first requests pay for analysing their routers' endpoints
        assert _routes_analysed_by(platform, False, monkeypatch)
        assert gc.get_freeze_count() == frozen
        assert gc.get_threshold() == thresholds
        assert _routes_analysed_by(platform, True, monkeypatch) == []
        # what the process made until then is out of the garbage collector's reach, and
        # the youngest generation is collected less often (the older ones as before)
        assert gc.get_freeze_count() > frozen
        assert gc.get_threshold() == (YOUNG_GC_THRESHOLD, *thresholds[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_the_audit_trail_knows_every_route_template(client: TestClient) -> None:
    routes, chosen = route_templates(client.app)
    assert route_templates(client.app)[0] is routes  # built once
    assert {"/api/v1/cases/{case_id}", "/open311/v2/requests.{format}"} <= set(chosen.values())


def test_docs_are_served_without_a_cdn(client: TestClient) -> None:
    page = client.get("/docs").text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "chengyun 城运"


def test_production_refuses_default_or_short_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="CHENGYUN_SECRET_KEY"):
        Settings(mode="production")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(mode="production", secret_key="short")
    assert Settings(mode="production", secret_key="x" * 40).mode == "production"
    monkeypatch.setenv("CHENGYUN_MODE", "production")
    with pytest.raises(ValidationError):
        Settings()


def test_working_day_must_start_before_it_ends() -> None:
    with pytest.raises(ValidationError, match="CHENGYUN_DAY_START"):
        Settings(day_start="17:00", day_end="09:00")


def test_default_database_is_sqlite_under_the_data_dir(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve()}/chengyun.sqlite3"


def test_intake_policy_comes_from_settings(tmp_path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        manual_register_channels=["citizen_qr", "hotline"],
        duplicate_radius_m=80,
        self_handled_sample_percent=0,
    )
    policy = Platform(settings).cases.policy
    assert {c.value for c in policy.auto_register} == {
        "patrol",
        "video_ai",
        "police_diversion",
        "district",
        "inspection",
    }
    assert policy.duplicate_radius_m == 80 and policy.self_handled_sample_percent == 0
    with pytest.raises(ValidationError, match="unknown channel"):
        Settings(manual_register_channels=["fax"])


def test_the_group_commits_linger_comes_from_settings(tmp_path) -> None:
    assert Platform(Settings(data_dir=tmp_path)).group_commit.linger_s == 0.01
    quiet = Settings(data_dir=tmp_path, group_commit_linger_ms=0)
    assert Platform(quiet).group_commit.linger_s == 0
    with pytest.raises(ValidationError, match="group_commit_linger_ms"):
        Settings(group_commit_linger_ms=-1)


def test_fastapi_instruments_requests_only_where_opentelemetry_is_set_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    assert not telemetry_wanted({}) and not telemetry_wanted({"PATH": "/usr/bin"})
    assert telemetry_wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert telemetry_wanted({"FASTAPI_OTEL_AUTO_CONFIGURE": "TRUE"})
    assert not telemetry_wanted({"FASTAPI_OTEL_AUTO_CONFIGURE": "false"})
    settings = Settings(mode="test", data_dir=tmp_path)
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("FASTAPI_OTEL_AUTO_CONFIGURE", raising=False)
    with TestClient(create_app(settings)) as client:  # answers as ever without it
        assert client.get("/api/v1/health").status_code == 200
