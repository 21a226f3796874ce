"""What a new subscription is sent at once: the delivery's current stage, or nothing before its first one."""

from datetime import UTC, datetime

from fabrikam.workloads.contracts import DeliveryStageChanged
from fabrikam.workloads.notification.handlers import event_id, subscribe_notices
from fabrikam.workloads.notification.subscriptions import Subscription

EMAIL = Subscription("email:0123456789abcdef", "email", "ana@contoso.example")
SMS = Subscription("sms:fedcba9876543210", "sms", "+14255550199")


def test_before_the_first_stage_change_nothing_is_sent_at_once() -> None:
    assert subscribe_notices(None, [EMAIL, SMS]) == []


def test_after_a_stage_change_each_new_subscriber_gets_the_current_stage_under_its_own_id() -> None:
    current = DeliveryStageChanged(delivery_id="d-1", stage="headed_to_dropoff", at=datetime.now(UTC))
    notices = subscribe_notices(current, [EMAIL, SMS])
    assert [notice.id for notice in notices] == [
        f"{event_id(current)}:for:{EMAIL.key}",
        f"{event_id(current)}:for:{SMS.key}",
    ]
    assert all(DeliveryStageChanged.model_validate(notice.body) == current for notice in notices)
