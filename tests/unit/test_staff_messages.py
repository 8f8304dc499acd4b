"""Staff text cards stay within the documented limits whatever the case holds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chengyun.services.records import PendingMessage
from chengyun.services.staff_messages import CaseLinks, compose

LINKS = CaseLinks("https://cy.example.gov.cn/")


@given(
    reason=st.text(min_size=0, max_size=400),
    number=st.text(alphabet="CE0123456789", min_size=1, max_size=40),
    topic=st.sampled_from(["task", "escalation", "returned", "anything"]),
)
def test_cards_fit_the_byte_limits(reason: str, number: str, topic: str) -> None:
    message = PendingMessage(
        7, topic, "P1", {"number": number, "subclass": "E0102", "reason": reason}, 0, 42
    )
    card = compose(message, None, None, LINKS)
    assert len(card.title.encode()) <= 128
    assert len(card.description.encode()) <= 512
    assert card.url == "https://cy.example.gov.cn/m/tasks/42#n7"
    assert "<script" not in card.description  # the text is escaped
    assert card.sms.endswith(card.url)


def test_a_long_reason_is_shortened_not_dropped() -> None:
    reason = "占道经营，" * 100
    message = PendingMessage(1, "returned", "P1", {"number": "E1", "reason": reason}, 0, 3)
    card = compose(message, None, None, CaseLinks("http://x", phone_pages=False))
    assert "原因 Reason：占道经营" in card.description and "…" in card.description
    assert card.title == "退单 Returned · E1"
    assert card.url == "http://x/command/cases/3#n1"
