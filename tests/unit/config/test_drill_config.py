"""The configuration of overrides and drills: the ``overrides:`` store, the ``drills:`` section (blackout
windows, nodes) and each service's ``demand``. Every wrong value is one ``file:line: path: message`` line.

Each test writes ``z.yaml`` into a temporary working directory, so that messages name ``z.yaml``.
"""
from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest

from gtm.config import load
from gtm.errors import ConfigError
from gtm.model import Demand, DrillSettings, NodeAddress, StoreSettings, Window
from tests.unit.config.test_loader_errors import BASE

ZONES = Path(__file__).resolve().parents[3] / "zones"

# BASE (the loader tests' zone): sections appended to it start at line 11; a service added with service() is
# at line 12.


def service(demand: str) -> str:
    return BASE + f"services:\n  www: {{regions: [r1, r2], demand: {demand}}}\n"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def problems(text: str) -> list[str]:
    Path("z.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load("z.yaml")
    return [str(p) for p in info.value.problems]


def loads(text: str) -> tuple[StoreSettings, DrillSettings]:
    Path("z.yaml").write_text(text)
    config = load("z.yaml")
    return config.overrides, config.drills


# -- what loads -----------------------------------------------------------------------------------------------
def test_the_bundled_example() -> None:
    config = load(str(ZONES))
    assert config.overrides == StoreSettings(kind="file", path=os.path.join(str(ZONES), ".gtm-overrides.json"))
    assert config.drills == DrillSettings()
    demands = {s.key: s.demand for s in config.services}
    assert demands == {"www": Demand(latency_ms=250.0, rps=100000.0), "api": Demand(latency_ms=100.0, rps=20000.0),
                       "shop": None}
    assert {r.name: r.capacity for r in config.regions.values()} == {
        "us-east": 40000, "eu-west": 30000, "ap-southeast": 20000, "sa-east": 15000}


def test_the_default_file_store_lives_beside_the_first_config_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "z.yaml").write_text(BASE)
    overrides = load("conf").overrides
    assert overrides == StoreSettings(path=str(tmp_path / "conf" / ".gtm-overrides.json"))


def test_a_file_store_path_is_relative_to_its_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "z.yaml").write_text(BASE + "overrides: {path: state/o.json, poll: 0.25}\n")
    overrides = load("conf").overrides
    assert overrides == StoreSettings(kind="file", path=os.path.join("conf", "state/o.json"), poll=0.25)


def test_a_dynamodb_store() -> None:
    overrides, _ = loads(BASE + "overrides: {store: dynamodb, table: t-1, aws_region: eu-west-1, poll: 2}\n")
    assert overrides == StoreSettings(kind="dynamodb", path=None, table="t-1", aws_region="eu-west-1", poll=2.0)
    overrides, _ = loads(BASE + "overrides: {store: dynamodb}\n")
    assert overrides == StoreSettings(kind="dynamodb", table="gtm-overrides")  # no file path for it


def test_the_drills_section() -> None:
    _, drills = loads(BASE + """\
drills:
  budget: 45
  clients: 3
  blackout:
    - {days: [sat, Sunday], from: "09:00", to: "17:30", tz: Europe/Berlin}
    - {start: "2026-12-24T00:00:00Z", end: "2026-12-27T00:00:00+01:00"}
    - {from: "02:00", to: "03:00"}
  nodes:
    - {dns: "192.0.2.53:53", admin: "http://192.0.2.53:8080/"}
    - {dns: "[2001:db8::53]:5353"}
""")
    assert drills.budget == 45 and drills.clients == 3
    weekly, once, daily = drills.blackout
    assert (weekly.days, weekly.start, weekly.end, weekly.tz, weekly.at) == ((5, 6), 540, 1050, "Europe/Berlin", None)
    assert "Europe/Berlin" in weekly.text
    start = datetime.datetime(2026, 12, 24, tzinfo=datetime.timezone.utc).timestamp()
    end = datetime.datetime(2026, 12, 26, 23, tzinfo=datetime.timezone.utc).timestamp()
    assert once.at == (start, end)
    assert daily == Window(days=(), start=120, end=180, tz="UTC", text=daily.text)
    assert drills.nodes == (NodeAddress(("192.0.2.53", 53), "http://192.0.2.53:8080"),
                            NodeAddress(("2001:db8::53", 5353), None))


def test_a_window_without_from_and_to_is_the_whole_day() -> None:
    _, drills = loads(BASE + "drills: {blackout: [{days: [mon]}]}\n")
    assert drills.blackout[0].days == (0,) and (drills.blackout[0].start, drills.blackout[0].end) == (0, 1440)


@pytest.mark.parametrize("demand, expected", [
    ("{rps: 500, latency_ms: 20}", Demand(20.0, rps=500.0)),
    ("{per_query: 1.5, latency_ms: 80}", Demand(80.0, per_query=1.5)),
])
def test_a_demand(demand: str, expected: Demand) -> None:
    Path("z.yaml").write_text(service(demand))
    assert load("z.yaml").services[0].demand == expected


# -- overrides: errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("section, expected", [
    ("{store: dynamodb, path: o.json}",
     "z.yaml:11: overrides.path: is only used with store: file (got store: dynamodb)"),
    ("{table: t-1}", "z.yaml:11: overrides.table: is only used with store: dynamodb (got store: file)"),
    ("{store: file, aws_region: eu-west-1}",
     "z.yaml:11: overrides.aws_region: is only used with store: dynamodb (got store: file)"),
    ("{store: dynamodb, table: 'a b'}", "z.yaml:11: overrides.table: must be 3-255 of A-Z a-z 0-9 _ . - (got 'a b')"),
    ("{store: dynamodb, table: ab}", "z.yaml:11: overrides.table: must be 3-255 of A-Z a-z 0-9 _ . - (got 'ab')"),
    ("{store: dynamo}", "z.yaml:11: overrides.store: must be one of file, dynamodb; did you mean 'dynamodb'? "
                        "(got 'dynamo')"),
    ("{poll: 0}", "z.yaml:11: overrides.poll: must be between 0.05 and 60 (got 0)"),
    ("{stor: file}", "z.yaml:11: overrides.stor: unknown key; did you mean 'store'?"),
    ("[file]", "z.yaml:11: overrides: must be a mapping (got ['file'])"),
])
def test_overrides_errors(section: str, expected: str) -> None:
    assert problems(BASE + f"overrides: {section}\n") == [expected]


def test_overrides_set_twice() -> None:
    Path("y.yaml").write_text("overrides: {poll: 1}\n")
    Path("z.yaml").write_text(BASE + "overrides: {poll: 2}\n")
    with pytest.raises(ConfigError) as info:
        load(["y.yaml", "z.yaml"])
    assert [str(p) for p in info.value.problems] == ["z.yaml:11: overrides: is set twice (also at y.yaml:1)"]


# -- drills: errors -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dns", ["127.0.0.1", "dns.example.com:53", "192.0.2.1:0", "[::1]:70000", "192.0.2.1:x",
                                 "192.0.2.1:"])
def test_a_node_dns_that_is_not_address_port(dns: str) -> None:
    assert problems(BASE + f'drills:\n  nodes:\n    - {{dns: "{dns}"}}\n') == [
        f"z.yaml:13: drills.nodes[0].dns: must be ADDRESS:PORT, IPv6 as [ADDRESS]:PORT (got '{dns}')"]


def test_other_node_errors() -> None:
    assert problems(BASE + """\
drills:
  nodes:
    - {dns: "192.0.2.1:53", admin: "ftp://192.0.2.1"}
    - {admin: "http://192.0.2.2:8080"}
""") == ["z.yaml:13: drills.nodes[0].admin: must be an http:// or https:// URL (got 'ftp://192.0.2.1')",
         "z.yaml:14: drills.nodes[1].dns: is required"]


@pytest.mark.parametrize("window, expected", [
    ('{days: [sat], tz: Mars/Olympus}', "drills.blackout[0].tz: unknown time zone (got 'Mars/Olympus')"),
    ('{from: "9am"}', "drills.blackout[0].from: must be HH:MM (got '9am')"),
    ('{from: "12:60"}', "drills.blackout[0].from: must be HH:MM (got '12:60')"),
    ('{from: "24:01"}', "drills.blackout[0].from: must be HH:MM (got '24:01')"),
    ('{from: "17:00", to: "09:00"}', "drills.blackout[0].to: must be after from"),
    ('{from: "09:00", to: "09:00"}', "drills.blackout[0].to: must be after from"),
    ('{days: [mon, funday]}', "drills.blackout[0].days[1]: must be a day of the week, mon..sun (got 'funday')"),
    ('{days: [1]}', "drills.blackout[0].days[0]: must be a day of the week, mon..sun (got 1)"),
    ('{start: "2026-12-24T00:00:00", end: "2026-12-25T00:00:00Z"}',
     "drills.blackout[0].start: must be an ISO 8601 time with a zone, e.g. 2026-12-24T00:00:00Z "
     "(got '2026-12-24T00:00:00')"),
    ('{start: "2026-12-24T00:00:00Z", end: "soon"}',
     "drills.blackout[0].end: must be an ISO 8601 time with a zone, e.g. 2026-12-24T00:00:00Z (got 'soon')"),
    ('{start: "2026-12-24T00:00:00Z"}',
     "drills.blackout[0].end: must be an ISO 8601 time with a zone, e.g. 2026-12-24T00:00:00Z (got null)"),
    ('{start: "2026-12-24T00:00:00Z", end: "2026-12-24T00:30:00+01:00"}', "drills.blackout[0].end: must be after start"),
    ('{start: "2026-12-24T00:00:00Z", end: "2026-12-24T00:00:00Z"}', "drills.blackout[0].end: must be after start"),
    ('{days: [sat], form: "09:00"}', "drills.blackout[0].form: unknown key; did you mean 'from'?"),
])
def test_blackout_errors(window: str, expected: str) -> None:
    assert problems(BASE + f"drills:\n  blackout:\n    - {window}\n") == [f"z.yaml:13: {expected}"]


def test_blackout_errors_name_their_own_line() -> None:
    assert problems(BASE + """\
drills:
  blackout:
    - days: [sat]
      from: "10:00"
      to: "08:00"
      tz: Europe/Nowhere
    - start: "2026-12-24T00:00:00Z"
      end: "2026-12-23T00:00:00Z"
""") == ["z.yaml:15: drills.blackout[0].to: must be after from",
         "z.yaml:16: drills.blackout[0].tz: unknown time zone (got 'Europe/Nowhere')",
         "z.yaml:18: drills.blackout[1].end: must be after start"]


def test_blackout_must_be_a_list() -> None:
    assert problems(BASE + "drills:\n  blackout: {days: [sat]}\n") == [
        "z.yaml:12: drills.blackout: must be a list (got {'days': ['sat']})"]


def test_a_bad_to_is_one_problem() -> None:
    assert problems(BASE + 'drills:\n  blackout:\n    - {from: "09:00", to: "25:00"}\n') == [
        "z.yaml:13: drills.blackout[0].to: must be HH:MM (got '25:00')"]


def test_a_word_that_only_starts_like_a_day_is_no_day() -> None:
    assert problems(BASE + "drills:\n  blackout:\n    - {days: [sunny]}\n") == [
        "z.yaml:13: drills.blackout[0].days[0]: must be a day of the week, mon..sun (got 'sunny')"]


# -- demand: errors -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("demand, expected", [
    ("{rps: 10, per_query: 1, latency_ms: 5}",
     "services.www.demand: needs exactly one of rps (requests/s) or per_query (requests per DNS query)"),
    ("{latency_ms: 5}",
     "services.www.demand: needs exactly one of rps (requests/s) or per_query (requests per DNS query)"),
    ("{rps: 10}", "services.www.demand.latency_ms: is required"),
    ("{rps: 10, latency_ms: 0}", "services.www.demand.latency_ms: must be between 0.001 and 3600000 (got 0)"),
    ("{rps: 10, latency: 5}", "services.www.demand.latency: unknown key; did you mean 'latency_ms'?"),
    ("5", "services.www.demand: must be a mapping (got 5)"),
])
def test_demand_errors(demand: str, expected: str) -> None:
    found = problems(service(demand))
    if "latency:" in demand:  # the misspelt key leaves latency_ms missing too
        assert found == [f"z.yaml:12: {expected}", "z.yaml:12: services.www.demand.latency_ms: is required"]
    else:
        assert found == [f"z.yaml:12: {expected}"]


@pytest.mark.parametrize("demand, expected", [
    ("{rps: -1, latency_ms: 5}", "services.www.demand.rps: must be between 0 and 1000000000000.0 (got -1)"),
    ("{rps: many, latency_ms: 5}", "services.www.demand.rps: must be a number (got 'many')"),
    ("{per_query: -2, latency_ms: 5}", "services.www.demand.per_query: must be between 0 and 1000000000.0 (got -2)"),
])
def test_a_wrong_rate_is_one_problem(demand: str, expected: str) -> None:
    assert problems(service(demand)) == [f"z.yaml:12: {expected}"]
