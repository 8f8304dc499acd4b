"""What the video-algorithm use cases need from storage: the camera registry, the scene
mapping, the alerts received and the verdicts people gave."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chengyun.domain.vision import (
    Alert,
    AlertEvent,
    AlertFact,
    AlertOutcome,
    Camera,
    CaseVerdict,
    SceneMapping,
)


@dataclass(frozen=True)
class AlertFilter:
    """The filters of the alert list; every field optional."""

    source: str | None = None
    camera_id: str | None = None
    scene: str | None = None
    event: AlertEvent | None = None
    outcome: AlertOutcome | None = None
    case_id: int | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None


class AlreadyRecorded(Exception):
    """Another request recorded the same alert (or verdict) first: read it again."""


class VisionRepository(Protocol):
    def camera(self, camera_id: str) -> Camera | None: ...
    def cameras(self) -> list[Camera]:
        """All cameras, ordered by id."""
        ...

    def save_cameras(self, cameras: Sequence[Camera], at: datetime) -> None:
        """Insert or update each camera (by id)."""
        ...

    def delete_camera(self, camera_id: str) -> bool: ...
    def camera_alerts(self, camera_id: str) -> int:
        """How many alerts a camera has sent."""
        ...

    def scenes(self) -> list[SceneMapping] | None:
        """The stored mapping ordered by code, or ``None`` while the shipped one is in
        force (nothing stored)."""
        ...

    def replace_scenes(self, mappings: Sequence[SceneMapping], at: datetime) -> None: ...

    def alert(self, alert_pk: int) -> Alert | None: ...
    def alert_by_key(self, source: str, alert_id: str) -> Alert | None: ...
    def add_alert(self, alert: Alert) -> Alert:
        """Insert ``alert``, returning it with its id; ``AlreadyRecorded`` when the same
        (source, alert id) is already stored."""
        ...

    def latest_case_alert(self, camera_id: str, scene: str) -> Alert | None:
        """The latest (by occurrence) alert of a camera and scene that went to a case."""
        ...

    def alerts(self, where: AlertFilter, limit: int, offset: int) -> tuple[int, list[Alert]]:
        """Alerts newest first, and how many match."""
        ...

    def case_alerts(self, case_id: int) -> int:
        """How many alerts went to ``case_id``."""
        ...

    def verdict(self, case_id: int) -> CaseVerdict | None: ...
    def add_verdict(self, verdict: CaseVerdict) -> None: ...
    def facts(self, occurred_from: datetime, occurred_to: datetime) -> list[AlertFact]:
        """Alerts (not "scene cleared") that occurred in [from, to), grouped by algorithm,
        scene and case, with the case's status and verdict."""
        ...
