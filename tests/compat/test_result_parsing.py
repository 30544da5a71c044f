"""The compat runners read results the suites print: librdkafka's summary table and its failure banner,
kafka-python's JUnit XML. Samples below are in the shapes those tools print."""

from __future__ import annotations

from pathlib import Path

from compat.kafka_python.__main__ import outcomes
from compat.librdkafka.__main__ import _ANSI, _FAILURE, _RESULT, scenario_of

# test.c: printf("|%s %-40s | %10s | %7.3fs %s|", color, name, state, seconds, reset), then " <why>" in colour.
SUMMARY = (
    "|\x1b[32m <MAIN>                                   |     PASSED |   0.204s \x1b[0m|\n"
    "|\x1b[32m 0045_subscribe_update                    |     PASSED |   3.100s \x1b[0m|\n"
    "|\x1b[36m 0045_subscribe_update_mock               |    SKIPPED |   0.000s \x1b[0m|"
    "\x1b[36m Filtered due to negative test flags\n\x1b[0m\n"
)
BANNER = (
    '### Test "0092_mixed_msgver" failed at 0092-mixed_msgver.c:92:main_0092_mixed_msgver() at now: ###\n'
    'Test assertion failed: "!err": AlterConfigs failed: Broker: Configuration is invalid\n'
)


def test_summary_rows_give_state_and_reason_per_id() -> None:
    rows = {name: (state, why.strip()) for name, state, why in _RESULT.findall(_ANSI.sub("", SUMMARY))}
    assert rows["0045_subscribe_update"] == ("PASSED", "")
    assert rows["0045_subscribe_update_mock"] == ("SKIPPED", "Filtered due to negative test flags")


def test_failure_banner_gives_the_line_after_it() -> None:
    assert _FAILURE.findall(BANNER) == [
        'Test assertion failed: "!err": AlterConfigs failed: Broker: Configuration is invalid'
    ]


def test_scenario_of_a_tests_table_entry() -> None:
    assert (
        scenario_of('0107_topic_recreate,\n 0,\n TEST_BRKVER_TOPIC_ADMINAPI,\n .scenario = "noautocreate"),')
        == "noautocreate"
    )
    assert scenario_of("0001_multiobj, 0),") is None


def test_junit_outcomes_by_node_id(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="test.integration.test_admin_integration" name="test_create_partitions">'
        '<failure message="x"/></testcase>'
        '<testcase classname="test.integration.test_producer_integration" name="test_end_to_end[gzip]"/>'
        '<testcase classname="test.integration.test_ssl_integration.TestSSLConnection" name="test_ssl_handshake">'
        '<error message="y"/></testcase>'
        '<testcase classname="test.integration.test_sasl_integration" name="test_admin[PLAIN]"><skipped/></testcase>'
        "</testsuite></testsuites>"
    )
    assert outcomes(report) == {
        "test/integration/test_admin_integration.py::test_create_partitions": "failed",
        "test/integration/test_producer_integration.py::test_end_to_end[gzip]": "passed",
        "test/integration/test_ssl_integration.py::TestSSLConnection::test_ssl_handshake": "error",
        "test/integration/test_sasl_integration.py::test_admin[PLAIN]": "skipped",
    }
