"""What `fabrikam dlq` prints: given dead letters, these rows and tables."""

from datetime import UTC, datetime, timedelta

import pytest

from fabrikam.workloads.kit.messaging import dead_letters
from fabrikam.workloads.kit.messaging.dead_letters import QueueDeadLetters
from fabrikam.workloads.kit.messaging.message import DeadLetter, Message

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def letter(message_id: str, reason: str, waited: timedelta | None) -> DeadLetter:
    return DeadLetter(
        Message(message_id, "DeliveryStageChanged", {"deliveryId": "d-1"}, {"x-correlation-id": "c-1"}),
        reason,
        f"{reason} described",
        3,
        NOW - waited if waited is not None else None,
    )


@pytest.mark.parametrize(
    ("waited", "shown"),
    [
        (timedelta(seconds=12), "12s"),
        (timedelta(minutes=4, seconds=10), "4m10s"),
        (timedelta(hours=2, minutes=5, seconds=59), "2h5m"),
        (timedelta(days=3, hours=4, minutes=1), "3d4h"),
        (timedelta(days=1, seconds=5), "1d0h"),
        (timedelta(0), "0s"),
        (-timedelta(seconds=30), "0s"),  # the broker's clock ahead of ours
    ],
)
def test_the_age_of_a_dead_letter_is_given_in_its_two_largest_units(waited: timedelta, shown: str) -> None:
    assert dead_letters.age(NOW - waited, NOW) == shown


def test_a_dead_letter_of_unknown_age_shows_a_dash() -> None:
    assert dead_letters.age(None, NOW) == "-"


def test_a_listing_entry_names_the_message_and_why_it_is_dead_lettered_but_not_its_body() -> None:
    assert dead_letters.entry(letter("m-1", "MaxDeliveryCountExceeded", timedelta(minutes=1))) == {
        "id": "m-1",
        "type": "DeliveryStageChanged",
        "reason": "MaxDeliveryCountExceeded",
        "description": "MaxDeliveryCountExceeded described",
        "deliveryCount": 3,
        "enqueuedAt": "2026-03-01T11:59:00+00:00",
    }


def test_the_detail_adds_the_queue_headers_and_body() -> None:
    shown = dead_letters.detail("notification-events", letter("m-1", "InvalidBody", None))
    assert (shown["queue"], shown["reason"], shown["enqueuedAt"]) == ("notification-events", "InvalidBody", None)
    assert (shown["headers"], shown["body"]) == ({"x-correlation-id": "c-1"}, {"deliveryId": "d-1"})


def test_the_summary_gives_each_queue_its_count_and_oldest_and_says_when_counting_stopped() -> None:
    queues = [
        QueueDeadLetters(
            "notification-events", 2, False, letter("m-1", "MaxDeliveryCountExceeded", timedelta(hours=3))
        ),
        QueueDeadLetters("workflow-events", 0, False, None),
        QueueDeadLetters("delivery-telemetry", 10_000, True, letter("m-2", "InvalidBody", timedelta(seconds=5))),
    ]
    rows = dead_letters.summary(queues)
    assert [(row["queue"], row["count"], row["capped"]) for row in rows] == [
        ("notification-events", 2, False),
        ("workflow-events", 0, False),
        ("delivery-telemetry", 10_000, True),
    ]
    assert rows[0]["oldest"]["id"] == "m-1"
    assert rows[1]["oldest"] is None
    assert dead_letters.summary_table(queues, NOW).splitlines() == [
        "QUEUE                DEAD    OLDEST  OLDEST ID  REASON",
        "notification-events  2       3h0m    m-1        MaxDeliveryCountExceeded",
        "workflow-events      0",
        "delivery-telemetry   10000+  5s      m-2        InvalidBody",
    ]


def test_the_letters_table_lists_one_queue_oldest_first_as_given() -> None:
    letters = [letter("m-1", "MaxDeliveryCountExceeded", timedelta(minutes=7)), letter("m-2", "InvalidBody", None)]
    assert dead_letters.letters_table(letters, NOW).splitlines() == [
        "AGE   ID   TYPE                  DELIVERIES  REASON",
        "7m0s  m-1  DeliveryStageChanged  3           MaxDeliveryCountExceeded",
        "-     m-2  DeliveryStageChanged  3           InvalidBody",
    ]
