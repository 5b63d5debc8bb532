"""gtm: a global traffic manager — an authoritative DNS server that steers clients to regional load balancers."""

__version__ = "0.1.0"
