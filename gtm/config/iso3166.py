"""ISO 3166 codes for geo rules: countries (3166-1 alpha-2) and subdivisions (3166-2), from pycountry.

pycountry carries the ISO lists as data and is kept current with them; a hand-kept copy would go stale.
MaxMind databases use the same codes (a subdivision's ``iso_code`` is the part after the dash).
"""
from __future__ import annotations

from functools import lru_cache

import pycountry

# Codes MaxMind uses that are not (or no longer) in ISO 3166-1: EU and AP for networks without a country,
# XK for Kosovo (user-assigned, used by MaxMind and the EU).
_EXTRA_COUNTRIES = frozenset({"EU", "AP", "XK"})


@lru_cache(maxsize=None)
def is_country(code: str) -> bool:
    return code in _EXTRA_COUNTRIES or (len(code) == 2 and pycountry.countries.get(alpha_2=code) is not None)


@lru_cache(maxsize=None)
def is_subdivision(code: str) -> bool:
    country, dash, _ = code.partition("-")
    return bool(dash) and is_country(country) and pycountry.subdivisions.get(code=code) is not None
