"""Video-algorithm use cases (视频智能发现): the camera registry, the scene mapping, alert
intake, "scene cleared" closure proposals, verdicts and precision.

An alert becomes a case only through ``services.cases.report_case`` (channel
``video_ai``, at the camera's position, idempotent on ``vision:<source>:<alert id>``), so
the intake policy registers and dispatches it like any algorithm-found case; every
change to a case goes through ``services.cases.act``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chengyun.clock import Clock
from chengyun.domain.cases import TERMINAL_STATUSES, Action, Actor, CaseStatus, Channel
from chengyun.domain.errors import Conflict, InvalidInput, NotFound, Problem
from chengyun.domain.vision import (
    DEFAULT_SCENES,
    Alert,
    AlertEvent,
    AlertOutcome,
    Camera,
    CaseVerdict,
    OpenEpisode,
    PrecisionRow,
    SceneMapping,
    Verdict,
    admission,
    camera_problems,
    case_to_join,
    normal_scene,
    precision_table,
    scene_problems,
)
from chengyun.domain.working_time import as_china_time
from chengyun.services.cases import (
    COMMAND_CENTRE,
    CaseEnvironment,
    ReportCommand,
    act,
    report_case,
    taxonomy_in_force,
)
from chengyun.services.records import CaseRecord, DuplicateKey, OutboxMessage, PhotoRecord
from chengyun.services.unit_of_work import UnitOfWork
from chengyun.services.vision_store import AlertFilter, AlreadyRecorded

DEFAULT_JOIN_WINDOW = timedelta(minutes=30)
#: The outbox topic of a closure proposal, for the command centre's queue.
CLOSURE_TOPIC = "closure_proposal"
FALSE_ALARM_REASON = "视频算法误报 / false alarm of the video algorithm"

Where = tuple[str | int, ...]


# --- cameras ---------------------------------------------------------------------------------


def placed(env: CaseEnvironment, camera: Camera, where: Where = ()) -> Camera:
    """The camera checked and placed: its grid and unit from where its position falls.

    Call it before opening a transaction (the locator may need a connection of its own)."""
    problems = [replace(p, location=(*where, *p.location)) for p in camera_problems(camera)]
    if problems:
        raise InvalidInput("摄像头信息有误 / the camera is not valid", problems)
    try:
        location = env.locator.locate(camera.lng, camera.lat)
    except InvalidInput as error:
        raise InvalidInput(
            "摄像头位置不在辖区内 / the camera's position is not in the sub-district",
            [
                Problem(
                    (*where, "lng"),
                    f"({camera.lng}, {camera.lat}): {error.message}; WGS-84 longitude and "
                    "latitude of the camera",
                    "outside",
                )
            ],
        ) from error
    if camera.unit_code and camera.unit_code != location.unit.code:
        raise InvalidInput(
            "摄像头位置与管理单元不符 / the position is not in the given unit",
            [
                Problem(
                    (*where, "unit_code"),
                    f"位置在 {location.unit.code}（{location.unit.name}），不在 {camera.unit_code} "
                    f"/ the position lies in unit {location.unit.code}, not {camera.unit_code}: "
                    "leave the unit empty to take it from the position",
                    "mismatch",
                )
            ],
        )
    return replace(camera, grid_code=location.grid.code, unit_code=location.unit.code)


def save_camera(uow: UnitOfWork, env: CaseEnvironment, camera: Camera, actor: str) -> Camera:
    """Register a camera or change one (by its id)."""
    camera = placed(env, camera)
    with uow:
        uow.vision.save_cameras([camera], env.clock.now())
        uow.audit.append(
            env.clock.now(), actor, "vision.camera", f"camera:{camera.camera_id}", _camera(camera)
        )
        uow.commit()
    return camera


def import_cameras(
    uow: UnitOfWork, env: CaseEnvironment, rows: Sequence[tuple[Where, Camera]], actor: str
) -> int:
    """Register or change many cameras at once, all or nothing; each problem names the
    row it was found in (``where``)."""
    problems: list[Problem] = []
    cameras: list[Camera] = []
    seen: dict[str, Where] = {}
    for where, camera in rows:
        if camera.camera_id in seen:
            problems.append(
                Problem(
                    (*where, "camera_id"),
                    f"编号重复（另见 {'/'.join(map(str, seen[camera.camera_id]))}）/ the camera id "
                    f"{camera.camera_id} appears twice",
                    "duplicate",
                )
            )
            continue
        seen[camera.camera_id] = where
        try:
            cameras.append(placed(env, camera, where))
        except InvalidInput as error:
            problems.extend(error.problems)
    if problems:
        raise InvalidInput(
            f"{len(problems)} 处问题，未导入任何摄像头 / {len(problems)} problem(s): nothing "
            "was imported",
            problems,
        )
    with uow:
        uow.vision.save_cameras(cameras, env.clock.now())
        uow.audit.append(
            env.clock.now(), actor, "vision.cameras.import", "", {"count": len(cameras)}
        )
        uow.commit()
    return len(cameras)


def cameras(uow: UnitOfWork) -> list[Camera]:
    with uow.reader() as uow:
        return uow.vision.cameras()


def camera(uow: UnitOfWork, camera_id: str) -> Camera:
    with uow.reader() as uow:
        found = uow.vision.camera(camera_id)
    if found is None:
        raise NotFound(f"没有编号为 {camera_id} 的摄像头 / no camera {camera_id}")
    return found


def delete_camera(uow: UnitOfWork, clock: Clock, camera_id: str, actor: str) -> None:
    """Remove a camera that never alerted; one with alerts is switched off instead
    (``active: false``), so its history stays."""
    with uow:
        if uow.vision.camera(camera_id) is None:
            raise NotFound(f"没有编号为 {camera_id} 的摄像头 / no camera {camera_id}")
        if uow.vision.camera_alerts(camera_id):
            raise Conflict(
                "摄像头已有告警记录，不能删除 / the camera has alerts and cannot be deleted",
                [Problem(("camera_id",), "set active to false to switch it off", "in_use")],
            )
        uow.vision.delete_camera(camera_id)
        uow.audit.append(clock.now(), actor, "vision.camera.delete", f"camera:{camera_id}", {})
        uow.commit()


def _camera(camera: Camera) -> dict[str, object]:
    return {
        "name": camera.name,
        "lng": camera.lng,
        "lat": camera.lat,
        "unit_code": camera.unit_code,
        "active": camera.active,
    }


# --- scenes ----------------------------------------------------------------------------------


def scenes_in_force(uow: UnitOfWork) -> tuple[list[SceneMapping], bool]:
    """The scene mapping and whether it is the shipped one (nothing stored yet); call
    inside a unit of work."""
    stored = uow.vision.scenes()
    if stored is None:
        return sorted(DEFAULT_SCENES, key=lambda m: m.code), True
    return stored, False


def scenes(uow: UnitOfWork) -> tuple[list[SceneMapping], bool]:
    with uow.reader() as uow:
        return scenes_in_force(uow)


def save_scene(
    uow: UnitOfWork, env: CaseEnvironment, mapping: SceneMapping, actor: str
) -> SceneMapping:
    """Add or change the mapping of one scene code (the rest stay as they are)."""
    mapping = replace(mapping, code=normal_scene(mapping.code), subclass=mapping.subclass.upper())
    with uow:
        taxonomy = taxonomy_in_force(uow, env)
        problems = scene_problems(mapping, lambda code: taxonomy.get(code) is not None)
        if problems:
            raise InvalidInput("场景映射有误 / the scene mapping is not valid", problems)
        current, _ = scenes_in_force(uow)
        kept = [m for m in current if m.code != mapping.code]
        uow.vision.replace_scenes(sorted([*kept, mapping], key=lambda m: m.code), env.clock.now())
        uow.audit.append(
            env.clock.now(),
            actor,
            "vision.scene",
            f"scene:{mapping.code}",
            {"subclass": mapping.subclass, "active": mapping.active},
        )
        uow.commit()
    return mapping


def delete_scene(uow: UnitOfWork, clock: Clock, code: str, actor: str) -> None:
    code = normal_scene(code)
    with uow:
        current, _ = scenes_in_force(uow)
        kept = [m for m in current if m.code != code]
        if len(kept) == len(current):
            raise NotFound(f"没有场景 {code} / no scene mapping {code}")
        if not kept:
            raise Conflict(
                "不能删除最后一个场景映射 / the last scene mapping cannot be deleted",
                [Problem(("code",), "switch it off (active: false) instead", "last")],
            )
        uow.vision.replace_scenes(kept, clock.now())
        uow.audit.append(clock.now(), actor, "vision.scene.delete", f"scene:{code}", {})
        uow.commit()


# --- alerts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertCommand:
    """An alert as an algorithm sends it (the snapshot already checked and stored)."""

    source: str
    alert_id: str
    camera_id: str
    scene: str
    occurred_at: datetime
    confidence: float
    event: AlertEvent = AlertEvent.ALERT
    bbox: tuple[float, float, float, float] | None = None
    snapshot: PhotoRecord | None = None


@dataclass(frozen=True)
class AlertReceipt:
    """What an alert became: the stored alert, the case it went to (if any), and whether
    this request recorded it (``False``: a repeat of an alert already received)."""

    alert: Alert
    case: CaseRecord | None
    created: bool


def receive_alert(
    uow: UnitOfWork,
    env: CaseEnvironment,
    command: AlertCommand,
    *,
    join_window: timedelta = DEFAULT_JOIN_WINDOW,
    body_hash: str = "",
) -> AlertReceipt:
    """Take in one alert (or "scene cleared"), exactly once per (source, alert id).

    A repeat of the same camera and scene within ``join_window`` of its latest alert joins
    that case while it is open (its snapshot goes onto the case); otherwise the alert is
    reported as a new ``video_ai`` case at the camera, which the intake policy registers
    and dispatches (or, repeating a nearby open case of the subclass, merges into it).
    """
    now = env.clock.now()
    _check_alert(command, now, env)
    try:
        return _receive(uow, env, command, now, join_window, body_hash)
    except AlreadyRecorded:  # a concurrent repeat of this alert recorded it first
        with uow:
            stored = uow.vision.alert_by_key(command.source, command.alert_id)
            assert stored is not None, "the concurrent request recorded it"
            return _replay(uow, stored, body_hash)


def _receive(
    uow: UnitOfWork,
    env: CaseEnvironment,
    command: AlertCommand,
    now: datetime,
    join_window: timedelta,
    body_hash: str,
) -> AlertReceipt:
    scene = normal_scene(command.scene)
    key = f"vision:{command.source}:{command.alert_id}"
    with uow:
        stored = uow.vision.alert_by_key(command.source, command.alert_id)
        if stored is not None:
            return _replay(uow, stored, body_hash)
        found = _known_camera(uow, command.camera_id)
        mapping = _known_scene(uow, env, scene)
        alert = Alert(
            id=None,
            source=command.source,
            alert_id=command.alert_id,
            request_hash=body_hash,
            event=command.event,
            camera_id=found.camera_id,
            scene=scene,
            subclass=mapping.subclass,
            occurred_at=command.occurred_at,
            received_at=now,
            confidence=command.confidence,
            outcome=AlertOutcome.NO_OPEN_CASE,
            bbox=command.bbox,
            photo_id=command.snapshot.id if command.snapshot else None,
        )
        episode = _episode(uow, found.camera_id, scene)
        if command.event is AlertEvent.CLEARED:
            return _cleared(uow, env, alert, episode, command.snapshot)
        refused = admission(mapping, command.confidence)
        if refused is not None:
            return _keep(uow, replace(alert, outcome=refused, photo_id=None), None)
        # an earlier, interrupted try may have opened the case already: finish that one
        if uow.cases.idempotency(key) is None:
            target = case_to_join(episode, command.occurred_at, join_window)
            if target is not None:
                _attach(uow, command.snapshot, target, now)
                return _keep(uow, replace(alert, outcome=AlertOutcome.JOINED, case_id=target), None)
    report = ReportCommand(
        channel=Channel.VIDEO_AI,
        subclass=mapping.subclass,
        lng=found.lng,
        lat=found.lat,
        description=(
            f"{mapping.name_zh}（{found.name}，置信度 {command.confidence:.2f}）/ "
            f"{mapping.name_en or mapping.code} ({found.camera_id}, confidence "
            f"{command.confidence:.2f})"
        ),
        observed_at=command.occurred_at,
        address=found.address,
        photos=(command.snapshot.id,) if command.snapshot else (),
        uploads=(command.snapshot,) if command.snapshot else (),
        extra={
            "vision": {
                "source": command.source,
                "alert_id": command.alert_id,
                "camera_id": found.camera_id,
                "scene": scene,
                "confidence": command.confidence,
                "bbox": list(command.bbox) if command.bbox else None,
            }
        },
    )
    try:
        reported = report_case(uow, env, report, key, body_hash)
    except DuplicateKey:  # a concurrent repeat of this alert opened it first
        reported = report_case(uow, env, report, key, body_hash)
    case = reported.record.case
    merged = case.status is CaseStatus.MERGED and case.merged_into is not None
    alert = replace(
        alert,
        outcome=AlertOutcome.MERGED if merged else AlertOutcome.OPENED,
        case_id=case.merged_into if merged else reported.record.id,
        opened_case_id=reported.record.id,
    )
    with uow:
        stored = uow.vision.alert_by_key(command.source, command.alert_id)
        if stored is not None:
            return _replay(uow, stored, body_hash)
        return _keep(uow, alert, None)


def _check_alert(command: AlertCommand, now: datetime, env: CaseEnvironment) -> None:
    if command.occurred_at.tzinfo is None or command.occurred_at.utcoffset() is None:
        raise InvalidInput(
            "时间须带时区 / occurred_at needs a UTC offset",
            [Problem(("occurred_at",), "e.g. 2020-06-24T09:30:00+08:00", "timezone")],
        )
    if command.occurred_at > now + env.policy.max_future_skew:
        raise InvalidInput(
            "告警时间晚于当前时间 / occurred_at is in the future",
            [
                Problem(
                    ("occurred_at",),
                    f"{as_china_time(command.occurred_at).isoformat()} is later than now "
                    f"({as_china_time(now).isoformat()}): check the algorithm server's clock",
                    "future",
                )
            ],
        )
    if not math.isfinite(command.confidence) or not 0 <= command.confidence <= 1:
        raise InvalidInput(
            "置信度须在 0..1 之间 / confidence must be in 0..1",
            [Problem(("confidence",), f"got {command.confidence}", "range")],
        )


def _known_camera(uow: UnitOfWork, camera_id: str) -> Camera:
    found = uow.vision.camera(camera_id)
    if found is None:
        raise InvalidInput(
            "未登记的摄像头 / unknown camera",
            [
                Problem(
                    ("camera_id",),
                    f"摄像头 {camera_id!r} 未登记，请先在摄像头台账中登记 / camera {camera_id!r} "
                    "is not registered: add it with POST /api/v1/vision/cameras",
                    "unknown",
                )
            ],
        )
    if not found.active:
        raise InvalidInput(
            "摄像头已停用 / the camera is switched off",
            [
                Problem(
                    ("camera_id",),
                    f"摄像头 {camera_id!r} 已停用 / camera {camera_id!r} is inactive: switch it "
                    "on in the registry to accept its alerts",
                    "inactive",
                )
            ],
        )
    return found


def _known_scene(uow: UnitOfWork, env: CaseEnvironment, scene: str) -> SceneMapping:
    mappings, _ = scenes_in_force(uow)
    mapping = next((m for m in mappings if m.code == scene), None)
    if mapping is None:
        codes = ", ".join(m.code for m in mappings)
        raise InvalidInput(
            "未知的场景代码 / unknown scene code",
            [
                Problem(
                    ("scene",),
                    f"场景 {scene!r} 没有映射 / scene {scene!r} is not mapped to a subclass; "
                    f"known: {codes} (GET /api/v1/vision/scenes)",
                    "unknown",
                )
            ],
        )
    if taxonomy_in_force(uow, env).get(mapping.subclass) is None:
        raise InvalidInput(
            "场景映射的小类已不在分类中 / the scene maps to a subclass no longer in the taxonomy",
            [
                Problem(
                    ("scene",),
                    f"{scene} → {mapping.subclass}: fix the mapping (PUT /api/v1/vision/scenes/"
                    f"{scene})",
                    "mapping",
                )
            ],
        )
    return mapping


def _follow(uow: UnitOfWork, case_id: int) -> CaseRecord | None:
    """The case, or the case it was merged into (a merge may have followed)."""
    record = uow.cases.get(case_id)
    for _ in range(5):
        if record is None or record.case.status is not CaseStatus.MERGED:
            break
        if record.case.merged_into is None:
            break
        record = uow.cases.get(record.case.merged_into)
    return record


def _episode(uow: UnitOfWork, camera_id: str, scene: str) -> OpenEpisode | None:
    latest = uow.vision.latest_case_alert(camera_id, scene)
    if latest is None or latest.case_id is None:
        return None
    record = _follow(uow, latest.case_id)
    if record is None:
        return None
    return OpenEpisode(record.id, latest.occurred_at, record.case.status not in TERMINAL_STATUSES)


def _attach(uow: UnitOfWork, snapshot: PhotoRecord | None, case_id: int, now: datetime) -> None:
    if snapshot is not None:
        uow.cases.add_photo(replace(snapshot, case_id=case_id, created_at=now))


def _keep(uow: UnitOfWork, alert: Alert, message: OutboxMessage | None) -> AlertReceipt:
    stored = uow.vision.add_alert(alert)
    if message is not None:
        payload = {**message.payload, "alert": stored.id}
        uow.outbox.add(replace(message, payload=payload), stored.received_at)
    record = uow.cases.get(stored.case_id) if stored.case_id is not None else None
    uow.commit()
    return AlertReceipt(stored, record, True)


def _replay(uow: UnitOfWork, stored: Alert, body_hash: str) -> AlertReceipt:
    if stored.request_hash != body_hash:
        raise Conflict(
            "告警编号已用于另一条不同的告警 / this alert id was already used for a different alert",
            [
                Problem(
                    ("alert_id",),
                    f"{stored.source}:{stored.alert_id} was received at "
                    f"{as_china_time(stored.received_at).isoformat()} with other content: "
                    "use a new alert id for a new alert",
                    "idempotency",
                )
            ],
        )
    record = uow.cases.get(stored.case_id) if stored.case_id is not None else None
    return AlertReceipt(stored, record, False)


def _cleared(
    uow: UnitOfWork,
    env: CaseEnvironment,
    alert: Alert,
    episode: OpenEpisode | None,
    snapshot: PhotoRecord | None,
) -> AlertReceipt:
    """ "Scene cleared": a proposal to close the open case, for a person to confirm."""
    if episode is None or not episode.case_open:
        return _keep(uow, replace(alert, photo_id=None), None)
    now = env.clock.now()
    record = uow.cases.get(episode.case_id)
    assert record is not None
    _attach(uow, snapshot, episode.case_id, now)
    case = record.case
    message = OutboxMessage(
        CLOSURE_TOPIC,
        COMMAND_CENTRE,
        {
            "case_id": case.id,
            "number": case.number,
            "subclass": case.subclass,
            "status": case.status.value,
            "camera_id": alert.camera_id,
            "scene": alert.scene,
            "occurred_at": as_china_time(alert.occurred_at).isoformat(),
            "photo_id": alert.photo_id,
            "proposal": "算法报告场景已消除，请核实后结案 / the algorithm reports the scene "
            "cleared: check it and close the case",
        },
        case.id,
    )
    return _keep(
        uow,
        replace(alert, outcome=AlertOutcome.CLOSURE_PROPOSED, case_id=episode.case_id),
        message,
    )


def alerts(
    uow: UnitOfWork, where: AlertFilter, limit: int = 50, offset: int = 0
) -> tuple[int, list[Alert]]:
    with uow.reader() as uow:
        return uow.vision.alerts(where, limit, offset)


def alert(uow: UnitOfWork, alert_pk: int) -> Alert:
    with uow.reader() as uow:
        found = uow.vision.alert(alert_pk)
    if found is None:
        raise NotFound(f"没有编号为 {alert_pk} 的告警 / no alert {alert_pk}")
    return found


# --- verdicts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judged:
    verdict: CaseVerdict
    case: CaseRecord
    created: bool


def judge_alert(
    uow: UnitOfWork, env: CaseEnvironment, alert_pk: int, verdict: Verdict, actor: Actor, note: str
) -> Judged:
    """Judge the case an alert went to (see ``judge_case``)."""
    found = alert(uow, alert_pk)
    if found.case_id is None:
        raise Conflict(
            "此告警未形成案件 / this alert went to no case",
            [
                Problem(
                    ("alert_id",),
                    f"outcome: {found.outcome.value} ({found.outcome.zh}); nothing to judge",
                    "no_case",
                )
            ],
        )
    return judge_case(uow, env, found.case_id, verdict, actor, note)


def judge_case(
    uow: UnitOfWork, env: CaseEnvironment, case_id: int, verdict: Verdict, actor: Actor, note: str
) -> Judged:
    """Record a person's verdict on an algorithm-found case, once.

    A false alarm (误报) also asks the case engine to end the case: an unregistered report
    is rejected as invalid at once; a registered one gets a void request (申请作废) that an
    approver decides with the ``approve_void`` action (nobody approves their own)."""
    with uow:
        record = uow.cases.get(case_id)
        if record is None:
            raise NotFound(f"没有编号为 {case_id} 的案件 / no case with id {case_id}")
        if not uow.vision.case_alerts(case_id):
            raise Conflict(
                "不是视频告警形成的案件 / no video alert went to this case",
                [Problem(("case_id",), "verdicts are for algorithm-found cases", "not_vision")],
            )
        existing = uow.vision.verdict(case_id)
    if existing is not None:
        if existing.verdict is verdict:
            return Judged(existing, record, False)
        raise Conflict(
            f"已判定为{existing.verdict.zh} / already judged: {existing.verdict.en.lower()}",
            [
                Problem(
                    ("verdict",),
                    f"by {existing.actor} at {as_china_time(existing.at).isoformat()}",
                    "judged",
                )
            ],
        )
    if verdict is Verdict.FALSE_ALARM:
        reason = f"{FALSE_ALARM_REASON}: {note}" if note else FALSE_ALARM_REASON
        case = record.case
        if case.status is CaseStatus.REPORTED:
            act(
                uow,
                env,
                case_id,
                Action.REJECT,
                actor,
                {"reason": reason, "reason_kind": "invalid"},
            )
        elif case.status not in TERMINAL_STATUSES and case.void_pending is None:
            act(uow, env, case_id, Action.VOID, actor, {"reason": reason})
    judged = CaseVerdict(case_id, verdict, actor.recorded_as, env.clock.now(), note)
    try:
        with uow:
            uow.vision.add_verdict(judged)
            uow.audit.append(
                judged.at,
                judged.actor,
                f"vision.{verdict.value}",
                f"case:{case_id}",
                {"note": note},
            )
            uow.commit()
    except AlreadyRecorded:  # someone judged it at the same moment: theirs stands
        with uow:
            stored = uow.vision.verdict(case_id)
        assert stored is not None
        judged = stored
    with uow:
        after = uow.cases.get(case_id)
    assert after is not None
    return Judged(judged, after, True)


# --- precision -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrecisionReport:
    """准确率 per algorithm and scene, and per algorithm, for alerts in [start, end)."""

    start: datetime
    end: datetime
    scenes: list[PrecisionRow]
    algorithms: list[PrecisionRow]
    names: dict[str, SceneMapping]


def precision_report(uow: UnitOfWork, start: datetime, end: datetime) -> PrecisionReport:
    if end <= start:
        raise InvalidInput(
            "时段无效 / the period is empty",
            [Problem(("to",), "`to` must be later than `from`", "range")],
        )
    with uow.reader() as uow:
        facts = uow.vision.facts(start, end)
        mappings, _ = scenes_in_force(uow)
    by_scene, by_source = precision_table(facts)
    return PrecisionReport(start, end, by_scene, by_source, {m.code: m for m in mappings})
