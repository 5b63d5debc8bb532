"""Route53's limits, written once (the ChangeResourceRecordSets and health check quotas of the API reference and
the Route53 quotas page); the planner keeps within them and the validator checks them."""
from __future__ import annotations

# one ChangeResourceRecordSets call
MAX_RR_ELEMENTS = 1000      # ResourceRecord elements (UPSERT counts twice)
MAX_VALUE_CHARS = 32_000    # characters of Value (UPSERT counts twice)
# one record set
MAX_SET_ID = 128
MAX_WEIGHT = 255
MAX_TTL = 2_147_483_647
MAX_VALUES = 400            # values in one rrset
MAX_GROUP = 100             # geolocation, latency, multivalue and weighted rrsets of one name and type
MAX_FQDN = 255
MAX_TXT_STRING = 255
# health checks
MAX_CHILDREN = 255          # child health checks of a CALCULATED check
MAX_HEALTH_THRESHOLD = 256  # HealthThreshold's API range is 0..256
MAX_SEARCH = 255
MAX_PATH = 255
# CreateHealthCheck is throttled to a burst of 50, refilled at 0.5/s (gtm.route53.aws paces to match)
CREATE_CHECK_BURST, CREATE_CHECK_RATE = 50.0, 0.5
