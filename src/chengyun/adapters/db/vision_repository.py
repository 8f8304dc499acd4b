"""The camera registry, the scene mapping, received alerts and verdicts (视频智能发现)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from chengyun.adapters.db import tables as t
from chengyun.adapters.db.tables_vision import (
    vision_alerts,
    vision_cameras,
    vision_scenes,
    vision_verdicts,
)
from chengyun.domain.cases import CaseStatus
from chengyun.domain.vision import (
    Alert,
    AlertEvent,
    AlertFact,
    AlertOutcome,
    Camera,
    CaseVerdict,
    SceneMapping,
    Verdict,
)
from chengyun.services.vision_store import AlertFilter, AlreadyRecorded


def _camera(row: Any) -> Camera:
    return Camera(
        camera_id=row.camera_id,
        name=row.name,
        lng=row.lng,
        lat=row.lat,
        grid_code=row.grid_code,
        unit_code=row.unit_code,
        address=row.address,
        owner=row.owner,
        active=bool(row.active),
    )


def _scene(row: Any) -> SceneMapping:
    return SceneMapping(
        code=row.code,
        subclass=row.subclass,
        name_zh=row.name_zh,
        name_en=row.name_en,
        min_confidence=row.min_confidence,
        active=bool(row.active),
    )


def _alert(row: Any) -> Alert:
    bbox = row.bbox
    return Alert(
        id=row.id,
        source=row.source,
        alert_id=row.alert_id,
        request_hash=row.request_hash,
        event=AlertEvent(row.event),
        camera_id=row.camera_id,
        scene=row.scene,
        subclass=row.subclass,
        occurred_at=row.occurred_at,
        received_at=row.received_at,
        confidence=row.confidence,
        outcome=AlertOutcome(row.outcome),
        bbox=(float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3]))
        if isinstance(bbox, list) and len(bbox) == 4
        else None,
        photo_id=row.photo_id,
        case_id=row.case_id,
        opened_case_id=row.opened_case_id,
    )


class SqlVisionRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    # --- cameras ----------------------------------------------------------------------------

    def camera(self, camera_id: str) -> Camera | None:
        row = self.connection.execute(
            sa.select(vision_cameras).where(vision_cameras.c.camera_id == camera_id)
        ).first()
        return _camera(row) if row else None

    def cameras(self) -> list[Camera]:
        rows = self.connection.execute(
            sa.select(vision_cameras).order_by(vision_cameras.c.camera_id)
        )
        return [_camera(r) for r in rows]

    def save_cameras(self, cameras: Sequence[Camera], at: datetime) -> None:
        if not cameras:
            return
        ids = [c.camera_id for c in cameras]
        existing = set(
            self.connection.execute(
                sa.select(vision_cameras.c.camera_id).where(vision_cameras.c.camera_id.in_(ids))
            ).scalars()
        )
        for camera in cameras:
            values = {
                "name": camera.name,
                "lng": camera.lng,
                "lat": camera.lat,
                "grid_code": camera.grid_code,
                "unit_code": camera.unit_code,
                "address": camera.address,
                "owner": camera.owner,
                "active": camera.active,
                "updated_at": at,
            }
            if camera.camera_id in existing:
                self.connection.execute(
                    sa.update(vision_cameras)
                    .where(vision_cameras.c.camera_id == camera.camera_id)
                    .values(**values)
                )
            else:
                self.connection.execute(
                    sa.insert(vision_cameras).values(camera_id=camera.camera_id, **values)
                )

    def delete_camera(self, camera_id: str) -> bool:
        result = self.connection.execute(
            sa.delete(vision_cameras).where(vision_cameras.c.camera_id == camera_id)
        )
        return bool(result.rowcount)

    def camera_alerts(self, camera_id: str) -> int:
        return int(
            self.connection.execute(
                sa.select(sa.func.count()).where(vision_alerts.c.camera_id == camera_id)
            ).scalar_one()
        )

    # --- scenes -----------------------------------------------------------------------------

    def scenes(self) -> list[SceneMapping] | None:
        rows = self.connection.execute(sa.select(vision_scenes).order_by(vision_scenes.c.code))
        found = [_scene(r) for r in rows]
        return found or None

    def replace_scenes(self, mappings: Sequence[SceneMapping], at: datetime) -> None:
        self.connection.execute(sa.delete(vision_scenes))
        if mappings:
            self.connection.execute(
                sa.insert(vision_scenes),
                [
                    {
                        "code": m.code,
                        "subclass": m.subclass,
                        "name_zh": m.name_zh,
                        "name_en": m.name_en,
                        "min_confidence": m.min_confidence,
                        "active": m.active,
                        "updated_at": at,
                    }
                    for m in mappings
                ],
            )

    # --- alerts -----------------------------------------------------------------------------

    def alert(self, alert_pk: int) -> Alert | None:
        row = self.connection.execute(
            sa.select(vision_alerts).where(vision_alerts.c.id == alert_pk)
        ).first()
        return _alert(row) if row else None

    def alert_by_key(self, source: str, alert_id: str) -> Alert | None:
        row = self.connection.execute(
            sa.select(vision_alerts).where(
                vision_alerts.c.source == source, vision_alerts.c.alert_id == alert_id
            )
        ).first()
        return _alert(row) if row else None

    def add_alert(self, alert: Alert) -> Alert:
        values = {
            "source": alert.source,
            "alert_id": alert.alert_id,
            "request_hash": alert.request_hash,
            "event": alert.event.value,
            "camera_id": alert.camera_id,
            "scene": alert.scene,
            "subclass": alert.subclass,
            "occurred_at": alert.occurred_at,
            "received_at": alert.received_at,
            "confidence": alert.confidence,
            "bbox": list(alert.bbox) if alert.bbox else None,
            "photo_id": alert.photo_id,
            "outcome": alert.outcome.value,
            "case_id": alert.case_id,
            "opened_case_id": alert.opened_case_id,
        }
        try:
            result = self.connection.execute(sa.insert(vision_alerts).values(**values))
        except sa.exc.IntegrityError as exc:  # a concurrent retry recorded it first
            raise AlreadyRecorded(f"{alert.source}:{alert.alert_id}") from exc
        key = result.inserted_primary_key
        assert key is not None
        stored = self.alert(int(key[0]))
        assert stored is not None
        return stored

    def latest_case_alert(self, camera_id: str, scene: str) -> Alert | None:
        row = self.connection.execute(
            sa.select(vision_alerts)
            .where(
                vision_alerts.c.camera_id == camera_id,
                vision_alerts.c.scene == scene,
                vision_alerts.c.event == AlertEvent.ALERT.value,
                vision_alerts.c.case_id.is_not(None),
            )
            .order_by(vision_alerts.c.occurred_at.desc(), vision_alerts.c.id.desc())
            .limit(1)
        ).first()
        return _alert(row) if row else None

    def alerts(self, where: AlertFilter, limit: int, offset: int) -> tuple[int, list[Alert]]:
        conditions: list[Any] = []
        c = vision_alerts.c
        if where.source:
            conditions.append(c.source == where.source)
        if where.camera_id:
            conditions.append(c.camera_id == where.camera_id)
        if where.scene:
            conditions.append(c.scene == where.scene)
        if where.event:
            conditions.append(c.event == where.event.value)
        if where.outcome:
            conditions.append(c.outcome == where.outcome.value)
        if where.case_id is not None:
            conditions.append(sa.or_(c.case_id == where.case_id, c.opened_case_id == where.case_id))
        if where.occurred_from:
            conditions.append(c.occurred_at >= where.occurred_from)
        if where.occurred_to:
            conditions.append(c.occurred_at < where.occurred_to)
        total = self.connection.execute(
            sa.select(sa.func.count()).select_from(vision_alerts).where(*conditions)
        ).scalar_one()
        rows = self.connection.execute(
            sa.select(vision_alerts)
            .where(*conditions)
            .order_by(c.occurred_at.desc(), c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return int(total), [_alert(r) for r in rows]

    def case_alerts(self, case_id: int) -> int:
        return int(
            self.connection.execute(
                sa.select(sa.func.count()).where(
                    sa.or_(
                        vision_alerts.c.case_id == case_id,
                        vision_alerts.c.opened_case_id == case_id,
                    )
                )
            ).scalar_one()
        )

    # --- verdicts and precision -------------------------------------------------------------

    def verdict(self, case_id: int) -> CaseVerdict | None:
        row = self.connection.execute(
            sa.select(vision_verdicts).where(vision_verdicts.c.case_id == case_id)
        ).first()
        if row is None:
            return None
        return CaseVerdict(row.case_id, Verdict(row.verdict), row.actor, row.at, row.note)

    def add_verdict(self, verdict: CaseVerdict) -> None:
        try:
            self.connection.execute(
                sa.insert(vision_verdicts).values(
                    case_id=verdict.case_id,
                    verdict=verdict.verdict.value,
                    actor=verdict.actor,
                    note=verdict.note,
                    at=verdict.at,
                )
            )
        except sa.exc.IntegrityError as exc:
            raise AlreadyRecorded(f"verdict:{verdict.case_id}") from exc

    def facts(self, occurred_from: datetime, occurred_to: datetime) -> list[AlertFact]:
        a = vision_alerts.c
        query = (
            sa.select(
                a.source,
                a.scene,
                a.case_id,
                sa.func.count().label("alerts"),
                t.cases.c.status,
                vision_verdicts.c.verdict,
            )
            .select_from(
                vision_alerts.outerjoin(t.cases, t.cases.c.id == a.case_id).outerjoin(
                    vision_verdicts, vision_verdicts.c.case_id == a.case_id
                )
            )
            .where(
                a.event == AlertEvent.ALERT.value,
                a.occurred_at >= occurred_from,
                a.occurred_at < occurred_to,
            )
            .group_by(a.source, a.scene, a.case_id, t.cases.c.status, vision_verdicts.c.verdict)
        )
        return [
            AlertFact(
                source=row.source,
                scene=row.scene,
                case_id=row.case_id,
                alerts=int(row.alerts),
                status=CaseStatus(row.status) if row.status else None,
                verdict=Verdict(row.verdict) if row.verdict else None,
            )
            for row in self.connection.execute(query)
        ]
