"""The outbox's senders as configured: which peer carries which message."""

from __future__ import annotations

from chengyun.adapters.district import district_routes
from chengyun.adapters.hotline import hotline_routes
from chengyun.entrypoints.platform import Platform
from chengyun.entrypoints.staff_channels import staff_sender
from chengyun.services.delivery import RecordingSender, RoutingSender, Sender


def build_sender(platform: Platform) -> Sender:
    """A route per peer (keyed by the topic's first segment); people's notifications go to
    the default sender, which records them until a staff-messaging channel is configured."""
    routes: dict[str, Sender] = {}
    default: Sender = RecordingSender()
    # integrations: each peer adds its route (or replaces the default) below, one line each
    routes.update(hotline_routes(platform.settings))
    default = staff_sender(platform)  # government WeChat / SMS when configured
    routes.update(district_routes(platform.settings, platform.clock, platform.uow))
    return RoutingSender(routes, default)
