"""The DynamoDB override store against moto: round trip, compare-and-swap between writers, expiry, polling,
the audit history and one-line errors."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator

import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend

from gtm.model import Override, StoreSettings
from gtm.state import overrides as rules
from gtm.state.dynamodb import STATE_KEY, DynamoStore, create_table
from gtm.state.store import ConflictError, Stored, StoreError, audit_entry, open_store, update

TABLE = "gtm-overrides-test"
REGION = "us-east-1"
NOW = 1_790_000_000.0


def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(k, v)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    fake_credentials(monkeypatch)
    with mock_aws():
        yield


@pytest.fixture
def store(aws: None) -> DynamoStore:
    s = DynamoStore(TABLE, REGION)
    create_table(s.client, TABLE)
    return s


@pytest.fixture
def serialised_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB serialises transactions on an item; moto does not: its TransactWriteItems checks, writes and, on a
    failed condition, restores a copy of the whole table taken at its start, with no lock, so two threads at once
    can both pass the check, or one's rollback can undo the other's write. A lock around it restores what
    DynamoDB guarantees, so the concurrent test exercises the store, not moto's missing isolation."""
    lock = threading.Lock()
    real = DynamoDBBackend.transact_write_items

    def locked(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        with lock:
            real(self, transact_items)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", locked)


def override(id: str, region: str = "eu-west", *, expires: float | None = NOW + 3600,
             address: str | None = "192.0.2.10", service: str | None = "www", action: str = "drain") -> Override:
    return Override(id=id, action=action, region=region, address=address, service=service,
                    reason=f"maintenance {id}", author="alice", created=NOW, expires=expires)


def audit(action: str, *changed: Override, author: str = "alice") -> dict[str, Any]:
    return audit_entry(action, changed, author, "test")


def calls(client: Any, operation: str) -> list[dict[str, Any]]:
    """The parameters of every ``operation`` call ``client`` makes from now on."""
    seen: list[dict[str, Any]] = []

    def hook(params: dict[str, Any], **kwargs: Any) -> None:
        seen.append(dict(params))

    client.meta.events.register(f"before-parameter-build.dynamodb.{operation}", hook)
    return seen


def test_round_trip_versions_and_token(store: DynamoStore) -> None:
    assert store.read() == Stored(0, ())
    assert store.token() == 0
    a = override("a")
    b = override("b", "us-east", address=None, service=None, expires=None, action="down")
    assert store.write(0, [a, b], audit("drain", a, b)) == 1
    got = store.read()
    assert got == Stored(1, (a, b))
    assert got.overrides[0].expires == NOW + 3600 and got.overrides[0].address == "192.0.2.10"
    assert got.overrides[0].service == "www" and got.overrides[1].expires is None
    assert store.token() == 1
    assert store.write(1, [b], audit("clear", a)) == 2
    assert store.read() == Stored(2, (b,))
    assert store.token() == 2
    raw = store.client.get_item(TableName=TABLE, Key=STATE_KEY)["Item"]
    assert raw["author"] == {"S": "alice"} and float(raw["updated"]["N"]) > NOW - 10**9


def test_reads_and_polls_are_consistent_and_polls_read_only_the_version(store: DynamoStore) -> None:
    store.write(0, [override("a")], audit("drain"))
    got = calls(store.client, "GetItem")
    store.read()
    store.token()
    assert [c.get("ConsistentRead") for c in got] == [True, True]
    assert "ProjectionExpression" not in got[0]
    assert got[1]["ExpressionAttributeNames"][got[1]["ProjectionExpression"]] == "version"


def test_the_second_of_two_writers_of_one_version_conflicts(store: DynamoStore) -> None:
    other = DynamoStore(TABLE, REGION)
    # the first write (version 0: the item must not exist yet)
    assert store.read().version == other.read().version == 0
    store.write(0, [override("a")], audit("drain", override("a")))
    with pytest.raises(ConflictError, match=rf"{TABLE} changed \(now version 1, expected version 0\)"):
        other.write(0, [override("b")], audit("drain", override("b"), author="bob"))
    # a later write (version 1)
    assert store.read().version == other.read().version == 1
    assert other.write(1, [override("b")], audit("drain", override("b"), author="bob")) == 2
    with pytest.raises(ConflictError, match=rf"{TABLE} changed \(now version 2, expected version 1\)"):
        store.write(1, [override("c")], audit("drain", override("c")))
    assert store.read() == Stored(2, (override("b"),))
    # the losers left no audit entry behind (the state and audit items are written together or not at all)
    assert [(e.version, e.author) for e in store.history()] == [(1, "alice"), (2, "bob")]


def test_update_loses_nothing_when_two_writers_race(store: DynamoStore, serialised_transactions: None) -> None:
    barrier = threading.Barrier(2, timeout=20)

    def appending(new: Override) -> Callable[[Stored], tuple[list[Override], dict[str, Any]]]:
        first = [True]

        def change(current: Stored) -> tuple[list[Override], dict[str, Any]]:
            if first[0]:  # both writers have read before either writes
                first[0] = False
                barrier.wait()
            return rules.put(current.overrides, new, NOW), audit("drain", new, author=new.id)
        return change

    a, b = override("a", "eu-west"), override("b", "us-east")
    stores = [store, DynamoStore(TABLE, REGION)]
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(update, s, appending(o)) for s, o in zip(stores, (a, b))]
        results = [f.result(timeout=60) for f in futures]
    final = store.read()
    assert final.version == 2
    assert {o.id for o in final.overrides} == {"a", "b"}
    assert sum(conflicts for _, conflicts in results) == 1
    assert sorted(stored.version for stored, _ in results) == [1, 2]
    assert [e.version for e in store.history()] == [1, 2]


def test_expired_overrides_are_stored_but_not_in_force_and_go_on_the_next_write(store: DynamoStore) -> None:
    now = time.time()
    old = override("old", expires=now - 60)
    live = override("live", "us-east", expires=now + 3600)
    store.write(0, [old, live], audit("drain", old, live))
    got = store.read()
    assert got.overrides == (old, live)  # stored and read back as written
    assert rules.active(got.overrides, now) == [live]
    new = override("new", "ap-south", expires=None)
    final, _ = update(store, lambda cur: (rules.put(cur.overrides, new, now), audit("drain", new)))
    assert {o.id for o in store.read().overrides} == {"live", "new"} == {o.id for o in final.overrides}


def test_a_polling_node_sees_another_nodes_write(store: DynamoStore) -> None:
    node = DynamoStore(TABLE, REGION)  # a node in another process, polling
    operator = store
    before = node.token()
    assert node.token() == before  # nothing written: no change seen
    operator.write(operator.read().version, [override("a")], audit("drain", override("a")))
    after = node.token()
    assert after != before and after == node.read().version == 1
    assert node.token() == after
    operator.write(1, [], audit("clear", override("a")))
    assert node.token() not in (before, after) and node.read() == Stored(2, ())


def test_history_is_oldest_first_with_versions(store: DynamoStore) -> None:
    assert store.history() == []
    actions = ["drain", "down", "clear", "up"]
    for version, action in enumerate(actions):
        store.write(version, [override(f"o{version}")], audit(action, override(f"o{version}")))
    history = store.history()
    assert [(e.version, e.action) for e in history] == list(enumerate(actions, start=1))
    assert history[0].overrides == (override("o0"),) and history[0].reason == "test"
    assert [e.version for e in store.history(limit=2)] == [3, 4]


def test_a_missing_table_is_a_one_line_error(aws: None) -> None:
    s = DynamoStore("no-such-table", REGION)
    for attempt in (s.read, s.token, s.history, lambda: s.write(0, [override("a")], audit("drain"))):
        with pytest.raises(StoreError, match=f"^no DynamoDB table no-such-table in {REGION}$"):
            attempt()


def test_no_credentials_is_a_one_line_error_before_any_request(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Any) -> None:
    import os
    for k in list(os.environ):
        if k.startswith("AWS_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("BOTO_CONFIG", str(tmp_path / "no-boto"))
    s = DynamoStore(TABLE, REGION)
    sent: list[str] = []
    s.client.meta.events.register("before-send", lambda request, **kw: sent.append(request.url))
    for attempt in (s.read, s.token, lambda: s.write(0, [override("a")], audit("drain"))):
        with pytest.raises(StoreError, match="^no AWS credentials found"):
            attempt()
    assert sent == []


@pytest.mark.parametrize("body, why", [
    ("not json", "Expecting value"),
    ('{"id": "a"}', "not a list of overrides"),
    ('[{"id": "a", "region": "eu-west"}]', "needs action"),
    ('[{"id": "a", "action": "explode", "region": "eu-west"}]', "action must be one of"),
])
def test_a_corrupt_state_item_is_a_store_error(store: DynamoStore, body: str, why: str) -> None:
    store.client.put_item(TableName=TABLE, Item={**STATE_KEY, "version": {"N": "3"}, "body": {"S": body}})
    with pytest.raises(StoreError, match=f"^the override store {TABLE}: .*{why}"):
        store.read()
    assert store.token() == 3  # polling still works: the node keeps what it last read and says why


def test_a_state_item_without_a_version_is_a_store_error(store: DynamoStore) -> None:
    store.client.put_item(TableName=TABLE, Item={**STATE_KEY, "body": {"S": "[]"}})
    for attempt in (store.read, store.token):
        with pytest.raises(StoreError, match=f"{TABLE}: its state item has no integer version"):
            attempt()


def test_access_denied_and_transaction_conflicts(aws: None) -> None:
    s = DynamoStore(TABLE, REGION)
    with Stubber(s.client) as stub:
        stub.add_client_error("get_item", "AccessDeniedException", "User: arn:aws:iam::1:user/x is not\nauthorized")
        with pytest.raises(StoreError, match=f"^DynamoDB GetItem on table {TABLE} in {REGION}: access denied "
                                             r"\(AccessDeniedException: User: .* is not authorized\)$"):
            s.read()
        # another transaction on the item at that moment: a conflict, so update() reads again and retries
        stub.add_client_error("transact_write_items", "TransactionCanceledException", "cancelled",
                              modeled_fields={"CancellationReasons": [{"Code": "TransactionConflict"},
                                                                      {"Code": "None"}]})
        with pytest.raises(ConflictError, match="being changed by another write"):
            s.write(4, [], audit("clear"))
        stub.add_client_error("transact_write_items", "TransactionCanceledException", "cancelled",
                              modeled_fields={"CancellationReasons": [{"Code": "None"},
                                                                      {"Code": "ValidationError"}]})
        with pytest.raises(StoreError, match=r"cancelled \(ValidationError\)$") as e:
            s.write(4, [], audit("clear"))
        assert not isinstance(e.value, ConflictError)


def test_a_body_too_big_for_one_item_is_refused(store: DynamoStore) -> None:
    many = [Override(f"id{i:05d}", "drain", "eu-west", reason="x" * 400) for i in range(1000)]
    with pytest.raises(StoreError, match="1000 overrides take .* bytes, more than"):
        store.write(0, many, audit("drain"))
    assert store.read() == Stored(0, ())


def test_create_table_matches_the_terraform_layout_and_tolerates_an_existing_table(store: DynamoStore) -> None:
    create_table(store.client, TABLE)  # again: waits for it, no error
    table = store.client.describe_table(TableName=TABLE)["Table"]
    assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {("pk", "HASH"), ("sk", "RANGE")}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["TableStatus"] == "ACTIVE"


def test_open_store_makes_a_dynamodb_store(store: DynamoStore) -> None:
    s = open_store(StoreSettings(kind="dynamodb", table=TABLE, aws_region=REGION))
    assert isinstance(s, DynamoStore)
    assert (s.table, s.region, s.client.meta.region_name) == (TABLE, REGION, REGION)
    store.write(0, [override("a")], audit("drain"))
    assert s.read() == Stored(1, (override("a"),))


# -- the apply lock in the table (gtm route53 apply with a DynamoDB override store) ---------------------------
def test_the_table_lock_is_one_holder_at_a_time_and_released_only_by_its_holder(store: DynamoStore) -> None:
    from gtm.state.dynamodb import TableLock

    clock = [NOW]
    first = TableLock(store, "route53:example.com.", "alice", now=lambda: clock[0])
    second = TableLock(store, "route53:example.com.", "bob", now=lambda: clock[0])
    other_zone = TableLock(store, "route53:example.org.", "bob", now=lambda: clock[0])
    first.take(600)
    other_zone.take(600)  # another zone's lock is another item
    with pytest.raises(StoreError, match=r"another apply holds the lock route53:example.com. in table "
                                         r"gtm-overrides-test: held by alice until .* --force-unlock"):
        second.take(600)
    first.release()
    second.take(600)  # free again
    first.release()   # not alice's any more: left alone
    with pytest.raises(StoreError, match="held by bob"):
        first.take(600)
    clock[0] += 601   # bob's time is past: an apply that died
    first.take(600)
    second.take(600, force=True)  # --force-unlock
    assert store.client.get_item(TableName=TABLE, Key={"pk": {"S": "lock"}, "sk": {"S": "route53:example.com."}},
                                 ConsistentRead=True)["Item"]["holder"]["S"] == "bob"
    second.release()
    assert "Item" not in store.client.get_item(TableName=TABLE, Key={"pk": {"S": "lock"},
                                                                     "sk": {"S": "route53:example.com."}})
    assert store.read() == Stored(0)  # the overrides' state item is untouched


def test_a_lock_put_whose_answer_was_lost_is_recognised_as_ours(store: DynamoStore) -> None:
    """The PutItem goes through and its answer is lost; botocore's retry is refused by the condition: the item
    carries our nonce, so the lock is ours."""
    from botocore.exceptions import ReadTimeoutError

    from gtm.state.dynamodb import TableLock

    lock = TableLock(store, "route53:example.com.", "alice")
    real = store.client.put_item

    def lost(**kw: Any) -> Any:
        real(**kw)
        raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    store.client.put_item = lost  # type: ignore[method-assign]
    lock.take(600)
    store.client.put_item = real  # type: ignore[method-assign]
    with pytest.raises(StoreError, match="held by alice"):
        TableLock(store, "route53:example.com.", "bob").take(600)
