"""Configuration: YAML zones and policies, RFC 1035 master files -> validated :class:`gtm.model.Config`."""
from gtm.config.loader import discover, load

__all__ = ["discover", "load"]
