"""The staff channels as configured: the government WeChat (政务微信) client, the SMS
gateway, and the outbox's sender for people built from them."""

from __future__ import annotations

from chengyun.adapters.db.wecom_repository import SqlTokenStore
from chengyun.adapters.sms import HttpSmsGateway
from chengyun.adapters.wecom import WeComClient
from chengyun.entrypoints.platform import Platform
from chengyun.services.staff_messages import CaseLinks, StaffMessageSender


def wecom_client(platform: Platform) -> WeComClient | None:
    """The client when corp id, secret and agent id are set, else ``None``."""
    settings = platform.settings
    if not settings.wecom_enabled:
        return None
    assert settings.wecom_corp_id and settings.wecom_secret
    assert settings.wecom_agent_id is not None
    return WeComClient(
        base_url=settings.wecom_base_url,
        corp_id=settings.wecom_corp_id,
        secret=settings.wecom_secret,
        agent_id=settings.wecom_agent_id,
        clock=platform.clock,
        store=SqlTokenStore(platform.engine, platform.clock),
        authorize_base=settings.wecom_authorize_url,
    )


def sms_gateway(platform: Platform) -> HttpSmsGateway | None:
    settings = platform.settings
    if not settings.sms_gateway_url:
        return None
    return HttpSmsGateway(settings.sms_gateway_url, settings.sms_gateway_key or "")


def staff_sender(platform: Platform) -> StaffMessageSender:
    """People's notifications: WeChat, SMS for whoever it cannot reach, else recorded."""
    return StaffMessageSender(
        uow=platform.uow,
        env=platform.cases,
        links=CaseLinks(
            platform.settings.public_base_url, platform.settings.wecom_link_phone_pages
        ),
        wecom=wecom_client(platform),
        sms=sms_gateway(platform),
    )
