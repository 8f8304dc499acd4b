"""One settings object for the whole platform, read from ``CHENGYUN_*`` variables.

It fails fast: an unsafe value (a default secret in production mode, a working day
that ends before it starts) stops the process with a message saying what to set.
"""

from __future__ import annotations

from datetime import time
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "chengyun-development-secret-change-me"


class Settings(BaseSettings):
    """Platform settings; every field can be set as ``CHENGYUN_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="CHENGYUN_", env_file=None, extra="ignore")

    mode: Literal["development", "production", "test", "demo"] = Field(
        "development", description="运行模式 / run mode; production refuses default secrets"
    )
    data_dir: Path = Field(
        Path("var"), description="数据目录 / where the SQLite file and photos live"
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; defaults to a SQLite file in data_dir. "
        "PostgreSQL: postgresql+psycopg://user@host/db",
    )
    secret_key: str = Field(DEFAULT_SECRET, description="签名密钥 / signing secret")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    access_log: bool = Field(
        True,
        description="访问日志 / one log line per request from each server process; behind "
        "nginx, which logs every request itself, it can be turned off (false)",
    )
    day_start: time = Field(time(8, 30), description="日间工作开始 / start of the 8 working hours")
    day_end: time = Field(time(16, 30), description="日间工作结束 / end of the 8 working hours")
    photos_dir: Path | None = Field(None, description="照片目录 / photos; default DATA_DIR/photos")
    auto_dispatch_all: bool = Field(
        True,
        description="立案即自动派遣 / dispatch every case on registration (else only "
        "algorithm-found cases)",
    )
    manual_register_channels: list[str] = Field(
        ["citizen_qr"],
        description="渠道须人工立案 / channels whose reports wait for an operator to register "
        "them, e.g. CHENGYUN_MANUAL_REGISTER_CHANNELS='[\"citizen_qr\"]'",
    )
    duplicate_radius_m: float = Field(50.0, gt=0, le=5000, description="重复上报半径（米）")
    duplicate_window_hours: float = Field(
        72.0, gt=0, le=24 * 90, description="重复上报时间窗（小时）"
    )
    self_handled_sample_percent: int = Field(
        10, ge=0, le=100, description="自处理抽查比例 / share of self-handled cases sampled"
    )
    group_commit_linger_ms: float = Field(
        10.0,
        ge=0,
        le=100,
        description="成组等待（毫秒）/ how long a process's committing thread may wait for "
        "more reports while they come in together (0: never)",
    )
    territory_refresh_seconds: float = Field(
        5.0, ge=0, description="how often a process checks for a newly imported territory"
    )
    read_database_url: str | None = Field(
        None,
        description="只读副本 / a read replica (a PostgreSQL streaming standby) for the "
        "read-heavy screens — measures, assessment, case lists; default: the primary",
    )
    read_replica_retry_seconds: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="副本重试间隔 / while the read replica is unreachable its screens read "
        "from the primary; how often the replica is tried again (and asked how far behind "
        "it is while it answers)",
    )
    read_replica_max_lag_seconds: float = Field(
        30.0,
        ge=0,
        le=86400,
        description="副本最大延迟 / a read replica further behind the primary than this "
        "counts as down: its screens read from the primary until it catches up",
    )
    tile_url: str | None = Field(
        None,
        max_length=500,
        pattern=r"^(https?://[^\s/]+)?/\S*\{z\}\S*$",
        description="底图瓦片地址 / an intranet tile server for the command centre's map, e.g. "
        "https://tiles.example.gov.cn/{z}/{x}/{y}.png or /tiles/{z}/{x}/{y}.png; default none: "
        "the map draws only the territory's own polygons (no external tiles)",
    )

    # integrations: each peer's settings below (fields with a description, safe defaults)
    open311_jurisdiction_id: str = Field(
        "",
        max_length=100,
        description="Open311 jurisdiction_id; empty: any or none is accepted (one jurisdiction)",
    )
    open311_contact: str = Field(
        "城运中心 / the command centre",
        max_length=300,
        description="Open311 discovery: whom developers contact",
    )
    open311_key_service: str = Field(
        "向城运中心申请 api_key（chengyun apps add）/ ask the command centre for an api_key",
        max_length=300,
        description="Open311 discovery: how to get an api_key",
    )
    hotline_result_url: str | None = Field(
        None,
        max_length=300,
        pattern=r"^https?://[^\s#]+$",
        description="12345热线回传地址 / where order results (signed, contacted, result, "
        "returned) are POSTed as JSON; none: they stay recorded in the outbox",
    )
    hotline_result_token: str | None = Field(
        None, max_length=300, description="12345热线回传令牌 / bearer token sent to that address"
    )
    vision_join_minutes: float = Field(
        30.0,
        gt=0,
        le=24 * 60,
        description="视频告警并案时间窗（分钟）/ repeated alerts of one camera and scene within "
        "this many minutes join the open case",
    )
    wecom_base_url: str = Field(
        "https://qyapi.weixin.qq.com",
        max_length=300,
        pattern=r"^https?://[^\s?#]+$",
        description="政务微信接口地址 / the government WeChat (WeCom) API server; government "
        "deployments run their own, e.g. https://zwwx.example.gov.cn",
    )
    wecom_authorize_url: str = Field(
        "https://open.weixin.qq.com/connect/oauth2/authorize",
        max_length=300,
        pattern=r"^https?://[^\s?#]+$",
        description="政务微信网页授权地址 / the OAuth authorize page of that deployment",
    )
    wecom_corp_id: str | None = Field(
        None,
        max_length=64,
        description="政务微信企业ID / corp id (CorpID); with the secret "
        "and the agent id it turns staff messages and the WeChat sign-in on",
    )
    wecom_secret: str | None = Field(
        None, max_length=200, description="政务微信应用Secret / the application's secret"
    )
    wecom_agent_id: int | None = Field(
        None, ge=0, description="政务微信应用AgentId / the application's agent id"
    )
    wecom_link_phone_pages: bool = Field(
        True,
        description="消息链接到手机页 / cards link to the phone task page /m/tasks/{id} "
        "(else the command centre's case page)",
    )
    sms_gateway_url: str | None = Field(
        None,
        max_length=300,
        pattern=r"^https?://[^\s#]+$",
        description="短信网关地址 / an HTTP gateway taking {to, text, key} as JSON, for staff "
        "without the WeChat app; none: no SMS",
    )
    sms_gateway_key: str | None = Field(
        None, max_length=200, description="短信网关密钥 / the key sent to the SMS gateway"
    )

    @property
    def wecom_enabled(self) -> bool:
        """Government WeChat is on when corp id, secret and agent id are all set."""
        return bool(self.wecom_corp_id and self.wecom_secret and self.wecom_agent_id is not None)

    @model_validator(mode="after")
    def _wecom_complete(self) -> Settings:
        parts = {
            "CHENGYUN_WECOM_CORP_ID": self.wecom_corp_id,
            "CHENGYUN_WECOM_SECRET": self.wecom_secret,
            "CHENGYUN_WECOM_AGENT_ID": self.wecom_agent_id,
        }
        missing = [name for name, value in parts.items() if value in (None, "")]
        if self.mode == "production" and 0 < len(missing) < len(parts):
            raise ValueError(
                f"政务微信配置不完整，请设置 {', '.join(missing)} / government WeChat is half "
                f"configured: set {', '.join(missing)} too (or unset all three to turn it off)"
            )
        if self.mode == "production" and self.sms_gateway_key and not self.sms_gateway_url:
            raise ValueError(
                "设置了短信网关密钥但没有地址 / CHENGYUN_SMS_GATEWAY_KEY needs "
                "CHENGYUN_SMS_GATEWAY_URL (or unset the key)"
            )
        return self

    district_code: str = Field(
        "",
        max_length=32,
        pattern=r"^[0-9A-Za-z_-]*$",
        description="本平台代码 / this platform's own code on the district link (the "
        "sub-district's code, e.g. 310118002); required once a district or a peer is set",
    )
    district_url: str | None = Field(
        None,
        max_length=300,
        pattern=r"^https?://[^\s?#]+$",
        description="区平台地址 / base URL of the district platform this one reports to (e.g. "
        "https://district.example.gov.cn); none: no district linked, escalations stay recorded",
    )
    district_token: str | None = Field(
        None,
        max_length=300,
        description="区平台令牌 / the bearer token (cy_…) of this platform's account at the district",
    )
    district_peers: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="下级街道 / when this platform acts as the district: the sub-districts it "
        'serves, code → {"url": base URL, "token": bearer token at that sub-district}, e.g. '
        'CHENGYUN_DISTRICT_PEERS=\'{"310118002": {"url": "https://yp.example", '
        '"token": "cy_…"}}\'',
    )
    district_timeout_seconds: float = Field(
        10.0, gt=0, le=120, description="区平台请求超时（秒）/ timeout of one call to a peer"
    )

    @model_validator(mode="after")
    def _district_link(self) -> Settings:
        linked = bool(self.district_url or self.district_peers)
        if linked and not self.district_code:
            raise ValueError(
                "对接区平台须设置本平台代码 / a district link needs this platform's own code: "
                "set CHENGYUN_DISTRICT_CODE (e.g. the sub-district code 310118002)"
            )
        if self.district_url and not self.district_token:
            raise ValueError(
                "设置了 CHENGYUN_DISTRICT_URL 但没有令牌 / CHENGYUN_DISTRICT_URL needs "
                "CHENGYUN_DISTRICT_TOKEN: the bearer token of this platform's account there"
            )
        for code, peer in self.district_peers.items():
            url, token = peer.get("url", ""), peer.get("token", "")
            if not code or len(code) > 32 or not url.startswith(("http://", "https://")):
                raise ValueError(
                    f"CHENGYUN_DISTRICT_PEERS[{code!r}]: 须有代码和 http(s) 地址 / needs a code "
                    'of at most 32 characters and {"url": "http(s)://…", "token": "cy_…"}'
                )
            if not token:
                raise ValueError(
                    f"CHENGYUN_DISTRICT_PEERS[{code!r}]: 缺少令牌 / the token is missing"
                )
        return self

    public_base_url: str = Field(
        "http://127.0.0.1:8000",
        max_length=200,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="对外地址 / the address printed in the shops' QR codes (citizens' phones "
        "must reach it), e.g. https://cy.example.gov.cn",
    )
    shop_token_days: int = Field(
        730,
        ge=1,
        le=3650,
        description="店铺二维码有效天数 / how many days a shop poster's QR code stays valid",
    )

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        if self.mode == "production" and (
            self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32
        ):
            raise ValueError(
                "生产模式不能使用默认或过短的密钥，请设置 CHENGYUN_SECRET_KEY（至少32个字符）/ "
                "production mode refuses the default or a short secret: set CHENGYUN_SECRET_KEY "
                "to a random string of at least 32 characters"
            )
        known = {
            "patrol",
            "video_ai",
            "citizen_qr",
            "hotline",
            "police_diversion",
            "district",
            "inspection",
        }
        unknown = sorted(set(self.manual_register_channels) - known)
        if unknown:
            raise ValueError(
                f"CHENGYUN_MANUAL_REGISTER_CHANNELS 含未知渠道 / unknown channel(s) {unknown}; "
                f"choose from {sorted(known)}"
            )
        if not self.day_start < self.day_end:
            raise ValueError(
                "CHENGYUN_DAY_START 须早于 CHENGYUN_DAY_END / the working day must start "
                f"before it ends ({self.day_start} → {self.day_end})"
            )
        return self

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'chengyun.sqlite3').resolve()}"
