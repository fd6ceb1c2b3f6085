"""AT's calendar: Portugal's mainland time (start dates are checked against its day)."""
from datetime import datetime
from zoneinfo import ZoneInfo

LISBON = ZoneInfo("Europe/Lisbon")


def today_in_portugal():
    """AT's calendar day."""
    return datetime.now(LISBON).date()
