"""kopf glue, kept thin: parse the object, call render, apply, write status and events.

`kopf run -m fabrikam.operator.handlers` (or `fabrikam operator run`) registers every handler below.
"""

from fabrikam.operator.handlers import children, drone_service, indexes, off_hours, platform, startup

__all__ = ["children", "drone_service", "indexes", "off_hours", "platform", "startup"]
