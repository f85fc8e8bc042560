"""Fixtures every suite shares: the CQL database the tests run against."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from storage.localcassandra import LocalCassandra, contact_points_from_env


@pytest.fixture(scope="session")
def cql_contact_points(pytestconfig: pytest.Config) -> Iterator[list[tuple[str, int]]]:
    """(host, port) of the cluster named by CHAT_TEST_CQL, or of a Cassandra started here.

    `make test` (bin/testdb) sets CHAT_TEST_CQL; without it a plain `pytest`
    starts its own node for the session, so a test that needs the database
    always gets one or errors, never skips.
    """
    existing = contact_points_from_env()
    if existing is not None:
        yield existing
        return
    with LocalCassandra(report=_terminal_line(pytestconfig)) as database:
        yield [database.contact_point]


def _terminal_line(config: pytest.Config) -> Callable[[str], None]:
    """Write past output capture: start-up time and download progress belong on screen."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    terminal = config.pluginmanager.get_plugin("terminalreporter")

    def write(line: str) -> None:
        with capture.global_and_fixture_disabled():
            terminal.write_line(line)

    return write
