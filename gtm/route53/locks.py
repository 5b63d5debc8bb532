"""The apply lock: one ``gtm route53 apply`` (or ``destroy``) at a time per hosted zone.

Two kinds, one interface (``take(seconds, force)``, ``release()``):

* :class:`ZoneLock`, the default: a TXT record ``_gtm-lock.<zone>`` in the hosted zone itself, created with
  CREATE, which Route53 refuses while it exists (:func:`gtm.route53.aws.take_lock`);
* :class:`gtm.state.dynamodb.TableLock` when the override store is a DynamoDB table (``overrides: {store:
  dynamodb}``, the table drills and failovers already share): an item ``pk="lock", sk="route53:<zone>"``,
  taken with a conditional PutItem. It writes nothing to the zone (no change batch, no propagation), and every
  machine that drains through that table sees it. ``gtm route53`` (gtm.cli.route53) chooses.
"""
from __future__ import annotations

from typing import Protocol

from gtm.route53 import aws
from gtm.route53.model import RecordSpec


class ApplyLock(Protocol):
    def take(self, seconds: float, force: bool = False) -> None: ...
    def release(self) -> None: ...


class ZoneLock:
    """The lock as a TXT record in the hosted zone."""

    def __init__(self, r53: aws.Route53, zone_id: str, zone: str, owner: str, holder: str):
        self.r53, self.zone_id, self.zone, self.owner, self.holder = r53, zone_id, zone, owner, holder
        self.record: RecordSpec | None = None

    def take(self, seconds: float, force: bool = False) -> None:
        self.record = aws.take_lock(self.r53, self.zone_id, self.zone, self.owner, self.holder, force,
                                    seconds=seconds)

    def release(self) -> None:
        if self.record is not None:
            aws.release_lock(self.r53, self.zone_id, self.record)
            self.record = None
