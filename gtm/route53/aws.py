"""Route53 through boto3 (the only boto3 importer): read the zone and gtm's health checks, apply a Plan.

Reads are paginated with a guard against a page that repeats (moto never returns NextRecordIdentifier).
Writes follow the plan's order: health checks first (children before the CALCULATED checks that combine them),
then the CIDR collection's new blocks, then the record batches, then the blocks no record names any more, then
the deletion of checks nothing uses any more. Throttling and
PriorRequestNotComplete are retried with exponential backoff; credentials, region and profile come from
boto3's standard chain.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import replace
from typing import Any, Callable, Iterable, Protocol

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from gtm.errors import ApplyError, GtmError
from gtm.route53.elb import ZONE_IDS
from gtm.route53.model import HealthCheckSpec, RecordSpec
from gtm.route53.limits import CREATE_CHECK_BURST, CREATE_CHECK_RATE
from gtm.route53.plan import Collection, ExistingCheck, Plan, normal_field

log = logging.getLogger(__name__)

RETRY_CODES = {"Throttling", "ThrottlingException", "PriorRequestNotComplete", "RequestLimitExceeded"}
TAG_KEY, TAG_OWNER = "gtm:key", "gtm:owner"


class AwsError(GtmError):
    """A Route53 error, with its code (e.g. ``HealthCheckVersionMismatch``)."""

    def __init__(self, message: str, code: str = ""):
        super().__init__(message)
        self.code = code


class Pacer:
    """Client-side token buckets shaped like Route53's API throttling (per account: burst 50, 10 requests/s;
    CreateHealthCheck: burst 50, 0.5/s; DeleteHealthCheck: burst 15, 3/s), so that creating hundreds of health
    checks waits its turn instead of being throttled and retried. ``clock`` and ``sleep`` are arguments so the
    pacing itself can be tested without waiting."""

    ACCOUNT = (50.0, 10.0)
    OPERATIONS = {"create_health_check": (CREATE_CHECK_BURST, CREATE_CHECK_RATE), "delete_health_check": (15.0, 3.0)}

    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.clock, self.sleep = clock, sleep
        self.buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, at)
        self.waited = 0.0

    def _take(self, name: str, burst: float, rate: float) -> float:
        """Take one token from bucket ``name``; returns how long to wait for it (and books that wait)."""
        now = self.clock()
        tokens, at = self.buckets.get(name, (burst, now))
        tokens = min(burst, tokens + (now - at) * rate) - 1
        self.buckets[name] = (tokens, now)
        return max(0.0, -tokens / rate)

    def wait(self, operation: str) -> float:
        delay = self._take("account", *self.ACCOUNT)
        if operation in self.OPERATIONS:
            delay = max(delay, self._take(operation, *self.OPERATIONS[operation]))
        if delay > 0:
            if delay >= 1:
                log.info("pacing %s: waiting %.1f s (Route53's request rate)", operation, delay)
            self.sleep(delay)
            self.waited += delay
        return delay


class Api(Protocol):
    """The Route53 calls gtm makes (a boto3 ``route53`` client has them; so does moto's)."""

    def get_hosted_zone(self, **kwargs: Any) -> Any: ...
    def get_change(self, **kwargs: Any) -> Any: ...
    def list_hosted_zones_by_name(self, **kwargs: Any) -> Any: ...
    def list_resource_record_sets(self, **kwargs: Any) -> Any: ...
    def change_resource_record_sets(self, **kwargs: Any) -> Any: ...
    def list_health_checks(self, **kwargs: Any) -> Any: ...
    def create_health_check(self, **kwargs: Any) -> Any: ...
    def update_health_check(self, **kwargs: Any) -> Any: ...
    def delete_health_check(self, **kwargs: Any) -> Any: ...
    def change_tags_for_resource(self, **kwargs: Any) -> Any: ...
    def list_cidr_collections(self, **kwargs: Any) -> Any: ...
    def list_cidr_locations(self, **kwargs: Any) -> Any: ...
    def list_cidr_blocks(self, **kwargs: Any) -> Any: ...
    def create_cidr_collection(self, **kwargs: Any) -> Any: ...
    def change_cidr_collection(self, **kwargs: Any) -> Any: ...
    def delete_cidr_collection(self, **kwargs: Any) -> Any: ...


class Route53:
    """Route53 as gtm calls it: the API client, the pacer that shapes requests like Route53's throttling, and
    the sleep used between retries. One per command; nothing module-wide, so a test passes a virtual pacer."""

    def __init__(self, api: Api, pacer: Pacer | None = None, sleep: Callable[[float], None] = time.sleep):
        self.api = api
        self.pacer = pacer or Pacer(sleep=sleep)
        self.sleep = sleep

    def call(self, operation: str, **kwargs: Any) -> Any:
        """``operation(**kwargs)``, paced, with backoff on throttling and PriorRequestNotComplete; other errors
        as AwsError (one line, with the operation and Route53's code and message)."""
        fn = getattr(self.api, operation)
        delay = 0.5
        for attempt in range(8):
            self.pacer.wait(operation)
            try:
                return fn(**kwargs)
            except ClientError as e:
                code = e.response.get("Error", {}).get("Code", "")
                if code in RETRY_CODES and attempt < 7:
                    self.sleep(delay)
                    delay = min(delay * 2, 20)
                    continue
                raise AwsError(f"Route53 {operation}: {code}: {e.response.get('Error', {}).get('Message', e)}",
                               code) from None
            except NoCredentialsError:
                raise GtmError("no AWS credentials found (boto3's chain: environment, profile, instance role)") from None
            except BotoCoreError as e:
                raise GtmError(f"Route53 {operation}: {e}") from None
        raise AssertionError("unreachable")


def client(profile: str | None = None) -> Route53:
    """Route53 from boto3's standard credential chain, with adaptive retries."""
    try:
        session = boto3.session.Session(profile_name=profile) if profile else boto3.session.Session()
    except ProfileNotFound as e:
        raise GtmError(f"--profile: {e}") from None
    return Route53(session.client("route53", config=BotoConfig(retries={"mode": "adaptive", "max_attempts": 8})))


def find_zone(r53: Route53, zone: str, zone_id: str | None = None) -> str:
    """The id of the public hosted zone ``zone``: ``zone_id`` when given (it must be that zone, and public), else
    the one public zone of that name, following ListHostedZonesByName's pages. GtmError when there is none, or
    when two public zones have the name (each id is named: choose one with --zone-id)."""
    if zone_id is not None:
        wanted = zone_id.split("/")[-1]
        try:
            got = r53.call("get_hosted_zone", Id=wanted)["HostedZone"]
        except GtmError as e:
            raise GtmError(f"--zone-id {wanted}: {e}") from None
        if got["Name"].lower() != zone or got.get("Config", {}).get("PrivateZone", False):
            raise GtmError(f"--zone-id {wanted} is the {'private' if got.get('Config', {}).get('PrivateZone') else 'public'} "
                           f"hosted zone {got['Name']}, not the public zone {zone}")
        return wanted
    found: list[str] = []
    kwargs: dict[str, Any] = {"DNSName": zone, "MaxItems": "100"}
    for _ in range(1000):  # bounded: a zone name has few hosted zones
        out = r53.call("list_hosted_zones_by_name", **kwargs)
        for z in out.get("HostedZones", []):
            if z["Name"].lower() == zone and not z.get("Config", {}).get("PrivateZone", False):
                found.append(str(z["Id"]).split("/")[-1])
        after = str(out.get("NextDNSName", "")).lower()
        if not out.get("IsTruncated") or (after and after != zone):
            break  # the pages are in name order: past this name, no more of its zones
        kwargs = {"DNSName": out["NextDNSName"], "HostedZoneId": out["NextHostedZoneId"], "MaxItems": "100"}
    found = list(dict.fromkeys(found))
    if len(found) > 1:
        raise GtmError(f"{len(found)} public hosted zones are named {zone} ({', '.join(found)}); choose one with "
                       f"--zone-id")
    if not found:
        raise GtmError(f"no public hosted zone {zone} in this AWS account")
    return found[0]


ELB_ZONES = frozenset(z for pair in ZONE_IDS.values() for z in pair)


def _name(text: str) -> str:
    text = text.lower().replace("\\052", "*")
    return text if text.endswith(".") else text + "."


def read_records(r53: Route53, zone_id: str, check_keys: dict[str, str]) -> list[RecordSpec]:
    """Every rrset of the zone as RecordSpec (health check ids mapped to gtm keys where known)."""
    out: list[RecordSpec] = []
    kwargs: dict[str, Any] = {"HostedZoneId": zone_id, "MaxItems": "300"}
    seen: set[tuple[str, str, str]] = set()
    while True:
        page = r53.call("list_resource_record_sets", **kwargs)
        before = len(seen)
        for rr in page.get("ResourceRecordSets", []):
            spec = to_spec(rr, check_keys)
            if spec.key in seen:
                continue  # a repeated page (moto ignores StartRecordIdentifier)
            seen.add(spec.key)
            out.append(spec)
        if not page.get("IsTruncated"):
            return out
        if len(seen) == before:
            raise GtmError(f"Route53 paging repeats itself at {page.get('NextRecordName')} "
                           f"{page.get('NextRecordType')} without returning new record sets")
        nxt = (page.get("NextRecordName"), page.get("NextRecordType"), page.get("NextRecordIdentifier"))
        key = (_name(nxt[0] or ""), nxt[1] or "", nxt[2] or "")
        if key in seen and not nxt[2]:
            log.warning("Route53 paging repeats at %s %s; stopping (all distinct rrsets were read)", nxt[0], nxt[1])
            return out
        kwargs.update(StartRecordName=nxt[0], StartRecordType=nxt[1])
        if nxt[2]:
            kwargs["StartRecordIdentifier"] = nxt[2]
        else:
            kwargs.pop("StartRecordIdentifier", None)
        if len(seen) > 1_000_000:
            raise GtmError("Route53 paging does not end")


def to_spec(rr: dict[str, Any], check_keys: dict[str, str]) -> RecordSpec:
    geo: tuple[str, ...] | None = None
    g = rr.get("GeoLocation")
    if g:
        if g.get("ContinentCode"):
            geo = ("continent", g["ContinentCode"])
        elif g.get("CountryCode") == "*":
            geo = ("default",)
        elif g.get("SubdivisionCode"):
            geo = ("subdivision", g["CountryCode"], g["SubdivisionCode"])
        else:
            geo = ("country", g["CountryCode"])
    alias = rr.get("AliasTarget")
    hc = rr.get("HealthCheckId")
    cidr = rr.get("CidrRoutingConfig")
    return RecordSpec(
        name=_name(rr["Name"]), type=rr["Type"], set_id=rr.get("SetIdentifier"), ttl=rr.get("TTL"),
        values=tuple(v["Value"] for v in rr.get("ResourceRecords", [])),
        alias=_name(alias["DNSName"]) if alias else None,
        evaluate_target_health=bool(alias and alias.get("EvaluateTargetHealth")),
        # (a load balancer's zone is kept, to compare with what gtm wants; the zone's own id is the default)
        alias_zone=alias["HostedZoneId"] if alias and alias.get("HostedZoneId") in ELB_ZONES else None,
        health_check=check_keys.get(hc, hc) if hc else None, failover=rr.get("Failover"),
        weight=rr.get("Weight"), geo=geo, region=rr.get("Region"), multivalue=bool(rr.get("MultiValueAnswer")),
        cidr=(check_keys.get(cidr["CollectionId"], cidr["CollectionId"]), cidr["LocationName"]) if cidr else None,
        raw=rr)


def to_aws(r: RecordSpec, zone_id: str, check_ids: dict[str, str]) -> dict[str, Any]:
    rr: dict[str, Any] = {"Name": r.name, "Type": r.type}
    if r.set_id is not None:
        rr["SetIdentifier"] = r.set_id
    if r.alias is not None:
        rr["AliasTarget"] = {"HostedZoneId": r.alias_zone or zone_id, "DNSName": r.alias,
                             "EvaluateTargetHealth": r.evaluate_target_health}
    else:
        rr["TTL"] = r.ttl
        rr["ResourceRecords"] = [{"Value": v} for v in r.values]
    if r.health_check is not None:
        rr["HealthCheckId"] = check_ids.get(r.health_check, r.health_check)
    if r.failover:
        rr["Failover"] = r.failover
    if r.weight is not None:
        rr["Weight"] = r.weight
    if r.geo is not None:
        rr["GeoLocation"] = ({"ContinentCode": r.geo[1]} if r.geo[0] == "continent" else
                             {"CountryCode": "*"} if r.geo[0] == "default" else
                             {"CountryCode": r.geo[1], "SubdivisionCode": r.geo[2]} if r.geo[0] == "subdivision"
                             else {"CountryCode": r.geo[1]})
    if r.region is not None:
        rr["Region"] = r.region
    if r.multivalue:
        rr["MultiValueAnswer"] = True
    if r.cidr is not None:
        rr["CidrRoutingConfig"] = {"CollectionId": check_ids.get(r.cidr[0], r.cidr[0]), "LocationName": r.cidr[1]}
    return rr


# -- the CIDR collection ------------------------------------------------------------------------------------
CIDR_CHANGE_MAX = 1000  # CIDR blocks in one ChangeCidrCollection request


def _pages(fetch: Callable[..., Any], key: str, **kwargs: Any) -> list[Any]:
    """Every item of a NextToken-paged CIDR listing (``fetch(**kwargs)`` one page)."""
    out: list[Any] = []
    tokens: set[str] = set()
    while True:
        page = fetch(**kwargs)
        out += page.get(key, [])
        token = page.get("NextToken")
        if not token or token in tokens:
            return out
        tokens.add(token)
        kwargs["NextToken"] = token


def find_collection(r53: Route53, name: str) -> tuple[str, int] | None:
    """The id and CollectionVersion of the account's CIDR collection ``name`` (None: there is none)."""
    for c in _pages(lambda **kw: r53.call("list_cidr_collections", **kw), "CidrCollections", MaxResults="100"):
        if c.get("Name") == name:
            return str(c["Id"]), int(c.get("Version", 1))
    return None


def read_collection(r53: Route53, name: str) -> Collection | None:
    """The CIDR collection ``name`` with every location's blocks (one ListCidrBlocks per location)."""
    found = find_collection(r53, name)
    if found is None:
        return None
    cid, version = found
    locations = []
    for loc in _pages(lambda **kw: r53.call("list_cidr_locations", **kw), "CidrLocations", CollectionId=cid,
                      MaxResults="1000"):
        blocks = _pages(lambda **kw: r53.call("list_cidr_blocks", **kw), "CidrBlocks", CollectionId=cid,
                        LocationName=loc["LocationName"], MaxResults="1000")
        locations.append((loc["LocationName"], tuple(sorted(str(b["CidrBlock"]) for b in blocks))))
    return Collection(cid, name, version, tuple(sorted(locations)))


def create_collection(r53: Route53, name: str) -> tuple[str, int]:
    """Create the CIDR collection ``name``: (id, version). A create whose response was lost, or one refused
    because the collection exists (made by that lost create, or by another hand since the plan), is looked up."""
    try:
        out = r53.call("create_cidr_collection", Name=name, CallerReference=f"gtm-{secrets.token_hex(12)}")
        return str(out["Collection"]["Id"]), int(out["Collection"].get("Version", 1))
    except AwsError as e:
        if e.code != "CidrCollectionAlreadyExistsException":
            raise
        failure: GtmError = e
    except GtmError as e:
        failure = e
    found = find_collection(r53, name)
    if found is None:
        raise failure
    return found


def change_collection(r53: Route53, cid: str, version: int, action: str,
                      changes: Iterable[tuple[str, tuple[str, ...]]]) -> int:
    """PUT (or DELETE_IF_EXISTS) blocks of locations, at most 1,000 blocks a request, each request at the
    version the last one left (Route53 refuses a stale CollectionVersion: someone changed the collection);
    the version after them."""
    pending = [(loc, list(blocks)) for loc, blocks in changes]
    while pending:
        request: list[dict[str, Any]] = []
        room = CIDR_CHANGE_MAX
        while pending and room:
            loc, blocks = pending[0]
            take, rest = blocks[:room], blocks[room:]
            request.append({"LocationName": loc, "Action": action, "CidrList": take})
            room -= len(take)
            if rest:
                pending[0] = (loc, rest)
            else:
                pending.pop(0)
        try:
            r53.call("change_cidr_collection", Id=cid, CollectionVersion=version, Changes=request)
        except AwsError as e:
            if e.code == "CidrCollectionVersionMismatchException":
                raise AwsError(f"CIDR collection {cid} was changed by someone else since the plan (CollectionVersion "
                               f"{version} is stale)", e.code) from None
            raise
        version += 1
    return version


# -- health checks ------------------------------------------------------------------------------------------
def _digest(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()[:12]


def _caller_ref(owner: str, zone: str, key: str, nonce: str) -> str:
    """``gtm1:<owner>:<zone digest>:<key digest>:<nonce of this apply>``, at most 62 characters. The same
    reference is sent again when a create is retried (Route53 then returns the check it made), and a new apply
    uses a new one (Route53 refuses the reference of a deleted check for some days, so a key that comes back
    must not reuse it). The digests let reading the checks back find each one's zone and key without tag
    calls; the zone keeps two hosted zones of one owner from taking each other's checks for leftovers."""
    return f"gtm1:{owner}:{_digest(zone)[:6]}:{_digest(key)[:10]}:{nonce}"


def _check_prefix(owner: str, zone: str) -> str:
    return f"gtm1:{owner}:{_digest(zone)[:6]}:"


def _check_config(spec: HealthCheckSpec, check_ids: dict[str, str]) -> dict[str, Any]:
    if spec.calculated:
        return {"Type": "CALCULATED", "ChildHealthChecks": [check_ids[c] for c in spec.children],
                "HealthThreshold": spec.health_threshold, "Inverted": spec.inverted, "Disabled": spec.disabled}
    cfg: dict[str, Any] = {"Type": spec.type, "Port": spec.port,
                           "RequestInterval": spec.request_interval, "FailureThreshold": spec.failure_threshold,
                           "Inverted": spec.inverted, "Disabled": spec.disabled, "MeasureLatency": False}
    if spec.ip is not None:  # (none: Route53 resolves FullyQualifiedDomainName, a hostname endpoint's check)
        cfg["IPAddress"] = spec.ip
    if spec.fqdn:
        cfg["FullyQualifiedDomainName"] = spec.fqdn
    if spec.path and spec.type != "TCP":
        cfg["ResourcePath"] = spec.path
    if spec.search:
        cfg["SearchString"] = spec.search
    if spec.type.startswith("HTTPS"):
        cfg["EnableSNI"] = spec.enable_sni
    if spec.regions:
        cfg["Regions"] = list(spec.regions)
    return cfg


def read_checks(r53: Route53, owner: str, zone: str, wanted: Iterable[HealthCheckSpec]) -> list[ExistingCheck]:
    """gtm's health checks of this owner for hosted zone ``zone`` (by CallerReference prefix). A check's key
    comes from the key digest in its CallerReference, matched against the ``wanted`` checks: one
    ListHealthChecks page per 1,000 checks and no tag reads. A check whose key is not wanted any more has key
    None (it is deleted); of two checks with one key (a replacement whose old check was not deleted yet), the
    one whose fixed fields (type, interval) are the wanted ones keeps the key."""
    prefix = _check_prefix(owner, zone)
    raw: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"MaxItems": "1000"}
    markers: set[str] = set()
    while True:
        page = r53.call("list_health_checks", **kwargs)
        raw += [h for h in page.get("HealthChecks", []) if h["CallerReference"].startswith(prefix)]
        marker = page.get("NextMarker")
        if not page.get("IsTruncated") or not marker or marker in markers:  # moto has no IsTruncated
            break
        markers.add(marker)
        kwargs["Marker"] = marker
    specs = {_digest(s.key)[:10]: s for s in wanted}
    holders: dict[str, list[dict[str, Any]]] = {}
    for h in raw:
        parts = h["CallerReference"].split(":")
        spec = specs.get(parts[3]) if len(parts) == 5 else None
        if spec is not None:
            holders.setdefault(spec.key, []).append(h)
    keys: dict[str, str] = {}
    for wanted_key, hs in holders.items():
        want = specs[_digest(wanted_key)[:10]]
        fits = [h for h in hs if h["HealthCheckConfig"]["Type"] == want.type and
                (want.calculated or h["HealthCheckConfig"].get("RequestInterval", 30) == want.request_interval)]
        keys[min(fits or hs, key=lambda h: str(h["Id"]))["Id"]] = wanted_key
    result = []
    for h in raw:
        cfg = h["HealthCheckConfig"]
        key = keys.get(h["Id"])
        children = tuple(keys.get(c, c) for c in cfg.get("ChildHealthChecks", []) or [])
        spec = HealthCheckSpec(
            key=key or h["Id"], type=cfg["Type"], ip=cfg.get("IPAddress"), port=cfg.get("Port"),
            fqdn=cfg.get("FullyQualifiedDomainName"), path=cfg.get("ResourcePath"),
            search=cfg.get("SearchString"), request_interval=cfg.get("RequestInterval", 30),
            failure_threshold=cfg.get("FailureThreshold", 3), regions=tuple(cfg.get("Regions", []) or []),
            children=children, health_threshold=cfg.get("HealthThreshold", 0),
            inverted=bool(cfg.get("Inverted")), disabled=bool(cfg.get("Disabled")),
            enable_sni=bool(cfg.get("EnableSNI")) if cfg["Type"].startswith("HTTPS") else False)
        if cfg["Type"] == "CALCULATED":
            spec = HealthCheckSpec(key=spec.key, type="CALCULATED", children=children,
                                   health_threshold=spec.health_threshold, inverted=spec.inverted,
                                   disabled=spec.disabled)
        result.append(ExistingCheck(h["Id"], int(h.get("HealthCheckVersion", 1)), key, spec))
    return result


def _creation_order(specs: list[HealthCheckSpec]) -> list[HealthCheckSpec]:
    """Children before the CALCULATED checks that name them."""
    keys = {s.key for s in specs}
    done: set[str] = set()
    out: list[HealthCheckSpec] = []
    pending = list(specs)
    while pending:
        ready = [s for s in pending if all(c in done or c not in keys for c in s.children)]
        if not ready:
            raise ApplyError("health checks refer to each other in a loop")
        for s in ready:
            out.append(s)
            done.add(s.key)
            pending.remove(s)
    return out


def apply(r53: Route53, zone_id: str, plan: Plan, owner: str, existing: list[ExistingCheck],
          change_ids: list[str] | None = None) -> dict[str, int]:
    """Carry out ``plan``; returns counts (and appends the ids of the record changes made to ``change_ids``). On
    failure raises ApplyError saying how far it got: every step is idempotent, so the next plan shows what
    remains and the next apply finishes it."""
    ids = {c.key: c.id for c in existing if c.key is not None}
    nonce = secrets.token_hex(3)
    done = {"checks_created": 0, "checks_updated": 0, "batches": 0, "checks_deleted": 0, "lost_responses": 0}
    changes_made = change_ids if change_ids is not None else []

    def stopped(step: str, e: GtmError) -> ApplyError:
        return ApplyError(f"{step} failed ({e}); done so far: {done['checks_created']} health checks created, "
                          f"{done['checks_updated']} updated, {done['batches']} of {len(plan.batches)} record "
                          f"batches, {done['checks_deleted']} checks deleted. Run plan again: it shows what remains")

    for spec in _creation_order(list(plan.create_checks) + [new for _, new in plan.replace_checks]):
        try:
            out = r53.call("create_health_check", CallerReference=_caller_ref(owner, plan.zone, spec.key, nonce),
                       HealthCheckConfig=_check_config(spec, ids))
            new_id = out["HealthCheck"]["Id"]
            ids[spec.key] = new_id
            done["checks_created"] += 1
            r53.call("change_tags_for_resource", ResourceType="healthcheck", ResourceId=new_id,
                 AddTags=[{"Key": TAG_KEY, "Value": spec.key}, {"Key": TAG_OWNER, "Value": owner},
                          {"Key": "Name", "Value": f"gtm {owner} {spec.key}"[:255]}])
        except GtmError as e:
            raise stopped(f"creating health check {spec.key}", e) from None
    for old, spec in plan.update_checks:
        try:
            r53.call("update_health_check", **_check_update(old, spec, ids))
        except AwsError as e:
            if e.code == "HealthCheckVersionMismatch":  # optimistic locking: someone changed it since the plan
                e = AwsError(f"health check {spec.key} ({old.id}) was changed by someone else since the plan "
                             f"(HealthCheckVersion {old.version} is stale)", e.code)
            raise stopped(f"updating health check {spec.key}", e) from None
        done["checks_updated"] += 1
    cidr = plan.cidr
    cid, version = (cidr.id, cidr.version) if cidr else (None, 0)
    if cidr is not None and cidr.put:
        try:
            if cid is None:
                cid, version = create_collection(r53, cidr.collection)
            version = change_collection(r53, cid, version, "PUT", cidr.put)
        except GtmError as e:
            raise stopped(f"putting the blocks of CIDR collection {cidr.collection}", e) from None
    if cid is not None and cidr is not None:
        ids[cidr.collection] = cid
    for i, batch in enumerate(plan.batches, 1):
        changes = [{"Action": a, "ResourceRecordSet": r.raw if a == "DELETE" and r.raw is not None
                    else to_aws(r, zone_id, ids)} for a, r in batch]
        try:
            out = r53.call("change_resource_record_sets", HostedZoneId=zone_id,
                           ChangeBatch={"Comment": f"gtm {owner} batch {i}/{len(plan.batches)}", "Changes": changes})
            if out.get("ChangeInfo", {}).get("Id"):
                changes_made.append(str(out["ChangeInfo"]["Id"]))
        except GtmError as e:
            # A response lost on the way back (a timeout, a dropped connection; or the retry of a batch that had
            # gone through, refused as "already exists") is not a failure when Route53 holds the batch: look.
            if not applied(r53, zone_id, batch, ids):
                raise stopped(f"batch {i} of {len(plan.batches)}", e) from None
            log.warning("batch %d of %d: %s; Route53 holds every change of it, so it was applied", i,
                        len(plan.batches), e)
            done["lost_responses"] += 1
        done["batches"] += 1
    if cidr is not None and cid is not None and (cidr.remove or cidr.delete):
        try:  # no record names these locations any more
            if cidr.remove:
                version = change_collection(r53, cid, version, "DELETE_IF_EXISTS", cidr.remove)
            if cidr.delete:
                r53.call("delete_cidr_collection", Id=cid)
        except GtmError as e:
            raise stopped(f"emptying CIDR collection {cidr.collection}, after every record batch", e) from None
    # Only now, with no record using them any more: parents before the children they combine.
    for gone in reversed(_creation_order([c.spec for c in plan.delete_checks])):
        check_id = next(c.id for c in plan.delete_checks if c.spec.key == gone.key)
        try:
            r53.call("delete_health_check", HealthCheckId=check_id)
        except GtmError as e:
            raise stopped(f"deleting health check {gone.key} ({check_id}), after every record batch", e) from None
        done["checks_deleted"] += 1
    return done


def applied(r53: Route53, zone_id: str, batch: Iterable[tuple[str, RecordSpec]], check_ids: dict[str, str]) -> bool:
    """Whether the zone holds every change of ``batch``: each created or upserted rrset as planned, each deleted
    one gone. False when the zone cannot be read either."""
    keys = {v: k for k, v in check_ids.items()}
    try:
        now = {r.key: r for r in read_records(r53, zone_id, keys)}
    except GtmError:
        return False
    for action, r in batch:
        have = now.get(r.key)
        if action == "DELETE":
            if have is not None:
                return False
        elif have is None or _same(have) != _same(r):
            return False
    return True


def _same(r: RecordSpec) -> RecordSpec:
    return replace(r, values=tuple(sorted(r.values)), raw=None)


def wait_in_sync(r53: Route53, change_ids: Iterable[str], timeout: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> float:
    """Poll GetChange for each change until INSYNC (Route53's name servers all have it); the seconds it took.
    GtmError after ``timeout`` seconds."""
    start = clock()
    for change in change_ids:
        while True:
            status = r53.call("get_change", Id=change)["ChangeInfo"]["Status"]
            if status == "INSYNC":
                break
            if clock() - start > timeout:
                raise GtmError(f"change {change} still {status} after {timeout:g} s")
            r53.sleep(2.0)
    return clock() - start


# -- the apply lock -------------------------------------------------------------------------------------------
LOCK_PREFIX = "_gtm-lock."
LOCK_SECONDS = 3600  # a lock older than this was left by an apply that died: the next one may take it over


def lock_record(zone: str, owner: str, holder: str, until: float) -> RecordSpec:
    """The lock's TXT record; its nonce makes every lock unique, so a release deletes this one and no other."""
    return RecordSpec(LOCK_PREFIX + zone, "TXT", None, 60, (f'"gtm lock owner={owner} holder={holder} '
                                                          f'until={int(until)} nonce={secrets.token_hex(4)}"',))


def read_lock(r53: Route53, zone_id: str, zone: str) -> RecordSpec | None:
    """The lock record as it is (read only when the lock is held: a whole-zone read)."""
    return next((r for r in read_records(r53, zone_id, {}) if r.name == LOCK_PREFIX + zone and r.type == "TXT"),
                None)


def _lock_until(r: RecordSpec) -> float:
    for part in (r.values[0].strip('"').split() if r.values else []):
        if part.startswith("until="):
            try:
                return float(part[6:])
            except ValueError:
                break
    return 0.0


def take_lock(r53: Route53, zone_id: str, zone: str, owner: str, holder: str, force: bool = False,
              now: Callable[[], float] = time.time, seconds: float = LOCK_SECONDS) -> RecordSpec:
    """The apply lock of ``zone``: a TXT record ``_gtm-lock.<zone>`` created with CREATE, which Route53 refuses
    when it exists, so two applies never run at once. A lock past its time (an apply that died), or any lock with
    ``force``, is replaced in one batch that deletes exactly the lock read (refused if it changed meanwhile).
    GtmError naming the holder otherwise. ``seconds``: how long the apply may take (the plan's estimate and a
    margin): past it, the lock counts as left by an apply that died."""
    mine = lock_record(zone, owner, holder, now() + seconds)
    try:
        r53.call("change_resource_record_sets", HostedZoneId=zone_id, ChangeBatch={
            "Comment": f"gtm {owner} lock", "Changes": [{"Action": "CREATE", "ResourceRecordSet": to_aws(mine, zone_id, {})}]})
        return mine
    except AwsError as e:
        if e.code != "InvalidChangeBatch":  # Route53 refuses the CREATE of an rrset that exists: someone holds it
            raise
        failure: GtmError = e
    except GtmError as e:  # no answer (a timeout): the CREATE may have gone through; look
        failure = e
    held = read_lock(r53, zone_id, zone)
    if held is None:
        raise GtmError(f"the apply lock {LOCK_PREFIX}{zone} could not be taken ({failure}); try again")
    if held.values == mine.values:  # our own CREATE went through, and its retry (a lost response) was refused
        return mine
    if not force and _lock_until(held) > now():
        raise GtmError(f"another apply holds the lock of {zone}: {held.values[0]} (if it died, run again with "
                       f"--force-unlock)")
    try:
        r53.call("change_resource_record_sets", HostedZoneId=zone_id, ChangeBatch={
            "Comment": f"gtm {owner} lock taken over", "Changes": [
                {"Action": "DELETE", "ResourceRecordSet": held.raw or to_aws(held, zone_id, {})},
                {"Action": "CREATE", "ResourceRecordSet": to_aws(mine, zone_id, {})}]})
    except AwsError as e:
        now_held = read_lock(r53, zone_id, zone)
        if now_held is None or now_held.values != mine.values:  # (else: ours, the response to it was lost)
            raise GtmError(f"the apply lock of {zone} changed while it was being taken over ({e}); try again") \
                from None
    log.warning("took over the apply lock of %s: %s", zone, held.values[0])
    return mine


def release_lock(r53: Route53, zone_id: str, lock: RecordSpec) -> None:
    """Delete our lock (exactly as written: a lock someone took over is theirs, and stays)."""
    try:
        r53.call("change_resource_record_sets", HostedZoneId=zone_id, ChangeBatch={
            "Comment": "gtm lock released", "Changes": [{"Action": "DELETE",
                                                         "ResourceRecordSet": to_aws(lock, zone_id, {})}]})
    except GtmError as e:
        zone = lock.name[len(LOCK_PREFIX):]
        try:
            still = read_lock(r53, zone_id, zone)
        except GtmError:
            still = lock
        if still is not None and still.values == lock.values:  # (gone: a retried DELETE that had gone through)
            log.warning("could not release the apply lock %s (%s); the next apply takes it over once its time "
                        "is past (or with --force-unlock)", lock.name, e)


def set_inverted(r53: Route53, check: ExistingCheck, inverted: bool) -> None:
    """Invert (or not) one check, at the version read: a drain or restore of a region's switch."""
    try:
        r53.call("update_health_check", HealthCheckId=check.id, HealthCheckVersion=check.version, Inverted=inverted)
    except AwsError as e:
        if e.code == "HealthCheckVersionMismatch":
            raise AwsError(f"health check {check.key} ({check.id}) changed while it was being switched; "
                           "try again", e.code) from None
        raise


def set_drained(r53: Route53, check: ExistingCheck, drained: bool) -> None:
    """Make an endpoint's check always unhealthy (Disabled and Inverted: Route53's rule for the pair), or set it
    back to checking, at the version read: a drain or restore of one endpoint."""
    try:
        r53.call("update_health_check", HealthCheckId=check.id, HealthCheckVersion=check.version, Disabled=drained,
                 Inverted=drained)
    except AwsError as e:
        if e.code == "HealthCheckVersionMismatch":
            raise AwsError(f"health check {check.key} ({check.id}) changed while it was being switched; "
                           "try again", e.code) from None
        raise


# Fields UpdateHealthCheck cannot set to "nothing" by omission: they are reset by name (ResetElements).
_RESETTABLE = {"fqdn": "FullyQualifiedDomainName", "path": "ResourcePath", "regions": "Regions",
               "children": "ChildHealthChecks"}


def _check_update(old: ExistingCheck, spec: HealthCheckSpec, ids: dict[str, str]) -> dict[str, Any]:
    """The UpdateHealthCheck request that turns ``old`` into ``spec`` (every mutable field, at old's version;
    fields ``spec`` leaves empty that ``old`` has are reset)."""
    cfg = _check_config(spec, ids)
    update: dict[str, Any] = {"HealthCheckId": old.id, "HealthCheckVersion": old.version}
    keys = (("ChildHealthChecks", "HealthThreshold", "Inverted", "Disabled") if spec.calculated else
            ("IPAddress", "Port", "ResourcePath", "FullyQualifiedDomainName", "SearchString", "FailureThreshold",
             "Inverted", "Disabled", "EnableSNI", "Regions"))
    update.update({k: cfg[k] for k in keys if k in cfg})
    reset = [name for field_name, name in _RESETTABLE.items()
             if normal_field(old.spec, field_name) and not normal_field(spec, field_name)]
    if reset:
        update["ResetElements"] = reset
        for name in reset:
            update.pop(name, None)
    return update
