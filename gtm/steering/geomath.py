"""Great-circle distance (pure)."""
from __future__ import annotations

import math

from gtm.model import Location

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)


def distance_km(a: Location, b: Location) -> float:
    """Great-circle distance by the haversine formula, in kilometres."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
