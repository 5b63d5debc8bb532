"""The override store in a DynamoDB table, for nodes on several machines and regions (boto3's low-level client).

Layout (the table terraform/overrides.tf creates, or :func:`create_table` for local use): hash key ``pk`` and
range key ``sk``, both strings.

* ``pk="overrides", sk="current"``: the whole state in one item: ``version`` (N), ``body`` (S: the JSON list of
  ``Override.to_json()``), ``updated`` (N, Unix time of the write) and ``author`` (S).
* ``pk="audit", sk="<unix time, 017.6f>#<random hex>"``: one item per write, never rewritten: ``entry`` (S: the
  audit dict as JSON, with the new version) and ``version`` (N). The zero-padded time sorts as text, so a Query
  on ``pk="audit"`` reads them newest first without an index.

Why one item: compare-and-swap is then a single conditional write on a single item, atomic by construction,
and a read is one strongly consistent GetItem that can never see half of a change. Size: an override is about
250 bytes of JSON (id, action, region, address, service, created, expires, author and a reason of a hundred
characters); 600 bytes with a long reason. DynamoDB's item limit is 400 KB, i.e. some 650 overrides in force at
once even at 600 bytes each, while later-wins keeps at most one per slot (region or endpoint, and service) and
every write drops the expired ones: a deployment with ten regions and a hundred endpoints has a few dozen at
most. :meth:`DynamoStore.write` still refuses a body over ``MAX_BODY`` with a clear message rather than AWS's.

Writes: one TransactWriteItems of (1) the state item, conditional on ``attribute_not_exists(pk)`` for the
first write and on ``version = expected`` after that, and (2) the audit item, conditional on not existing:
both or neither, so a write that lost the race leaves no audit entry behind. A failed condition on the state
item is :class:`~gtm.state.store.ConflictError` (as is DynamoDB's ``TransactionConflict``, another transaction
on the item at that moment), which ``update()`` answers by reading again and re-applying the change. The
client request token makes botocore's retries of one write idempotent (a write that succeeded but whose answer
was lost is not retried into a false conflict).

Regions: the table has its stream on (new and old images), which is what DynamoDB global tables replicate, so
it can become a global table as it is. But conditional writes are only consistent within one region: two
operators writing the same version in two regions would both succeed and the last writer would win. So
operators write through one home region (``overrides.aws_region`` in the CLI's config), and nodes in other
regions read their local replica, which lags by about a second.

Nodes look for changes every ``overrides.poll`` seconds with :meth:`DynamoStore.token`: one strongly
consistent GetItem projected on ``version``. The projection keeps the answer small; DynamoDB still bills the
whole item read, one read unit per 4 KB, i.e. one unit per poll for any realistic number of overrides (at the
default poll of 0.5 s, two units a second per node). Only a new version costs a full :meth:`DynamoStore.read`.
"""
from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from dataclasses import replace
from typing import Any, Callable, NoReturn, Sequence

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError, ProfileNotFound

from gtm.model import Override
from gtm.state.store import AuditEntry, ConflictError, Stored, StoreError

log = logging.getLogger(__name__)

STATE_KEY = {"pk": {"S": "overrides"}, "sk": {"S": "current"}}
AUDIT_PK = "audit"
MAX_BODY = 380_000  # bytes of JSON in the state item, below DynamoDB's 400 KB item limit with room for the rest
_VERSION = {"#v": "version"}
_DENIED = {"AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "InvalidSignatureException",
           "ExpiredTokenException", "UnauthorizedOperation"}


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())


def _client(aws_region: str | None) -> Any:
    """A DynamoDB client from boto3's standard credential chain, with adaptive retries."""
    try:
        return boto3.session.Session().client(
            "dynamodb", region_name=aws_region, config=BotoConfig(retries={"mode": "adaptive", "max_attempts": 8}))
    except NoRegionError:
        raise StoreError("the DynamoDB override store needs a region: set overrides.aws_region "
                         "(or AWS_REGION / AWS_DEFAULT_REGION)") from None
    except (ProfileNotFound, BotoCoreError) as e:
        raise StoreError(f"cannot make a DynamoDB client: {_one_line(e)}") from None


def _fail(e: Exception, operation: str, table: str, region: str) -> NoReturn:
    """Raise ``e`` (from botocore) as a one-line StoreError."""
    if isinstance(e, NoCredentialsError):
        raise StoreError("no AWS credentials found (boto3's chain: environment, profile, instance role)") from None
    if isinstance(e, ClientError):
        error = e.response.get("Error", {})
        code, message = error.get("Code", ""), _one_line(error.get("Message", e))
        if code == "ResourceNotFoundException":
            raise StoreError(f"no DynamoDB table {table} in {region}") from None
        if code in _DENIED:
            raise StoreError(f"DynamoDB {operation} on table {table} in {region}: access denied ({code}: "
                             f"{message})") from None
        raise StoreError(f"DynamoDB {operation} on table {table} in {region}: {code}: {message}") from None
    raise StoreError(f"DynamoDB {operation} on table {table} in {region}: {_one_line(e)}") from None


class DynamoStore:
    """The Store protocol (gtm.state.store) on the DynamoDB table ``table``; see the module's docstring."""

    def __init__(self, table: str, aws_region: str | None, client: Any = None):
        self.table = table
        self.client = client if client is not None else _client(aws_region)
        self.region = aws_region or getattr(getattr(self.client, "meta", None), "region_name", None) or "?"

    def _call(self, operation: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except (ClientError, BotoCoreError) as e:
            _fail(e, operation, self.table, self.region)

    def _version(self, item: dict[str, Any]) -> int:
        try:
            version = int(item["version"]["N"])
        except (KeyError, TypeError, ValueError):
            raise StoreError(f"the override store {self.table}: its state item has no integer version") from None
        if version < 1:
            raise StoreError(f"the override store {self.table}: its state item has version {version}")
        return version

    def read(self) -> Stored:
        out = self._call("GetItem", self.client.get_item, TableName=self.table, Key=STATE_KEY, ConsistentRead=True)
        item = out.get("Item")
        if item is None:
            return Stored(0)
        version = self._version(item)
        try:
            data = json.loads(item["body"]["S"])
            if not isinstance(data, list):
                raise ValueError(f"its body is not a list of overrides (got {type(data).__name__})")
            return Stored(version, tuple(Override.from_json(o) for o in data))
        except (KeyError, TypeError):
            raise StoreError(f"the override store {self.table}: its state item has no body") from None
        except ValueError as e:  # json.JSONDecodeError is a ValueError
            raise StoreError(f"the override store {self.table}: {_one_line(e)}") from None
        except RecursionError:
            raise StoreError(f"the override store {self.table}: its body is nested too deeply") from None

    def token(self) -> Any:
        out = self._call("GetItem", self.client.get_item, TableName=self.table, Key=STATE_KEY, ConsistentRead=True,
                         ProjectionExpression="#v", ExpressionAttributeNames=_VERSION)
        item = out.get("Item")  # {} for an item without a version: malformed, not missing
        return 0 if item is None else self._version(item)

    def write(self, expected: int, overrides: Sequence[Override], audit: AuditEntry) -> int:
        version = expected + 1
        body = json.dumps([o.to_json() for o in overrides], separators=(",", ":"))
        if len(body.encode()) > MAX_BODY:
            raise StoreError(f"the override store {self.table}: {len(overrides)} overrides take "
                             f"{len(body.encode())} bytes, more than the {MAX_BODY} one DynamoDB item holds")
        now = time.time()
        entry = json.dumps(replace(audit, version=version).to_json(), sort_keys=True)
        state: dict[str, Any] = {
            "TableName": self.table,
            "Item": {**STATE_KEY, "version": {"N": str(version)}, "body": {"S": body},
                     "updated": {"N": f"{now:.6f}"}, "author": {"S": audit.author}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if expected == 0:
            state["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            state.update(ConditionExpression="#v = :expected", ExpressionAttributeNames=_VERSION,
                         ExpressionAttributeValues={":expected": {"N": str(expected)}})
        record = {
            "TableName": self.table,
            "Item": {"pk": {"S": AUDIT_PK}, "sk": {"S": f"{now:017.6f}#{secrets.token_hex(4)}"},
                     "entry": {"S": entry}, "version": {"N": str(version)}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        try:
            self.client.transact_write_items(TransactItems=[{"Put": state}, {"Put": record}],
                                             ClientRequestToken=str(uuid.uuid4()))
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                self._cancelled(e, expected)
            _fail(e, "TransactWriteItems", self.table, self.region)
        except BotoCoreError as e:
            _fail(e, "TransactWriteItems", self.table, self.region)
        return version

    def _cancelled(self, e: ClientError, expected: int) -> None:
        """Raise ConflictError when the state item changed (or is being changed) under this write."""
        reasons = e.response.get("CancellationReasons") or []
        first = reasons[0] if reasons else {}
        if first.get("Code") == "ConditionalCheckFailed":
            current = first.get("Item")
            now = (f"now version {current['version'].get('N', '?')}, " if current and "version" in current
                   else "now empty, " if expected else "")
            raise ConflictError(f"the override store {self.table} changed ({now}expected version {expected})")
        if first.get("Code") == "TransactionConflict":
            raise ConflictError(f"the override store {self.table} is being changed by another write "
                                f"(expected version {expected})")
        codes = ", ".join(str(r.get("Code")) for r in reasons if r.get("Code") not in (None, "None"))
        if codes:
            raise StoreError(f"DynamoDB TransactWriteItems on table {self.table} in {self.region}: cancelled "
                             f"({codes})")

    def history(self, limit: int = 50) -> list[AuditEntry]:
        out = self._call("Query", self.client.query, TableName=self.table, KeyConditionExpression="pk = :pk",
                         ExpressionAttributeValues={":pk": {"S": AUDIT_PK}}, ScanIndexForward=False,
                         Limit=max(1, limit), ConsistentRead=True)
        entries = []
        for item in out.get("Items", []):
            try:
                entry = AuditEntry.from_json(json.loads(item["entry"]["S"]))
            except (KeyError, TypeError, ValueError, RecursionError):
                continue  # not an audit entry gtm wrote: skipped, as the file store skips a torn line
            if entry is not None:
                entries.append(entry)
        return entries[::-1]


LOCK_PK = "lock"


class TableLock:
    """A lock in the override table: the item ``pk="lock", sk=<name>`` with ``holder`` (S), ``until`` (N, Unix
    time past which it counts as left by a process that died) and a ``nonce`` (S) that makes each taking unique.
    Taken with a PutItem conditional on the item not existing or being past its time, released with a DeleteItem
    conditional on the nonce, so a release never deletes a lock someone else holds now. DynamoDB's conditional
    writes are strongly consistent in the table's region: ``gtm route53 apply`` takes the zone's apply lock here
    when the override store is this table, instead of as a record in the hosted zone."""

    def __init__(self, store: DynamoStore, name: str, holder: str, now: Callable[[], float] = time.time):
        self.store, self.name, self.holder, self.now = store, name, holder, now
        self.nonce = secrets.token_hex(8)
        self.key = {"pk": {"S": LOCK_PK}, "sk": {"S": name}}

    def _held(self) -> dict[str, Any] | None:
        return self.store._call("GetItem", self.store.client.get_item, TableName=self.store.table, Key=self.key,
                                ConsistentRead=True).get("Item")

    def describe(self, item: dict[str, Any]) -> str:
        until = item.get("until", {}).get("N", "0")
        return f"held by {item.get('holder', {}).get('S', '?')} until {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(float(until)))}"

    def take(self, seconds: float, force: bool = False) -> None:
        """Take the lock for ``seconds``; StoreError naming the holder while someone else holds it (unless
        ``force``: the holder died)."""
        item = {**self.key, "holder": {"S": self.holder}, "until": {"N": str(int(self.now() + seconds))},
                "nonce": {"S": self.nonce}}
        condition: dict[str, Any] = {} if force else {
            "ConditionExpression": "attribute_not_exists(pk) OR #u < :now",
            "ExpressionAttributeNames": {"#u": "until"},
            "ExpressionAttributeValues": {":now": {"N": str(int(self.now()))}}}
        try:
            self.store.client.put_item(TableName=self.store.table, Item=item, **condition)
            return
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                _fail(e, "PutItem", self.store.table, self.store.region)
        except BotoCoreError as e:  # no answer: the put may have gone through; look
            held = self._held()
            if held is not None and held.get("nonce", {}).get("S") == self.nonce:
                return
            _fail(e, "PutItem", self.store.table, self.store.region)
        held = self._held()
        if held is not None and held.get("nonce", {}).get("S") == self.nonce:  # a retry of our own put
            return
        if held is None:  # released between the refused put and the read
            raise StoreError(f"the lock {self.name} in table {self.store.table} changed hands while it was being "
                             f"taken; try again")
        raise StoreError(f"another apply holds the lock {self.name} in table {self.store.table}: "
                         f"{self.describe(held)} (if it died, run again with --force-unlock)")

    def release(self) -> None:
        """Delete the lock if it is still ours (one taken over by --force-unlock is the new holder's)."""
        try:
            self.store.client.delete_item(TableName=self.store.table, Key=self.key,
                                          ConditionExpression="nonce = :n",
                                          ExpressionAttributeValues={":n": {"S": self.nonce}})
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                log.warning("the lock %s in table %s was taken over meanwhile; left to its holder", self.name,
                            self.store.table)
                return
            log.warning("could not release the lock %s in table %s (%s); the next apply takes it over once its "
                        "time is past (or with --force-unlock)", self.name, self.store.table,
                        _one_line(e.response.get("Error", {}).get("Code", e)))
        except BotoCoreError as e:
            log.warning("could not release the lock %s in table %s (%s); the next apply takes it over once its "
                        "time is past (or with --force-unlock)", self.name, self.store.table, _one_line(e))


def create_table(client: Any, table: str) -> None:
    """Create the override table as terraform/overrides.tf does (keys ``pk``/``sk``, on-demand, stream of new and
    old images), for local use and tests, and wait until it is ACTIVE. A table that already exists is waited for,
    not an error."""
    region = getattr(getattr(client, "meta", None), "region_name", None) or "?"
    try:
        client.create_table(
            TableName=table, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") != "ResourceInUseException":
            _fail(e, "CreateTable", table, region)
    except BotoCoreError as e:
        _fail(e, "CreateTable", table, region)
    try:
        client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    except (ClientError, BotoCoreError) as e:  # botocore's WaiterError is a BotoCoreError
        _fail(e, "DescribeTable", table, region)
