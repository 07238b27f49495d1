"""Teaches Schemathesis the API's own string formats, so it generates values the server takes as it documents them.

The formats are the server's (packages/contracts/src/eventRegistry.ts): an IANA time zone, an ISO 4217 currency
(either case), and an RFC 3339 instant whose written year is 1970 to 2199.
"""
import schemathesis
from hypothesis import strategies as st

# Zones every runtime knows (Python's tzdata and Node's Intl may differ on rarer ones), half-hour and DST ones included.
ZONES = ["UTC", "America/Chicago", "America/New_York", "America/Santiago", "Europe/Paris", "Europe/London", "Asia/Kolkata", "Asia/Tokyo", "Australia/Adelaide", "Pacific/Chatham", "Africa/Nairobi", "America/Sao_Paulo"]
CURRENCIES = ["USD", "EUR", "JPY", "KWD", "GBP", "CHF", "CAD", "AUD", "INR", "CLP", "NZD", "SEK"]

schemathesis.openapi.format("iana-time-zone", st.sampled_from(ZONES))
schemathesis.openapi.format("iso-4217", st.sampled_from(CURRENCIES + [c.lower() for c in CURRENCIES]))


@st.composite
def instants(draw):
    year = draw(st.integers(1971, 2198))
    month = draw(st.integers(1, 12))
    day = draw(st.integers(1, 28))
    hour, minute, second = draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 59))
    offset = draw(st.sampled_from(["Z", "+00:00", "-05:00", "+05:30", "+12:45"]))
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{offset}"


schemathesis.openapi.format("date-time", instants())
