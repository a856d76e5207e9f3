"""RFC 3339 event timestamps (contract §4.2): a zone is required, any number of fractional digits,
real calendar instants only; normalised to UTC microseconds since the Unix epoch."""

from __future__ import annotations

import re
from datetime import date

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,  # \d must not match non-ASCII digits, which int() would happily convert
)
_UNIX_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAY_US = 86_400_000_000
# The instants §4.6 check 4 accepts once the offset is applied: 0001-01-01T00:00:00Z to
# 9999-12-31T23:59:59.999Z (beyond them no UTC calendar date exists for the event).
MIN_INSTANT_US = (date(1, 1, 1).toordinal() - _UNIX_EPOCH_ORDINAL) * _DAY_US
MAX_INSTANT_US = (date(9999, 12, 31).toordinal() - _UNIX_EPOCH_ORDINAL) * _DAY_US + 86_399_999_000
# Days since the epoch per "YYYY-MM-DD" seen; bounded so hostile input cannot grow it forever.
_day_cache: dict[str, int] = {}
_DAY_CACHE_MAX = 50_000
# UTC microseconds of "YYYY-MM-DDTHH:MM" for the extension's own format (…SS.mmmZ): a hit skips the
# regex, which is most of the cost on the ingest hot path.
_minute_cache: dict[str, int] = {}
_MINUTE_CACHE_MAX = 100_000


def _epoch_day(text: str, year: int, month: int, day: int) -> int | None:
    cached = _day_cache.get(text)
    if cached is not None:
        return cached
    try:
        value = date(year, month, day).toordinal() - _UNIX_EPOCH_ORDINAL
    except ValueError:
        return None
    if len(_day_cache) >= _DAY_CACHE_MAX:
        _day_cache.clear()
    _day_cache[text] = value
    return value


def parse_timestamp_us(value: str) -> int | None:
    """UTC microseconds since the epoch, or None when ``value`` is not a valid RFC 3339 instant.

    Fractional digits beyond microseconds are truncated. Leap seconds (``:60``), impossible
    dates (``2026-02-30``), and timestamps without a zone are invalid.
    """
    if len(value) == 24 and value[23] == "Z" and value[19] == "." and value[16] == ":":
        base = _minute_cache.get(value[:16])
        if base is not None:
            tail = value[17:19] + value[20:23]
            if tail.isascii() and tail.isdigit():
                sec_ms = int(tail)
                if sec_ms < 60_000:
                    return base + sec_ms * 1000
    match = _RFC3339.fullmatch(value)
    if match is None:
        return None
    y, mo, d, h, mi, s, frac, z, sign, oh, om = match.groups()
    day = _epoch_day(value[:10], int(y), int(mo), int(d))
    if day is None:
        return None
    hour, minute, second = int(h), int(mi), int(s)
    if hour > 23 or minute > 59 or second > 59:
        return None
    micros = 0
    if frac:
        micros = int((frac + "00000")[:6])
    total = day * _DAY_US + ((hour * 60 + minute) * 60 + second) * 1_000_000 + micros
    if z is not None:
        if len(value) == 24 and z == "Z" and value[10] == "T":
            if len(_minute_cache) >= _MINUTE_CACHE_MAX:
                _minute_cache.clear()
            _minute_cache[value[:16]] = day * _DAY_US + (hour * 60 + minute) * 60_000_000
    else:
        off_h, off_m = int(oh), int(om)
        if off_h > 23 or off_m > 59:
            return None
        offset = (off_h * 60 + off_m) * 60_000_000
        total = total - offset if sign == "+" else total + offset
    if not MIN_INSTANT_US <= total <= MAX_INSTANT_US:
        return None
    return total
