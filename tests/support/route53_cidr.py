"""Route53's CIDR collections and IP-based records, in front of moto's route53 client.

moto has no CIDR collection API (404) and drops ``CidrRoutingConfig`` from the record sets it stores (moto gaps
6, pinned in tests/integration/test_route53_moto_gaps.py). This layer serves the six CIDR calls from memory and
keeps each rrset's ``CidrRoutingConfig`` beside moto's copy, with the rules of the real API that gtm's apply
depends on (botocore's service model for the shapes; the API reference for the errors):

* names and location names match their patterns; a change request carries 1 to 1,000 changes and at most
  1,000 CIDR blocks; a block is a network address with an IPv4 prefix of /1 to /24 or an IPv6 prefix of /1 to
  /48; a block sits in one location of a collection only;
* ``CollectionVersion`` starts at 1 and goes up by one per change; a stale one is
  ``CidrCollectionVersionMismatchException``;
* removing the last block of a location a record names is ``CidrBlockInUseException``; deleting a collection
  that still has locations, or that a record names, is ``CidrCollectionInUseException``; a name taken by
  another caller reference is ``CidrCollectionAlreadyExistsException``; five collections per account;
* a record naming a collection or location that does not exist is refused (``InvalidChangeBatch``), as are
  IP-based records of one name and type that name two collections;
* listings page with ``NextToken`` (``MaxResults`` honoured, so that paging is exercised).
"""
from __future__ import annotations

import ipaddress
import re
import uuid
from collections import Counter
from typing import Any

from botocore.exceptions import ClientError

NAME = re.compile(r"[0-9A-Za-z_\-]{1,64}")
LOCATION = re.compile(r"[0-9A-Za-z_\-]{1,16}")
MAX_PREFIX = {4: 24, 6: 48}
MAX_COLLECTIONS = 5


def _error(operation: str, code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def _zone(zone_id: str) -> str:
    return zone_id.split("/")[-1]


def _name(name: str) -> str:
    name = name.lower()
    return name if name.endswith(".") else name + "."


class CidrRoute53:
    """A route53 client (moto's) with Route53's CIDR calls added; ``calls`` counts the CIDR calls made."""

    def __init__(self, api: Any, calls: Counter[str] | None = None) -> None:
        self.api = api
        self.calls = calls if calls is not None else Counter()
        self.collections: dict[str, dict[str, Any]] = {}
        self.routing: dict[tuple[str, str, str, str], dict[str, str]] = {}  # (zone, name, type, set id) -> config
        self.fail_next: dict[str, str] = {}  # operation -> error code, raised once (fault injection)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.api, name)

    def _count(self, operation: str) -> None:
        self.calls.update([operation])
        code = self.fail_next.pop(operation, None)
        if code is not None:
            raise _error(operation, code, f"injected {code}")

    def _collection(self, operation: str, cid: str) -> dict[str, Any]:
        if not re.fullmatch(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}", cid or ""):
            raise _error(operation, "InvalidInput", f"1 validation error detected: Value '{cid}' at 'id' failed to "
                                                    "satisfy constraint")
        c = self.collections.get(cid)
        if c is None:
            raise _error(operation, "NoSuchCidrCollectionException", f"The CIDR collection {cid} does not exist.")
        return c

    def _in_use(self, cid: str, location: str | None = None) -> bool:
        return any(cfg["CollectionId"] == cid and (location is None or cfg["LocationName"] == location)
                   for cfg in self.routing.values())

    @staticmethod
    def _page(items: list[Any], kwargs: dict[str, Any], key: str) -> dict[str, Any]:
        start = int(kwargs.get("NextToken") or 0)
        size = max(1, int(kwargs.get("MaxResults") or 100))
        out: dict[str, Any] = {key: items[start:start + size]}
        if start + size < len(items):
            out["NextToken"] = str(start + size)
        return out

    # -- the CIDR calls
    def create_cidr_collection(self, **kw: Any) -> dict[str, Any]:
        op = "CreateCidrCollection"
        self._count(op)
        name, ref = kw.get("Name", ""), kw.get("CallerReference", "")
        if not NAME.fullmatch(name) or not 1 <= len(ref) <= 64:
            raise _error(op, "InvalidInput", f"invalid Name {name!r} or CallerReference")
        for cid, c in self.collections.items():
            if c["Name"] == name:
                if c["CallerReference"] == ref:  # the same request again: the same collection
                    return {"Collection": {"Id": cid, "Name": name, "Version": c["Version"], "Arn": c["Arn"]}}
                raise _error(op, "CidrCollectionAlreadyExistsException",
                             f"A CIDR collection with the name {name} already exists.")
        if len(self.collections) >= MAX_COLLECTIONS:
            raise _error(op, "LimitsExceeded", f"more than {MAX_COLLECTIONS} CIDR collections")
        cid = str(uuid.uuid4())
        arn = f"arn:aws:route53:::cidrcollection/{cid}"
        self.collections[cid] = {"Name": name, "CallerReference": ref, "Version": 1, "Arn": arn, "locations": {}}
        return {"Collection": {"Id": cid, "Name": name, "Version": 1, "Arn": arn},
                "Location": f"https://route53.amazonaws.com/2013-04-01/cidrcollection/{cid}"}

    def change_cidr_collection(self, **kw: Any) -> dict[str, Any]:
        op = "ChangeCidrCollection"
        self._count(op)
        c = self._collection(op, kw.get("Id", ""))
        if "CollectionVersion" in kw and kw["CollectionVersion"] != c["Version"]:
            raise _error(op, "CidrCollectionVersionMismatchException",
                         f"The CIDR collection version {kw['CollectionVersion']} does not match {c['Version']}.")
        changes = kw.get("Changes", [])
        if not 1 <= len(changes) <= 1000 or sum(len(ch.get("CidrList", [])) for ch in changes) > 1000:
            raise _error(op, "InvalidInput", "1 to 1000 changes and at most 1000 CIDR blocks per request")
        locations = {loc: set(blocks) for loc, blocks in c["locations"].items()}
        for ch in changes:
            loc, action, blocks = ch.get("LocationName", ""), ch.get("Action"), ch.get("CidrList", [])
            if not LOCATION.fullmatch(loc) or action not in ("PUT", "DELETE_IF_EXISTS") or not blocks:
                raise _error(op, "InvalidInput", f"invalid change {ch!r}")
            for block in blocks:
                try:
                    net = ipaddress.ip_network(block)
                except ValueError:
                    raise _error(op, "InvalidInput", f"{block} is not a CIDR block") from None
                if not 1 <= net.prefixlen <= MAX_PREFIX[net.version]:
                    raise _error(op, "InvalidInput", f"{block}: the prefix length must be 1-{MAX_PREFIX[net.version]}")
                if action == "PUT":
                    elsewhere = [other for other, held in locations.items() if other != loc and str(net) in held]
                    if elsewhere:
                        raise _error(op, "InvalidInput", f"{block} is already in location {elsewhere[0]}")
                    locations.setdefault(loc, set()).add(str(net))
                else:
                    locations.get(loc, set()).discard(str(net))
            if action == "DELETE_IF_EXISTS" and loc in locations and not locations[loc]:
                if self._in_use(kw["Id"], loc):
                    raise _error(op, "CidrBlockInUseException",
                                 f"location {loc} would be left empty while a record set uses it")
                del locations[loc]
        c["locations"] = locations
        c["Version"] += 1
        return {"Id": str(uuid.uuid4())}

    def list_cidr_collections(self, **kw: Any) -> dict[str, Any]:
        self._count("ListCidrCollections")
        items = [{"Id": cid, "Name": c["Name"], "Version": c["Version"], "Arn": c["Arn"]}
                 for cid, c in sorted(self.collections.items(), key=lambda kv: kv[1]["Name"])]
        return self._page(items, kw, "CidrCollections")

    def list_cidr_locations(self, **kw: Any) -> dict[str, Any]:
        c = self._collection("ListCidrLocations", kw.get("CollectionId", ""))
        self._count("ListCidrLocations")
        return self._page([{"LocationName": loc} for loc in sorted(c["locations"])], kw, "CidrLocations")

    def list_cidr_blocks(self, **kw: Any) -> dict[str, Any]:
        c = self._collection("ListCidrBlocks", kw.get("CollectionId", ""))
        self._count("ListCidrBlocks")
        loc = kw.get("LocationName")
        if loc not in c["locations"]:
            raise _error("ListCidrBlocks", "NoSuchCidrLocationException", f"no location {loc}")
        return self._page([{"CidrBlock": b, "LocationName": loc} for b in sorted(c["locations"][loc])], kw,
                          "CidrBlocks")

    def delete_cidr_collection(self, **kw: Any) -> dict[str, Any]:
        op = "DeleteCidrCollection"
        self._count(op)
        c = self._collection(op, kw.get("Id", ""))
        if c["locations"] or self._in_use(kw["Id"]):
            raise _error(op, "CidrCollectionInUseException", "the collection is not empty, or a record set uses it")
        del self.collections[kw["Id"]]
        return {}

    # -- records
    def change_resource_record_sets(self, **kw: Any) -> Any:
        zone = _zone(kw["HostedZoneId"])
        routing = dict(self.routing)
        for ch in kw["ChangeBatch"]["Changes"]:
            rr = ch["ResourceRecordSet"]
            key = (zone, _name(rr["Name"]), rr["Type"], rr.get("SetIdentifier", ""))
            cfg = rr.get("CidrRoutingConfig")
            if ch["Action"] == "DELETE":
                if routing.get(key) != cfg:
                    raise _error("ChangeResourceRecordSets", "InvalidChangeBatch",
                                 f"Tried to delete resource record set [name='{rr['Name']}', type='{rr['Type']}'] "
                                 "but the values provided do not match the current values")
                routing.pop(key, None)
                continue
            if cfg is not None:
                c = self.collections.get(cfg.get("CollectionId", ""))
                if c is None or (cfg.get("LocationName") != "*" and cfg.get("LocationName") not in c["locations"]):
                    raise _error("ChangeResourceRecordSets", "InvalidChangeBatch",
                                 f"[CIDR collection {cfg.get('CollectionId')} has no location "
                                 f"{cfg.get('LocationName')}]")
                routing[key] = dict(cfg)
            else:
                routing.pop(key, None)
        groups: dict[tuple[str, str, str], set[str]] = {}
        for (z, name, rtype, _), cfg in routing.items():
            groups.setdefault((z, name, rtype), set()).add(cfg["CollectionId"])
        for (z, name, rtype), ids in groups.items():
            if len(ids) > 1:
                raise _error("ChangeResourceRecordSets", "InvalidChangeBatch",
                             f"[{name} {rtype}: IP-based records name more than one CIDR collection]")
        out = self.api.change_resource_record_sets(**kw)  # (moto drops CidrRoutingConfig: kept here instead)
        self.routing = routing
        return out

    def list_resource_record_sets(self, **kw: Any) -> Any:
        out = self.api.list_resource_record_sets(**kw)
        zone = _zone(kw["HostedZoneId"])
        for rr in out.get("ResourceRecordSets", []):
            cfg = self.routing.get((zone, _name(rr["Name"]), rr["Type"], rr.get("SetIdentifier", "")))
            if cfg is not None:
                rr["CidrRoutingConfig"] = dict(cfg)
        return out
