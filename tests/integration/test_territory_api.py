"""Territory over HTTP: import (all or nothing), GeoJSON layers, locate — on both databases."""

from __future__ import annotations

import copy
from typing import Any

from fastapi.testclient import TestClient

from chengyun.adapters.geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from chengyun.entrypoints.platform import Platform


def unit_centre(demo_geojson: dict[str, Any], code: str) -> tuple[float, float]:
    from shapely.geometry import shape

    feature = next(f for f in demo_geojson["features"] if f["properties"]["code"] == code)
    point = shape(feature["geometry"]).representative_point()
    return point.x, point.y


def test_demo_layers_are_served_as_geojson(client: TestClient, demo: Platform) -> None:
    grids = client.get("/api/v1/territory/grids")
    assert grids.status_code == 200
    assert grids.headers["content-type"].startswith("application/geo+json")
    assert len(grids.json()["features"]) == 5
    units = client.get("/api/v1/territory/units").json()["features"]
    assert len(units) == 34
    props = units[0]["properties"]
    assert set(props) >= {"code", "name", "kind", "grid_code", "key", "live_from"}
    assert sum(1 for u in units if u["properties"]["key"]) == 19
    assert sorted({u["properties"]["kind"] for u in units}) == ["community", "rural"]
    key_grids = {u["properties"]["grid_code"] for u in units if u["properties"]["key"]}
    assert len(key_grids) == 3
    one_grid = client.get("/api/v1/territory/units", params={"grid": props["grid_code"]})
    assert all(
        f["properties"]["grid_code"] == props["grid_code"] for f in one_grid.json()["features"]
    )
    areas = client.get("/api/v1/territory/areas").json()["features"]
    assert {a["properties"]["kind"] for a in areas} == {"street", "waterway"}


def test_locate_in_every_crs(client: TestClient, demo: Platform, demo_geojson: dict) -> None:
    code = next(
        f["properties"]["code"]
        for f in demo_geojson["features"]
        if f["properties"]["layer"] == "unit"
    )
    lng, lat = unit_centre(demo_geojson, code)
    for crs, (x, y) in {
        "wgs84": (lng, lat),
        "gcj02": wgs84_to_gcj02(lng, lat),
        "bd09": wgs84_to_bd09(lng, lat),
    }.items():
        answer = client.get("/api/v1/territory/locate", params={"lng": x, "lat": y, "crs": crs})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["unit"]["code"] == code, crs
        assert body["grid"]["code"] == body["unit"]["code"][:0] + body["grid"]["code"]
        assert (
            abs(body["position"]["lng"] - lng) < 1e-5 and abs(body["position"]["lat"] - lat) < 1e-5
        )


def test_locate_finds_street_areas(client: TestClient, demo: Platform, demo_geojson: dict) -> None:
    from shapely.geometry import shape

    street = next(
        f
        for f in demo_geojson["features"]
        if f["properties"]["layer"] == "area" and f["properties"]["kind"] == "street"
    )
    point = shape(street["geometry"]).representative_point()
    body = client.get("/api/v1/territory/locate", params={"lng": point.x, "lat": point.y}).json()
    assert street["properties"]["code"] in [a["code"] for a in body["areas"]]
    assert body["street"] is True


def test_locate_refuses_outside_and_impossible_positions(
    client: TestClient, demo: Platform
) -> None:
    outside = client.get(
        "/api/v1/territory/locate", params={"lng": 121.47, "lat": 31.23}
    )  # People's Square
    assert outside.status_code == 422
    assert "outside" in outside.json()["message"]
    zero = client.get("/api/v1/territory/locate", params={"lng": 0, "lat": 0})
    assert zero.status_code == 422
    assert "not in China" in zero.json()["detail"][0]["msg"]
    swapped = client.get("/api/v1/territory/locate", params={"lng": 31.15, "lat": 121.11})
    assert swapped.status_code == 422
    bad_crs = client.get(
        "/api/v1/territory/locate", params={"lng": 121.1, "lat": 31.1, "crs": "utm"}
    )
    assert bad_crs.status_code == 422
    assert bad_crs.json()["detail"][0]["loc"] == ["query", "crs"]
    missing = client.get("/api/v1/territory/locate", params={"lng": 121.1})
    assert missing.status_code == 422


def test_no_territory_yet_is_a_clear_answer(client: TestClient) -> None:
    answer = client.get("/api/v1/territory/units")
    assert answer.status_code == 404
    assert "territory import" in answer.json()["detail"][0]["msg"]
    locate = client.get("/api/v1/territory/locate", params={"lng": 121.11, "lat": 31.15})
    assert locate.status_code == 422


def test_export_import_round_trip(client: TestClient, demo: Platform) -> None:
    exported = client.get("/api/v1/territory").json()
    again = client.put("/api/v1/territory", json=exported)
    assert again.status_code == 200, again.text
    assert again.json()["units"] == 34 and again.json()["key_units"] == 19
    assert client.get("/api/v1/territory").json() == exported


def _unit(data: dict) -> dict:
    return next(f for f in data["features"] if f["properties"]["layer"] == "unit")


def test_bad_territories_are_refused_whole(
    client: TestClient, demo: Platform, demo_geojson: dict
) -> None:
    before = client.get("/api/v1/territory").json()

    bowtie = copy.deepcopy(demo_geojson)
    _unit(bowtie)["geometry"] = {
        "type": "Polygon",
        "coordinates": [
            [[121.10, 31.14], [121.12, 31.16], [121.12, 31.14], [121.10, 31.16], [121.10, 31.14]]
        ],
    }
    answer = client.put("/api/v1/territory", json=bowtie)
    assert answer.status_code == 422
    assert any("Self-intersection" in d["msg"] for d in answer.json()["detail"])
    assert answer.json()["detail"][0]["loc"][:2] == ["features", 5]

    unclosed = copy.deepcopy(demo_geojson)
    ring = _unit(unclosed)["geometry"]["coordinates"][0]
    _unit(unclosed)["geometry"]["coordinates"][0] = ring[:-1]
    assert "not closed" in client.put("/api/v1/territory", json=unclosed).json()["detail"][0]["msg"]

    unknown_grid = copy.deepcopy(demo_geojson)
    _unit(unknown_grid)["properties"]["grid_code"] = "310118002900099"
    detail = client.put("/api/v1/territory", json=unknown_grid).json()["detail"]
    assert any("unknown grid code" in d["msg"] for d in detail)

    overlapping = copy.deepcopy(demo_geojson)
    units = [f for f in overlapping["features"] if f["properties"]["layer"] == "unit"]
    units[1]["geometry"] = copy.deepcopy(units[0]["geometry"])
    units[1]["properties"]["grid_code"] = units[0]["properties"]["grid_code"]
    detail = client.put("/api/v1/territory", json=overlapping).json()["detail"]
    assert any("overlaps" in d["msg"] for d in detail)

    for junk in ({"type": "Feature"}, [], {"type": "FeatureCollection", "features": "x"}):
        answer = client.put("/api/v1/territory", json=junk)
        assert answer.status_code == 422, junk
    malformed = client.put(
        "/api/v1/territory", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 422

    assert client.get("/api/v1/territory").json() == before  # nothing half-imported
    assert client.get("/api/v1/health").json() == {"status": "ok", "database": "ok"}
