"""A throwaway single-node Apache Cassandra for tests and benchmarks.

ScyllaDB has no package these machines can install, so tests run on Apache
Cassandra 5.0, which speaks the same CQL and wire protocol. Its server is on
Maven Central; `fetch` copies it into a per-machine cache outside the
repository, and `LocalCassandra` runs one node on loopback on free ports with a
fresh data directory that is removed again when it stops.

Set CHAT_TEST_CQL to a comma-separated host:port list to use an existing
cluster (a real ScyllaDB) instead; `contact_points_from_env` reads it.

A test of a store outage kills the node (`kill`, SIGKILL: what a crash does)
and starts it again on the same data and ports (`start`).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, TracebackType

from storage.config import parse_contact_points

__all__ = [
    "CASSANDRA_VERSION",
    "CQL_ENV",
    "LocalCassandra",
    "SUPERUSER",
    "TestDatabaseError",
    "cache_dir",
    "contact_points_from_env",
    "fetch",
]

CASSANDRA_VERSION = "5.0.9"
CQL_ENV = "CHAT_TEST_CQL"
CQL_DEFAULT_PORT = 9042
DATACENTER = "datacenter1"
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 30.0
HEAP = "1G"
_COMPLETE_MARKER = ".complete"
_LOG_TAIL_LINES = 40
#: The role PasswordAuthenticator creates on a fresh node (name, password).
SUPERUSER = ("cassandra", "cassandra")

Report = Callable[[str], None]


class TestDatabaseError(RuntimeError):
    """The test database could not be fetched or started."""

    __test__ = False  # a name starting with "Test" is not a pytest test class


def _report_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def contact_points_from_env() -> list[tuple[str, int]] | None:
    """The existing cluster named by CHAT_TEST_CQL, or None when it is unset."""
    spec = os.environ.get(CQL_ENV, "")
    if not spec.strip():
        return None
    try:
        return list(parse_contact_points(spec))
    except ValueError as exc:
        raise ValueError(f"{CQL_ENV}: {exc}") from None


def cache_dir() -> Path:
    """Where the server's jars live: per machine and per version, never in the repo."""
    root = os.environ.get("CHAT_TESTDB_CACHE")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        root = os.path.join(xdg, "chat-testdb")
    return Path(root) / f"cassandra-{CASSANDRA_VERSION}"


_POM = f"""\
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <!-- Throwaway: only here so `mvn dependency:copy-dependencies` fetches the server. -->
  <modelVersion>4.0.0</modelVersion>
  <groupId>chat.testdb</groupId>
  <artifactId>cassandra-server</artifactId>
  <version>{CASSANDRA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId>
      <artifactId>cassandra-all</artifactId>
      <version>{CASSANDRA_VERSION}</version>
    </dependency>
  </dependencies>
</project>
"""


def fetch(report: Report = _report_to_stderr) -> Path:
    """Copy the server and its runtime dependencies into the cache; return the cache.

    Done once per machine: the marker is written only after Maven succeeded,
    so an interrupted download is redone. A lock keeps concurrent runs from
    downloading into the same directory at once.
    """
    home = cache_dir()
    if (home / _COMPLETE_MARKER).exists():
        return home
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (home / _COMPLETE_MARKER).exists():
            return home
        mvn = shutil.which("mvn")
        if mvn is None:
            raise TestDatabaseError("Maven (mvn) is needed once to fetch Cassandra; install it")
        report(f"test database: fetching Cassandra {CASSANDRA_VERSION} from Maven Central into {home}")
        began = time.monotonic()
        shutil.rmtree(home / "lib", ignore_errors=True)
        (home / "pom.xml").write_text(_POM)
        command = [
            mvn, "-B", "-q", "-f", str(home / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={home / 'lib'}",
            "-DincludeScope=runtime",
        ]  # fmt: skip
        # Captured: even with -q, Maven 3.8 writes stray colour codes to the terminal.
        result = subprocess.run(
            command,
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise TestDatabaseError(
                f"Maven failed (exit {result.returncode}) fetching Cassandra:\n{result.stdout}"
            )
        if not (home / "lib" / f"cassandra-all-{CASSANDRA_VERSION}.jar").exists():
            raise TestDatabaseError(f"Maven succeeded but {home / 'lib'} lacks cassandra-all")
        (home / _COMPLETE_MARKER).touch()
        report(f"test database: fetched in {time.monotonic() - began:.1f} s")
    return home


def _driver() -> tuple[ModuleType, ModuleType]:
    # Imported here, not at the top, so fetching needs nothing beyond the
    # standard library; only the readiness check speaks CQL.
    try:
        import cassandra.cluster
        import cassandra.policies
    except ImportError as error:
        raise TestDatabaseError(
            f"the CQL driver is missing ({error}); use the project's virtualenv (make test)"
        ) from error
    return cassandra.cluster, cassandra.policies


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        raise TestDatabaseError("Java 17 is needed to run Cassandra; install it or set JAVA_HOME")
    return java


def _free_port() -> int:
    # The port is free now; the node binds it a moment later. A clash in between
    # makes the node exit, which start() reports with the log.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cassandra_yaml(
    data: Path, storage_port: int, native_port: int, *, password_auth: bool, sync_commitlog: bool
) -> str:
    # Everything not named here defaults to a directory under -Dcassandra.storagedir.
    authenticator = "PasswordAuthenticator" if password_auth else "AllowAllAuthenticator"
    # Batch: a write is acknowledged once its commit log section is marked,
    # which is what replay after a crash reads. Periodic marks every 10 s, so
    # a kill loses what the last 10 s acknowledged (on one replica).
    periodic = "commitlog_sync: periodic\ncommitlog_sync_period: 10000ms"
    commitlog = "commitlog_sync: batch" if sync_commitlog else periodic
    return f"""\
cluster_name: chat-testdb
authenticator: {authenticator}
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:{storage_port}"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: {storage_port}
native_transport_port: {native_port}
start_native_transport: true
auto_bootstrap: false
auto_snapshot: false
snapshot_before_compaction: false
{commitlog}
data_file_directories:
  - {data / "data"}
commitlog_directory: {data / "commitlog"}
saved_caches_directory: {data / "saved_caches"}
hints_directory: {data / "hints"}
memtable_heap_space: 128MiB
concurrent_compactors: 1
compaction_throughput: 0MiB/s
# Two cores shared with the tests: be patient before calling a replica dead.
read_request_timeout: 20000ms
range_request_timeout: 30000ms
write_request_timeout: 20000ms
counter_write_request_timeout: 20000ms
cas_contention_timeout: 20000ms
truncate_request_timeout: 60000ms
request_timeout: 30000ms
"""


def _logback_xml(log_file: Path) -> str:
    # Cassandra logs at DEBUG without a configuration of its own.
    return f"""\
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>{log_file}</file>
    <encoder>
      <pattern>%-5level [%thread] %date{{ISO8601}} %logger{{0}} - %msg%n</pattern>
    </encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="FILE"/>
  </root>
</configuration>
"""


# From Cassandra's conf/jvm17-server.options: the JDK internals it reaches into.
_JPMS_FLAGS = [
    *(
        f"--add-exports={export}=ALL-UNNAMED"
        for export in (
            "java.base/jdk.internal.misc",
            "java.base/jdk.internal.ref",
            "java.base/sun.nio.ch",
            "java.base/java.lang.ref",
            "java.management.rmi/com.sun.jmx.remote.internal.rmi",
            "java.rmi/sun.rmi.registry",
            "java.rmi/sun.rmi.server",
            "java.sql/java.sql",
            "jdk.unsupported/sun.misc",
            "jdk.compiler/com.sun.tools.javac.file",
            "jdk.attach/sun.tools.attach",
        )
    ),
    *(
        f"--add-opens={opening}=ALL-UNNAMED"
        for opening in (
            "java.base/java.lang.module",
            "java.base/jdk.internal.loader",
            "java.base/jdk.internal.ref",
            "java.base/jdk.internal.reflect",
            "java.base/jdk.internal.math",
            "java.base/jdk.internal.module",
            "java.base/jdk.internal.util.jar",
            "jdk.management/com.sun.management.internal",
            "java.base/sun.nio.ch",
            "java.base/java.io",
            "java.base/java.nio",
            "java.base/java.lang",
            "java.base/java.lang.reflect",
            "java.base/java.util",
            "java.base/java.util.concurrent",
            "java.base/java.util.concurrent.atomic",
            "jdk.compiler/com.sun.tools.javac",
        )
    ),
]


class LocalCassandra:
    """One Cassandra node on 127.0.0.1, from start() until stop().

    Use as a context manager. The node runs in its own process group so a
    Ctrl-C meant for the tests does not kill it mid-run; stop() ends the group
    and deletes the data directory, whatever happened in between. With
    `password_auth` it wants a login (PasswordAuthenticator; `SUPERUSER`).
    With `sync_commitlog` every write it acknowledges survives `kill` (a
    little slower); without, a kill loses the last 10 s of writes, as a
    crash of a single replica would.
    """

    def __init__(
        self,
        report: Report = _report_to_stderr,
        *,
        full_jit: bool = False,
        password_auth: bool = False,
        sync_commitlog: bool = False,
    ) -> None:
        # Without the optimising (C2) compiler the node starts on about half
        # the CPU time, which is what a test run on two cores waits for.
        # full_jit is for runs long enough to repay C2's compiling; chatbench's
        # are not on two cores (its Cassandra runs measured worse with it).
        self._report = report
        self._full_jit = full_jit
        self._password_auth = password_auth
        self._sync_commitlog = sync_commitlog
        self._process: subprocess.Popen[bytes] | None = None
        self._data: Path | None = None
        self._port: int | None = None
        self.release_version: str | None = None
        self.startup_seconds: float | None = None

    @property
    def contact_point(self) -> tuple[str, int]:
        if self._port is None:
            raise TestDatabaseError("the test database is not running")
        return ("127.0.0.1", self._port)

    def start(self) -> None:
        """Start the node and return once it answers CQL; on failure nothing is left behind.

        After `kill`, the node starts again on the data and ports it had.
        """
        if self._process is not None:
            raise TestDatabaseError("the test database is already running")
        _driver()
        home = fetch(self._report)
        began = time.monotonic()
        try:
            if self._data is None:
                self._configure()
            self._launch(home)
            self._await_cql(began)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        host, port = self.contact_point
        self._report(
            f"test database: Cassandra {self.release_version} on {host}:{port}"
            f" ready in {self.startup_seconds:.1f} s"
        )

    def kill(self) -> None:
        """SIGKILL the node, as a crash would; its data and ports stay for `start`."""
        process, self._process = self._process, None
        if process is None:
            raise TestDatabaseError("the test database is not running")
        _signal_group(process, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        """End the node (SIGTERM, then SIGKILL after a grace period) and delete its data."""
        process, self._process = self._process, None
        try:
            if process is not None:
                try:
                    _signal_group(process, signal.SIGTERM)
                    process.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    pass
                finally:
                    # Also when interrupted while waiting: never leave the JVM behind.
                    _signal_group(process, signal.SIGKILL)
                    process.wait()
        finally:
            if self._data is not None:
                shutil.rmtree(self._data, ignore_errors=True)
            self._data = None
            self._port = None

    def __enter__(self) -> LocalCassandra:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _configure(self) -> None:
        self._data = data = Path(tempfile.mkdtemp(prefix="chat-testdb-"))
        storage_port = _free_port()
        self._port = native_port = _free_port()
        while native_port == storage_port:
            self._port = native_port = _free_port()
        config = _cassandra_yaml(
            data, storage_port, native_port, password_auth=self._password_auth, sync_commitlog=self._sync_commitlog
        )
        (data / "cassandra.yaml").write_text(config)
        (data / "logback.xml").write_text(_logback_xml(data / "system.log"))

    def _launch(self, home: Path) -> None:
        java = _java()
        assert self._data is not None
        data = self._data
        config, logback = data / "cassandra.yaml", data / "logback.xml"
        command = [
            java,
            f"-Xms{HEAP}",
            f"-Xmx{HEAP}",
            "-XX:+UseG1GC",
            "-XX:+ParallelRefProcEnabled",
            "-XX:+ExitOnOutOfMemoryError",
            *(() if self._full_jit else ("-XX:TieredStopAtLevel=1",)),
            "-Djava.net.preferIPv4Stack=true",
            "-Djdk.attach.allowAttachSelf=true",
            *_JPMS_FLAGS,
            "-Dcassandra-foreground=yes",
            f"-Dcassandra.config={config.as_uri()}",
            f"-Dcassandra.storagedir={data}",
            f"-Dlogback.configurationFile={logback}",
            "-Dcassandra.skip_wait_for_gossip_to_settle=0",
            "-Dcassandra.ring_delay_ms=1000",
            "-Dcassandra.load_ring_state=false",
            "-Dcassandra.skip_sync=true",
            "-Dcassandra.shutdown_announce_in_ms=0",
            "-Dcassandra.superuser_setup_delay_ms=0",
            "-Dchronicle.analytics.disable=true",
            "-Dio.netty.tryReflectionSetAccessible=true",
            "-cp",
            str(home / "lib" / "*"),
            "org.apache.cassandra.service.CassandraDaemon",
        ]
        with open(data / "output.log", "ab") as output:
            self._process = subprocess.Popen(
                command,
                cwd=data,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _await_cql(self, began: float) -> None:
        assert self._process is not None and self._port is not None
        deadline = began + START_TIMEOUT_S
        while True:
            if self._process.poll() is not None:
                raise TestDatabaseError(
                    f"Cassandra exited with status {self._process.returncode} while starting\n"
                    + self._log_tail()
                )
            if time.monotonic() > deadline:
                raise TestDatabaseError(
                    f"Cassandra did not answer CQL within {START_TIMEOUT_S:.0f} s\n" + self._log_tail()
                )
            # The native transport opens last, so a listening port means CQL is
            # (almost) ready; probing the socket first keeps the driver from
            # logging a warning for every attempt before that.
            if _accepts(self._port):
                version = _release_version("127.0.0.1", self._port, login=self._password_auth)
                if version is not None:
                    self.release_version = version
                    return
            time.sleep(0.25)

    def _log_tail(self) -> str:
        assert self._data is not None
        parts = []
        for name in ("system.log", "output.log"):
            path = self._data / name
            if path.exists():
                lines = path.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
                parts.append(f"--- last {len(lines)} lines of {name} ---\n" + "\n".join(lines))
        return "\n".join(parts) or "(Cassandra wrote no log)"


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    # Only while the leader is unreaped does its pid still name our group.
    if process.poll() is None:
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            pass


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _release_version(host: str, port: int, *, login: bool) -> str | None:
    driver, policies = _driver()
    from cassandra.auth import PlainTextAuthProvider
    profile = driver.ExecutionProfile(
        load_balancing_policy=policies.DCAwareRoundRobinPolicy(local_dc=DATACENTER),
        request_timeout=10,
    )
    cluster = driver.Cluster(
        contact_points=[host],
        port=port,
        protocol_version=4,
        execution_profiles={driver.EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=5,
        # Until the superuser exists, logging in fails: not ready yet.
        auth_provider=PlainTextAuthProvider(*SUPERUSER) if login else None,
    )
    try:
        session = cluster.connect()
        row = session.execute("SELECT release_version FROM system.local").one()
        return str(row.release_version)
    except Exception:  # not answering yet: the caller retries until its deadline
        return None
    finally:
        cluster.shutdown()
