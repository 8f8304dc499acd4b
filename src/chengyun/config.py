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
    territory_refresh_seconds: float = Field(
        5.0, ge=0, description="how often a process checks for a newly imported territory"
    )
    read_database_url: str | None = Field(
        None,
        description="只读副本 / a read replica (a PostgreSQL streaming standby) for the "
        "read-heavy screens — measures, assessment, case lists; default: the primary",
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
