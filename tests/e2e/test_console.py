"""The console on the HTTP port (issue 34), driven in headless Chromium through Selenium.

Each test starts real brokers and real clients (confluent-kafka, kcat, `streamhouse groups describe`)
and reads what the browser's DOM shows. Every page visited is saved as a screenshot in the pytest
temporary folder `console-screens` (its path is printed), for a look at how the pages render.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from streamhouse.broker.console.sessions import COOKIE
from tests.brokerproc import BrokerProcess
from tests.securebroker import add_user

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
REPOSITORY = Path(__file__).parents[2]
WAIT = 30.0
MAX_PAGE_BYTES = 100 * 1024


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def screens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("console-screens")
    print(f"console screenshots in {folder}")
    return folder


@pytest.fixture
def clean_browser(browser: WebDriver) -> WebDriver:
    """The module's browser with no cookie of an earlier test's broker (ports are reused)."""
    browser.delete_all_cookies()
    return browser


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    process = BrokerProcess(tmp_path_factory.mktemp("broker")).start()
    yield process
    assert process.stop() == 0, process.log_text()[-4000:]


def url(broker: BrokerProcess, path: str = "/") -> str:
    return f"http://127.0.0.1:{broker.http_port}{path}"


def visit(driver: WebDriver, address: str, screens: Path, name: str) -> str:
    """Loads a page, checks its size, saves its screenshot; returns its HTML."""
    driver.get(address)
    save(driver, screens, name)
    return driver.page_source


def save(driver: WebDriver, screens: Path, name: str) -> None:
    """Checks the page's size and saves a screenshot of the whole page, beyond the window too."""
    source = driver.page_source
    assert len(source.encode()) < MAX_PAGE_BYTES, f"{name}: {len(source)} bytes"
    width, height = driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    (screens / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))


def produce(bootstrap: str, topic: str, records: list[tuple[str, str]], partition: int = -1) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for key, value in records:
        producer.produce(topic, key=key, value=value, headers=[("source", b"test")], partition=partition)
    assert producer.flush(WAIT) == 0


def produce_at(bootstrap: str, topic: str, timestamps: list[int]) -> None:
    """One record per timestamp (ms), in that order; values name the timestamp."""
    producer = Producer({"bootstrap.servers": bootstrap})
    for timestamp in timestamps:
        producer.produce(topic, value=str(timestamp), timestamp=timestamp)
    assert producer.flush(WAIT) == 0


def create_topic(bootstrap: str, topic: str, partitions: int, configs: dict[str, str] | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, partitions, config=configs or {})]).values():
        future.result(WAIT)


def cells(driver: WebDriver, table: str) -> list[list[str]]:
    """The text of each body row's cells of the table with that id, read in one script (the page refreshes)."""
    rows: list[list[str]] = driver.execute_script(
        "return Array.from(document.querySelectorAll('table#' + arguments[0] + ' tbody tr'),"
        " row => Array.from(row.cells, cell => cell.innerText));",
        table,
    )
    return rows


def post(broker: BrokerProcess, path: str, fields: dict[str, str], cookie: str | None) -> tuple[int, str]:
    """A form POST as another site's page could send it: status and body."""
    connection = http.client.HTTPConnection("127.0.0.1", broker.http_port, timeout=WAIT)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if cookie is not None:
        headers["Cookie"] = f"{COOKIE}={cookie}"
    connection.request("POST", path, urlencode(fields), headers)
    response = connection.getresponse()
    return response.status, response.read().decode()


def high_watermark(driver: WebDriver, broker: BrokerProcess, topic: str) -> int:
    driver.get(url(broker, f"/console/topic/{topic}"))
    [[_, _, end, _]] = cells(driver, "partitions")
    return int(end)


def test_done_when_the_front_page_links_console_topic_and_its_page_shows_the_ten_values(
    broker: BrokerProcess, clean_browser: WebDriver, screens: Path
) -> None:
    values = [f"console value {n}" for n in range(10)]
    produce(broker.bootstrap, "console-topic", [(f"key-{n}", value) for n, value in enumerate(values)])
    visit(clean_browser, url(broker), screens, "front")
    [link] = [a for a in clean_browser.find_elements(By.TAG_NAME, "a") if a.text == "console-topic"]
    [topic_row] = [row for row in cells(clean_browser, "topics") if row[0] == "console-topic"]
    partitions, records, size, cleanup, retention = topic_row[1:]
    assert (partitions, records, cleanup, retention) == ("1", "10", "delete", "604800000")
    assert int(size) > sum(len(value) for value in values)  # the stored batches: records and their framing
    link.click()
    WebDriverWait(clean_browser, WAIT).until(lambda d: "Topic console-topic" in d.title)
    save(clean_browser, screens, "topic")
    shown = [row[3] for row in cells(clean_browser, "records")]
    assert shown == values


def test_the_front_page_lists_brokers_and_refreshes_itself(
    broker: BrokerProcess, clean_browser: WebDriver, screens: Path
) -> None:
    visit(clean_browser, url(broker), screens, "front-before-refresh")
    [[broker_id, listeners, uptime, readiness]] = cells(clean_browser, "brokers")
    assert (broker_id, readiness) == ("0", "ready")
    assert f"PLAINTEXT://127.0.0.1:{broker.port}" in listeners
    assert re.fullmatch(r"\d+h \d+m \d+s", uptime)
    produce(broker.bootstrap, "appears-later", [("k", "v")])
    # No reload: console.js fetches the page again and swaps <main>.
    # The refresh swaps <main> under a read of its cells: a stale element is read again.
    WebDriverWait(clean_browser, WAIT, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: any(row[0] == "appears-later" for row in cells(d, "topics"))
    )
    assert clean_browser.execute_script("return document.getElementById('live').dataset.refreshed") is not None


def test_an_open_transaction_is_listed_and_transactional_records_are_marked_until_they_commit(
    broker: BrokerProcess, clean_browser: WebDriver, screens: Path
) -> None:
    producer = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "console-tx"})
    producer.init_transactions(WAIT)
    producer.begin_transaction()
    producer.produce("tx-topic", value=b"in a transaction")
    assert producer.flush(WAIT) == 0
    visit(clean_browser, url(broker), screens, "front-transaction")
    [[transactional_id, _, _, state, started]] = cells(clean_browser, "transactions")
    assert (transactional_id, state) == ("console-tx", "Ongoing")
    assert started.startswith(time.strftime("%Y-", time.gmtime()))
    clean_browser.get(url(broker, "/console/topic/tx-topic"))
    assert [(row[0], row[3]) for row in cells(clean_browser, "records")] == [("0 uncommitted", "in a transaction")]
    producer.commit_transaction(WAIT)
    clean_browser.get(url(broker))
    assert cells(clean_browser, "transactions") == [["none open"]]
    producer.begin_transaction()
    producer.produce("tx-topic", value=b"taken back")
    assert producer.flush(WAIT) == 0
    producer.abort_transaction(WAIT)
    visit(clean_browser, url(broker, "/console/topic/tx-topic"), screens, "transactions-marked")
    # Offset 1 is the commit marker, 3 the abort marker: control records are not shown.
    assert [(row[0], row[3]) for row in cells(clean_browser, "records")] == [
        ("0", "in a transaction"),
        ("2 aborted", "taken back"),
    ]


def test_the_record_browser_shows_key_value_and_headers_in_each_format(
    broker: BrokerProcess, clean_browser: WebDriver, screens: Path
) -> None:
    produce(broker.bootstrap, "browse-topic", [(f"other-{n}", f"plain {n}") for n in range(5)])
    produce(broker.bootstrap, "browse-topic", [("order-42", json.dumps({"id": 42, "items": ["a"]}))])
    produce(broker.bootstrap, "browse-topic", [(f"later-{n}", f"plain later {n}") for n in range(3)])
    query = urlencode({"from": "end", "order": "newest", "format": "json", "key": "order-42"})
    visit(clean_browser, url(broker, f"/console/topic/browse-topic?{query}"), screens, "records-json")
    [[offset, _, key, value, headers]] = cells(clean_browser, "records")
    assert (offset, key, headers) == ("5", "order-42", "source: test")
    assert json.loads(value) == {"id": 42, "items": ["a"]}
    assert value.startswith('{\n  "id": 42')  # pretty-printed
    hexed = urlencode({"from": "offset", "offset": "5", "order": "oldest", "format": "hex", "limit": "1"})
    clean_browser.get(url(broker, f"/console/topic/browse-topic?{hexed}"))
    [[offset, _, key, value, _]] = cells(clean_browser, "records")
    assert (offset, key) == ("5", "order-42")
    assert bytes.fromhex(value.replace(" ", "")) == json.dumps({"id": 42, "items": ["a"]}).encode()
    newest = urlencode({"from": "end", "order": "newest", "limit": "2"})
    clean_browser.get(url(broker, f"/console/topic/browse-topic?{newest}"))
    assert [row[0] for row in cells(clean_browser, "records")] == ["8", "7"]
    oldest = urlencode({"from": "start", "order": "oldest", "limit": "2"})
    clean_browser.get(url(broker, f"/console/topic/browse-topic?{oldest}"))
    assert [row[0] for row in cells(clean_browser, "records")] == ["0", "1"]
    produce_at(broker.bootstrap, "timed-topic", [1_700_000_000_000 + 1000 * n for n in range(3)])
    at = urlencode({"from": "timestamp", "timestamp": "2023-11-14T22:13:21Z", "order": "oldest"})  # the second
    clean_browser.get(url(broker, f"/console/topic/timed-topic?{at}"))
    assert [(row[0], row[1]) for row in cells(clean_browser, "records")] == [
        ("1", "2023-11-14T22:13:21.000+00:00"),
        ("2", "2023-11-14T22:13:22.000+00:00"),
    ]
    before = urlencode({"from": "timestamp", "timestamp": "1700000001000", "order": "newest"})
    clean_browser.get(url(broker, f"/console/topic/timed-topic?{before}"))
    assert [row[0] for row in cells(clean_browser, "records")] == ["1", "0"]
    future = urlencode({"from": "timestamp", "timestamp": str(int(time.time() * 1000) + 3_600_000)})
    clean_browser.get(url(broker, f"/console/topic/browse-topic?{future}"))
    assert cells(clean_browser, "records") == [["no records"]]


def describe_lags(broker: BrokerProcess, group: str) -> dict[tuple[str, int], str]:
    """LAG per (topic, partition) from `streamhouse groups describe`."""
    done = subprocess.run(
        [sys.executable, "-m", "streamhouse.broker.cli", "groups", "describe", group, "--bootstrap", broker.bootstrap],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    header = next(index for index, line in enumerate(lines) if line.startswith("TOPIC"))
    return {(cols[0], int(cols[1])): cols[4] for cols in (line.split() for line in lines[header + 1 :])}


def test_a_groups_lag_equals_groups_describe_and_an_empty_group_resets_to_earliest(
    broker: BrokerProcess, clean_browser: WebDriver, screens: Path
) -> None:
    create_topic(broker.bootstrap, "lag-topic", 3)
    for partition in range(3):
        produce(broker.bootstrap, "lag-topic", [(f"k{n}", f"v{n}") for n in range(4 + partition)], partition)
    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": "lag-group", "auto.offset.reset": "earliest",
         "enable.auto.commit": False}
    )  # fmt: skip
    consumer.subscribe(["lag-topic"])
    consumed = 0
    deadline = time.monotonic() + WAIT
    while consumed < 5 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            consumed += 1
            consumer.commit(message, asynchronous=False)
    assert consumed == 5
    visit(clean_browser, url(broker, "/console/group/lag-group"), screens, "group-stable")
    assert cells(clean_browser, "members")[0][4].startswith("lag-topic-")
    assert clean_browser.find_element(By.CSS_SELECTOR, "form[action$='/reset'] button").get_attribute("disabled")
    consumer.close()  # the group is Empty now
    expected = describe_lags(broker, "lag-group")
    visit(clean_browser, url(broker, "/console/group/lag-group"), screens, "group")
    shown = {(row[0], int(row[1])): row[4] for row in cells(clean_browser, "lag")}
    assert shown == expected
    titles = [
        t.get_attribute("textContent") for t in clean_browser.find_elements(By.CSS_SELECTOR, "table#lag svg title")
    ]
    assert titles and all(title.startswith("lag over the last") for title in titles)
    clean_browser.get(url(broker))
    [group_row] = [row for row in cells(clean_browser, "groups") if row[0] == "lag-group"]
    assert group_row[1:] == ["classic", "Empty", "0", str(sum(int(lag) for lag in expected.values() if lag != "-"))]
    clean_browser.get(url(broker, "/console/group/lag-group"))
    Select(clean_browser.find_element(By.NAME, "to")).select_by_value("earliest")
    clean_browser.find_element(By.CSS_SELECTOR, "form[action$='/reset'] button").click()
    WebDriverWait(clean_browser, WAIT).until(lambda d: "Reset 3 partitions to earliest" in d.page_source)
    assert {(row[0], int(row[1])): row[4] for row in cells(clean_browser, "lag")} == {
        ("lag-topic", p): str(4 + p) for p in range(3)
    }
    assert describe_lags(broker, "lag-group") == {("lag-topic", p): str(4 + p) for p in range(3)}
    Select(clean_browser.find_element(By.NAME, "to")).select_by_value("latest")
    clean_browser.find_element(By.CSS_SELECTOR, "form[action$='/reset'] button").click()
    WebDriverWait(clean_browser, WAIT).until(lambda d: "Reset 3 partitions to latest" in d.page_source)
    assert describe_lags(broker, "lag-group") == {("lag-topic", p): "0" for p in range(3)}


def test_the_produce_forms_record_is_consumed_by_kcat(
    broker: BrokerProcess, clean_browser: WebDriver, screens: Path
) -> None:
    produce(broker.bootstrap, "form-topic", [("first", "from a client")])
    visit(clean_browser, url(broker, "/console/topic/form-topic"), screens, "produce-form")
    clean_browser.find_element(By.NAME, "headers").send_keys("origin=console")
    submit_produce_form(clean_browser, "form-key", "typed in the console")
    WebDriverWait(clean_browser, WAIT).until(lambda d: "Produced at offset 1 of partition 0" in d.page_source)
    assert "csrf" not in clean_browser.current_url and "typed" not in clean_browser.current_url
    save(clean_browser, screens, "produced")
    kcat = subprocess.run(
        ["kcat", "-C", "-b", broker.bootstrap, "-t", "form-topic", "-p", "0", "-o", "1", "-c", "1", "-e",
         "-f", "%k|%s|%h\\n"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert kcat.stdout.strip() == "form-key|typed in the console|origin=console"


def submit_produce_form(driver: WebDriver, key: str, value: str) -> None:
    form = driver.find_element(By.CSS_SELECTOR, "form[action$='/produce']")
    form.find_element(By.NAME, "key").send_keys(key)
    form.find_element(By.NAME, "value").send_keys(value)
    form.find_element(By.TAG_NAME, "button").click()


def test_the_produce_form_keeps_a_compacted_topics_rule_and_stamps_log_append_time(
    broker: BrokerProcess, clean_browser: WebDriver
) -> None:
    create_topic(broker.bootstrap, "compacted-topic", 1, {"cleanup.policy": "compact"})
    clean_browser.get(url(broker, "/console/topic/compacted-topic"))
    submit_produce_form(clean_browser, "", "no key")
    WebDriverWait(clean_browser, WAIT).until(lambda d: "need a key" in d.page_source)
    assert high_watermark(clean_browser, broker, "compacted-topic") == 0
    submit_produce_form(clean_browser, "a-key", "with a key")
    WebDriverWait(clean_browser, WAIT).until(lambda d: "Produced at offset 0" in d.page_source)
    create_topic(broker.bootstrap, "append-time-topic", 1, {"message.timestamp.type": "LogAppendTime"})
    clean_browser.get(url(broker, "/console/topic/append-time-topic"))
    before = int(time.time() * 1000)
    submit_produce_form(clean_browser, "k", "stamped")
    WebDriverWait(clean_browser, WAIT).until(lambda d: "Produced at offset 0" in d.page_source)
    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": "stamp-check", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe(["append-time-topic"])
    message = None
    deadline = time.monotonic() + WAIT
    while message is None and time.monotonic() < deadline:
        message = consumer.poll(0.5)
    consumer.close()
    assert message is not None and message.error() is None
    kind, stamp = message.timestamp()
    assert kind == 2 and stamp >= before  # TIMESTAMP_LOG_APPEND_TIME, the broker's clock at the append


def test_the_produce_form_refuses_a_partition_or_header_it_cannot_write(
    broker: BrokerProcess, clean_browser: WebDriver
) -> None:
    produce(broker.bootstrap, "checked-topic", [("k", "v")])
    clean_browser.get(url(broker, "/console/topic/checked-topic"))
    token = clean_browser.find_element(By.NAME, "csrf").get_attribute("value")
    cookie = clean_browser.get_cookie(COOKIE)
    assert token and cookie is not None
    fields = {"csrf": token, "partition": "0", "key": "k", "value": "v", "headers": ""}
    for changed, message in (
        ({"partition": "1"}, "No such partition"),
        ({"partition": "-1"}, "No such partition"),
        ({"headers": "no equals sign"}, "name=value"),
        ({"headers": "=value without a name"}, "name=value"),
    ):
        status, body = post(broker, "/console/topic/checked-topic/produce", {**fields, **changed}, cookie["value"])
        assert (status, message in body) == (400, True), changed
    assert high_watermark(clean_browser, broker, "checked-topic") == 1


def test_a_form_without_the_sessions_csrf_token_is_refused(broker: BrokerProcess, clean_browser: WebDriver) -> None:
    produce(broker.bootstrap, "csrf-topic", [("k", "v")])
    connection = http.client.HTTPConnection("127.0.0.1", broker.http_port, timeout=WAIT)
    connection.request("GET", "/console/topic/csrf-topic")
    answer = connection.getresponse()
    assert answer.status == 200
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]  # no framing of the forms
    assert re.fullmatch(rf"{COOKIE}=[\w-]{{43}}; Path=/; HttpOnly; SameSite=Strict", answer.headers["Set-Cookie"])
    clean_browser.get(url(broker, "/console/topic/csrf-topic"))
    cookie = clean_browser.get_cookie(COOKIE)
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    token = clean_browser.find_element(By.NAME, "csrf").get_attribute("value")
    assert token
    fields = {"partition": "0", "key": "x", "value": "forged", "headers": ""}
    assert post(broker, "/console/topic/csrf-topic/produce", fields, cookie["value"])[0] == 403
    assert post(broker, "/console/topic/csrf-topic/produce", {**fields, "csrf": "wrong"}, cookie["value"])[0] == 403
    assert post(broker, "/console/topic/csrf-topic/produce", {**fields, "csrf": token}, None)[0] == 403
    reset = {"to": "earliest", "timestamp": ""}
    assert post(broker, "/console/group/nobody/reset", reset, cookie["value"])[0] == 403
    assert high_watermark(clean_browser, broker, "csrf-topic") == 1
    # The same form with the token goes through: the refusals above were for the token alone.
    assert post(broker, "/console/topic/csrf-topic/produce", {**fields, "csrf": token}, cookie["value"])[0] == 303
    assert high_watermark(clean_browser, broker, "csrf-topic") == 2


def test_read_only_mode_shows_but_refuses_the_forms(tmp_path: Path, clean_browser: WebDriver, screens: Path) -> None:
    process = BrokerProcess(tmp_path / "broker", ["--console-read-only", "true"]).start()
    try:
        produce(process.bootstrap, "read-only-topic", [("k", "v")])
        visit(clean_browser, url(process, "/console/topic/read-only-topic"), screens, "read-only")
        button = clean_browser.find_element(By.CSS_SELECTOR, "form[action$='/produce'] button")
        assert button.get_attribute("disabled")
        token = clean_browser.find_element(By.NAME, "csrf").get_attribute("value")
        cookie = clean_browser.get_cookie(COOKIE)
        assert token and cookie is not None
        fields = {"csrf": token, "partition": "0", "key": "", "value": "refused", "headers": ""}
        status, body = post(process, "/console/topic/read-only-topic/produce", fields, cookie["value"])
        assert (status, "read-only" in body) == (403, True)
        reset = {"csrf": token, "to": "earliest", "timestamp": ""}
        assert post(process, "/console/group/any-group/reset", reset, cookie["value"])[0] == 403
        assert high_watermark(clean_browser, process, "read-only-topic") == 1
    finally:
        assert process.stop() == 0


def test_console_false_turns_the_console_off(tmp_path: Path) -> None:
    process = BrokerProcess(tmp_path / "broker", ["--console", "false"]).start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", process.http_port, timeout=WAIT)
        connection.request("GET", "/")
        assert connection.getresponse().status == 404
        connection = http.client.HTTPConnection("127.0.0.1", process.http_port, timeout=WAIT)
        connection.request("GET", "/health")
        assert connection.getresponse().status == 200
    finally:
        assert process.stop() == 0


def test_a_page_asked_for_by_another_sites_name_is_refused(broker: BrokerProcess) -> None:
    """A name rebound to 127.0.0.1 (DNS rebinding) gets 403; the broker's address and localhost are served."""
    for host, status in (("attacker.example", 403), ("attacker.example:80", 403), ("localhost:1", 200),
                         (f"127.0.0.1:{broker.http_port}", 200), ("[::1]:8080", 200)):  # fmt: skip
        connection = http.client.HTTPConnection("127.0.0.1", broker.http_port, timeout=WAIT)
        connection.putrequest("GET", "/", skip_host=True)
        connection.putheader("Host", host)
        connection.endheaders()
        answer = connection.getresponse()
        assert (host, answer.status) == (host, status)
        assert ('id="topics"' in answer.read().decode()) == (status == 200)  # a refusal shows no data


def test_a_form_body_over_the_limit_gets_413(broker: BrokerProcess) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", broker.http_port, timeout=WAIT)
    connection.request("POST", "/console/topic/x/produce", b"v=" + b"x" * (1024 * 1024), {"Content-Length": "1048578"})
    assert connection.getresponse().status == 413


def acls(broker: BrokerProcess, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "streamhouse.broker.cli", "acls", "add", "--bootstrap-server", broker.bootstrap, *args],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip


def test_with_the_acl_authorizer_a_user_signs_in_and_sees_only_topics_it_may_describe(
    tmp_path: Path, clean_browser: WebDriver, screens: Path
) -> None:
    data_dir = tmp_path / "broker"
    add_user(data_dir, "alice", "alice-secret", "SCRAM-SHA-256")
    # PLAINTEXT clients are User:ANONYMOUS: a super user here, so the test's producers and the acls CLI may act.
    args = ["--authorizer", "acl", "--super-users", "User:ANONYMOUS"]
    process = BrokerProcess(data_dir, args).start()
    try:
        produce(process.bootstrap, "alice-topic", [("k", "for alice")])
        produce(process.bootstrap, "secret-topic", [("k", "not for alice")])
        acls(process, "--topic", "alice-topic", "--allow-principal", "User:alice", "--operation", "describe")
        acls(process, "--group", "mixed-group", "--allow-principal", "User:alice", "--operation", "describe")
        committer = Consumer({"bootstrap.servers": process.bootstrap, "group.id": "mixed-group"})
        offsets = [TopicPartition("alice-topic", 0, 1), TopicPartition("secret-topic", 0, 1)]
        committer.commit(offsets=offsets, asynchronous=False)
        committer.close()
        visit(clean_browser, url(process), screens, "login")
        assert clean_browser.current_url.endswith("/console/login")
        assert "alice-topic" not in clean_browser.page_source
        clean_browser.find_element(By.NAME, "username").send_keys("alice")
        clean_browser.find_element(By.NAME, "password").send_keys("wrong")
        clean_browser.find_element(By.CSS_SELECTOR, "form button").click()
        WebDriverWait(clean_browser, WAIT).until(lambda d: "Invalid user name or password" in d.page_source)
        assert clean_browser.current_url.endswith("/console/login")
        clean_browser.find_element(By.NAME, "username").send_keys("alice")
        clean_browser.find_element(By.NAME, "password").send_keys("alice-secret")
        clean_browser.find_element(By.CSS_SELECTOR, "form button").click()
        WebDriverWait(clean_browser, WAIT).until(lambda d: d.find_elements(By.ID, "topics"))
        assert "secret" not in clean_browser.current_url
        save(clean_browser, screens, "front-as-alice")
        assert [row[0] for row in cells(clean_browser, "topics")] == ["alice-topic"]
        assert "User:alice" in clean_browser.find_element(By.TAG_NAME, "header").text
        clean_browser.get(url(process, "/console/topic/secret-topic"))
        assert "not for alice" not in clean_browser.page_source
        assert "No topic secret-topic" in clean_browser.page_source
        clean_browser.get(url(process, "/console/topic/alice-topic"))
        assert [row[3] for row in cells(clean_browser, "records")] == ["for alice"]
        # Of a group it may describe, alice sees the offsets of the topics it may describe, and may not reset it.
        clean_browser.get(url(process, "/console/group/mixed-group"))
        assert [row[0] for row in cells(clean_browser, "lag")] == ["alice-topic"]
        clean_browser.find_element(By.CSS_SELECTOR, "form[action$='/reset'] button").click()
        WebDriverWait(clean_browser, WAIT).until(lambda d: "May not reset mixed-group" in d.page_source)
        clean_browser.find_element(By.CSS_SELECTOR, "header form button").click()  # sign out
        WebDriverWait(clean_browser, WAIT).until(lambda d: d.current_url.endswith("/console/login"))
        clean_browser.get(url(process, "/console/topic/alice-topic"))
        assert clean_browser.current_url.endswith("/console/login")
        assert "for alice" not in clean_browser.page_source
    finally:
        assert process.stop() == 0
