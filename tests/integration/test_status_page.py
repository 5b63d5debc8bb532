"""The status page in a real browser: Debian's headless chromium driven by chromedriver (selenium), against a real
``gtm serve`` that receives signed reports, so that the region × vantage matrix shows every state.

The node's vantages: frankfurt sees eu-west up and us-east down; virginia sees everything down while frankfurt
does not, so it is *sick*; singapore never reports (*unknown*). The test then changes frankfurt's view and
waits for the page to follow without a reload, and finally stops the node and waits for the page to say so.

A screenshot is left in ``/tmp/gtm-status-page.png``. Without chromium and chromedriver the test is skipped
locally and fails in CI (``.ci/run`` installs them).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import pytest

from tests.support.admin_node import (
    ENDPOINTS, TOKEN, all_obs, obs, running_node, write_node,
)

SCREENSHOT = Path("/tmp/gtm-status-page.png")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1360,1500", "--force-device-scale-factor=1", "--lang=en-US"]
T = TypeVar("T")


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing (.ci/run installs it)")
    pytest.skip(f"{what} is not installed (apt-get install chromium chromium-driver; pip install selenium)")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        _missing("chromium or chromedriver")
    options = Options()
    options.binary_location = chromium
    for flag in FLAGS + [f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver's path is given: selenium's own driver manager (which would download one) is never run.
    service = Service(executable_path=chromedriver, log_output=subprocess.DEVNULL)
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.set_page_load_timeout(10)
        driver.set_script_timeout(5)
        yield driver
    finally:
        driver.quit()


def wait(what: str, probe: Callable[[], T | None], timeout: float = 3.0) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except Exception as e:  # the page re-renders under us: an element may go stale between two calls
            last = e
        else:
            if last:
                return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def matrix(driver: Any) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(region, vantage or 'verdict') -> (data-state, class, text) of every matrix cell, read in one go."""
    cells = driver.execute_script("""
        return [...document.querySelectorAll('#matrix tbody td[data-region]')].map(td =>
            [td.dataset.region, td.dataset.vantage || 'verdict', td.dataset.state, td.className, td.innerText]);
    """)
    return {(r, v): (s, c, t) for r, v, s, c, t in cells}


def states(driver: Any) -> dict[tuple[str, str], str]:
    return {k: v[0] for k, v in matrix(driver).items()}


def test_status_page_in_a_browser(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    with running_node(write_node(tmp_path)) as node:
        eu, us = ENDPOINTS["eu-west"], ENDPOINTS["us-east"]
        node.send("frankfurt", all_obs(up=["eu-west"], down=["us-east"], rtt={"eu-west": 12.5}))
        node.send("virginia", all_obs(down=["eu-west", "us-east"]))

        browser.get(f"{node.url}/?token={TOKEN}")
        assert browser.title == "gtm status"
        wait("the matrix", lambda: len(matrix(browser)) == 8)
        cells = matrix(browser)
        assert states(browser) == {
            ("eu-west", "verdict"): "up", ("eu-west", "frankfurt"): "up", ("eu-west", "virginia"): "sick",
            ("eu-west", "singapore"): "unknown",
            ("us-east", "verdict"): "down", ("us-east", "frankfurt"): "down", ("us-east", "virginia"): "sick",
            ("us-east", "singapore"): "unknown"}
        for (region, vantage), (state, cls, text) in cells.items():
            assert state in cls.split(), (region, vantage, cls)
            assert text.split("\n")[0].strip().lower() == state, (region, vantage, text)
        assert "12.5 ms" in cells[("eu-west", "frankfurt")][2]  # the RTT, in the cell
        assert "2 of 2 endpoints up" in cells[("eu-west", "verdict")][2]
        heads = {th.get_attribute("data-vantage"): th.text for th in
                 browser.find_elements(By.CSS_SELECTOR, "#matrix thead th[data-vantage]")}
        assert list(heads) == ["frankfurt", "virginia", "singapore"]
        assert "sick" in heads["virginia"] and "silent" in heads["singapore"]

        # the endpoint table: each vantage's view with RTT and detail
        row = browser.find_element(By.CSS_SELECTOR, f"#endpoints tr[data-address='{us[0]}']")
        by_vantage = {td.get_attribute("data-vantage"): (td.get_attribute("data-state"), td.text)
                      for td in row.find_elements(By.CSS_SELECTOR, "td[data-state]")}
        assert by_vantage[""][0] == "down" and by_vantage["frankfurt"][0] == "down"
        assert "503" in by_vantage["frankfurt"][1]
        row = browser.find_element(By.CSS_SELECTOR, f"#endpoints tr[data-address='{eu[0]}']")
        assert "12.5 ms" in row.text and "200" in row.text
        # the transitions, the services, the overrides
        transitions = browser.find_element(By.ID, "transitions").text.lower()
        assert f"web us-east {us[0]}" in transitions and "frankfurt" in transitions and "sick" in transitions
        assert "eu-west" in browser.find_element(By.CSS_SELECTOR, "#services tr[data-service='adm.test/app']").text
        assert browser.find_element(By.ID, "overrides").text == "none"
        assert not browser.find_element(By.ID, "hostnames-section").is_displayed()  # no hostname endpoint here
        assert browser.find_element(By.ID, "err").is_displayed() is False

        # live: a new report shows within ~3 s, without reloading the page
        browser.execute_script("window.__sameDocument = 42;")
        polls = int(browser.execute_script("return document.body.dataset.polls"))
        node.send("frankfurt", (obs("us-east", us[0], True, 80.0), obs("eu-west", eu[0], True, 12.5),
                                obs("eu-west", eu[1], False)))
        wait("us-east to come up on the page",
             lambda: states(browser)[("us-east", "frankfurt")] == "up" and
             states(browser)[("us-east", "verdict")] == "up", timeout=3.5)
        assert browser.execute_script("return window.__sameDocument") == 42
        assert int(browser.execute_script("return document.body.dataset.polls")) > polls
        cells = matrix(browser)
        assert cells[("eu-west", "frankfurt")][0] == "down" and "1 of 2 down" in cells[("eu-west", "frankfurt")][2]
        assert cells[("eu-west", "verdict")][0] == "up"  # one endpoint of two is enough (region_min_up 1)
        assert "80.0 ms" in cells[("us-east", "frankfurt")][2]
        newest = browser.find_element(By.CSS_SELECTOR, f"#transitions tr[data-name='web us-east {us[0]}']")
        assert "up" in newest.find_element(By.CSS_SELECTOR, "td.up").text.lower()  # newest first: it came up

        # an operator's override (written to the node's store, beside its config) shows within a poll or two
        from gtm.model import Override
        from gtm.state.store import FileStore, audit_entry

        FileStore(str(tmp_path / ".gtm-overrides.json")).write(0, [Override(
            "t1", "drain", "us-east", reason="maintenance window", author="alice@ops", created=time.time())], audit_entry("drain", [], "alice@ops", ""))
        wait("the override on the page", lambda: "maintenance window" in browser.find_element(By.ID, "overrides").text,
             timeout=5)
        row = browser.find_element(By.CSS_SELECTOR, "#overrides tr.override")
        assert all(text in row.text.lower() for text in ("drain", "us-east", "alice@ops", "all")), row.text
        assert "us-east" not in browser.find_element(By.CSS_SELECTOR, "#services tr[data-service='adm.test/app']").text

        # nothing was fetched from elsewhere, and the page logged no error (a CSP violation would be one)
        resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert resources and all(r.startswith(node.url + "/") for r in resources), resources
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []

        browser.save_screenshot(str(SCREENSHOT))

        # the node goes away: the page says so and keeps the last data
        node.proc.stop()
        wait("the page to notice the node is gone", lambda: browser.find_element(By.ID, "err").is_displayed())
        assert "cannot fetch /v1/status" in browser.find_element(By.ID, "err").text
        assert len(matrix(browser)) == 8



def test_the_page_lists_hostname_endpoints_with_their_state_and_addresses(tmp_path: Path, browser: Any) -> None:
    """A node with a hostname endpoint (a name of its own zone): the page's hostname table shows the name, its
    state and its addresses; a node without any keeps the section hidden (the first test's node)."""
    from selenium.webdriver.common.by import By

    from tests.conftest import GtmProcess

    (tmp_path / "h.test.yaml").write_text(
        "zone: h.test\nsoa: {}\nns: [ns1]\nrecords:\n  ns1: {A: 192.0.2.53}\n"
        "  lb: {A: [192.0.2.7, 192.0.2.8]}\n"
        "admin: {listen: '127.0.0.1:0'}\n"
        "regions:\n  eu: {location: {lat: 50, lon: 8}, endpoints: [{hostname: lb.h.test}]}\n"
        "services:\n  www: {regions: [eu]}\n")
    node = GtmProcess([str(tmp_path)], tmp_path)
    try:
        browser.get(f"{node.admin}/")
        row = wait("the hostname row", lambda: browser.find_elements(By.CSS_SELECTOR, "#hostnames tr[data-hostname]"))
        assert browser.find_element(By.ID, "hostnames-section").is_displayed()
        assert row[0].get_attribute("data-hostname") == "lb.h.test"
        cell = row[0].find_element(By.CSS_SELECTOR, "td[data-state]")
        assert cell.get_attribute("data-state") == "up" and "192.0.2.7" in row[0].text and "192.0.2.8" in row[0].text
    finally:
        node.stop()
