"""DNSSEC: keys (gtm.dnssec.keys) and the signing of compiled answers."""
