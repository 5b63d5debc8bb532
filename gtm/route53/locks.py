"""The apply lock: one ``gtm route53 apply`` (or ``destroy``) at a time per hosted zone.

Two kinds, one interface (``take(seconds, force)``, ``release()``):

* :class:`ZoneLock`, the default: a TXT record ``_gtm-lock.<zone>`` in the hosted zone itself, created with
  CREATE, which Route53 refuses while it exists (:func:`gtm.route53.aws.take_lock`);
* :class:`gtm.state.dynamodb.TableLock` when the override store is a DynamoDB table (``overrides: {store:
  dynamodb}``, the table drills and failovers already share): an item ``pk="lock", sk="route53:<zone>"``,
  taken with a conditional PutItem. It writes nothing to the zone (no change batch, no propagation), and every
  machine that drains through that table sees it.
"""
from __future__ import annotations

from typing import Any, Protocol

from gtm.model.override import StoreSettings
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


def apply_lock(store: StoreSettings | dict[str, Any] | None, r53: aws.Route53, zone_id: str, zone: str, owner: str,
               holder: str) -> ApplyLock:
    """The zone's apply lock: in the override table when the store (``store``, or a saved plan's record of it)
    is DynamoDB, else in the zone."""
    if isinstance(store, dict):
        store = StoreSettings(kind="dynamodb", table=str(store["table"]), aws_region=store.get("aws_region"))
    if store is not None and store.kind == "dynamodb":
        from gtm.state.dynamodb import DynamoStore, TableLock

        return TableLock(DynamoStore(store.table, store.aws_region), f"route53:{zone}", f"{holder} (owner {owner})")
    return ZoneLock(r53, zone_id, zone, owner, holder)


def lock_record(store: StoreSettings) -> dict[str, Any] | None:
    """What a saved plan keeps of the store to take the same lock when it is applied."""
    return {"table": store.table, "aws_region": store.aws_region} if store.kind == "dynamodb" else None
