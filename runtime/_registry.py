"""Virtual actors: one actor per key, activated by its first message, passivated when idle."""

from __future__ import annotations

import enum
import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Hashable
from functools import partial

import trio

from ._actor import Actor
from ._cell import FINAL, PASSIVATE, RUNNING, Cell
from ._errors import ActivationFailed, ActorCrashed, ActorDead, SupervisorGaveUp
from ._intensity import RestartIntensity
from ._ref import LocalRef
from ._workers import WorkerPool

logger = logging.getLogger("runtime.registry")

# Sweeps per `idle_after`: passivation is late by at most `idle_after / _SWEEPS`.
_SWEEPS = 8

# Seconds between two log lines about failed activations: an outage of what
# actors start from fails every activation, and one line each would bury the log.
_FAILURE_LOG_INTERVAL = 10.0


class _State(enum.Enum):
    STOPPED = "stopped"
    RUNNING = "running"
    STOPPING = "stopping"


class Registry:
    """A home for keyed actors (users, channels) that exist only while in use.

    - Activation: `ref(key)` is free; the first message creates the key's cell
      synchronously (one dict lookup), so racing first messages all land in one
      mailbox, and `started()` runs before any of them is processed.
    - Passivation: an instance idle for `idle_after` seconds gets `stopping()`
      and is dropped; messages sent meanwhile go to a fresh instance after it.
      One sweeper task serves the whole registry.
    - Mailboxes: at most `mailbox_size` messages each and, with a `mail_cost`,
      at most `mailbox_bytes` of that cost (see `Cell`); a full one makes
      `tell` and `ask` wait and `tell_nowait` raise `MailboxFull`.
    - Crashes: an instance whose `started`, `receive` or `stopping` raises is
      logged once with its key, dropped with its queued messages (askers get
      `ActorCrashed`, dropped tells go to its `undelivered`), and the next
      message activates a fresh one. Like a simple_one_for_one supervisor of
      transient children restarted on demand, each crash counts as a
      restart: more than `intensity` within `period` seconds and the
      registry stops every actor and raises `SupervisorGaveUp` to its own
      supervisor.
    - Failed activations: a `started` that raises one of the actor's
      `transient_errors` is no crash. Its mail is refused as for a crash, but
      with `ActivationFailed`; nothing counts toward the intensity, and the
      log gets a line every 10 s at most. So an outage of what the
      actors start from (a store) never takes the registry, or anything
      supervised with it, down; it recovers when the outage ends.
    - Stop: `request_stop()` stops every actor after its current message
      (concurrently, newest first), waiting up to `shutdown` seconds before
      cancelling the rest. Cancelling `run` stops everything at once. Either
      way every waiting sender hears `ActorDead`.

    `run` can be called again after it returned (a supervisor restarting it);
    refs handed out before keep working once it runs again.
    """

    def __init__(
        self,
        name: str,
        factory: Callable[[Hashable], Actor],
        *,
        mailbox_size: int = 64,
        mailbox_bytes: int | None = None,
        mail_cost: Callable[[object], int] | None = None,
        idle_after: float | None = 300.0,
        intensity: int = 20,
        period: float = 5.0,
        shutdown: float = 5.0,
    ) -> None:
        if mailbox_size < 1:
            raise ValueError("mailbox_size must be at least 1")
        if (mailbox_bytes is None) != (mail_cost is None):
            raise ValueError("mailbox_bytes and mail_cost go together")
        if mailbox_bytes is not None and mailbox_bytes < 1:
            raise ValueError("mailbox_bytes must be at least 1")
        if idle_after is not None and not idle_after > 0:
            raise ValueError("idle_after must be > 0, or None to never passivate")
        self.name = name
        self._factory = factory
        self._mailbox_size = mailbox_size
        self._mailbox_bytes = mailbox_bytes or 0
        self._mail_cost = mail_cost
        self._idle_after = idle_after
        self._intensity = RestartIntensity(intensity, period)
        self._shutdown = shutdown
        self._state = _State.STOPPED
        # Invariant: a key maps to its only live cell; a cell leaves this dict
        # (synchronously) before it is marked dead.
        self._cells: dict[Hashable, Cell] = {}
        # Idle cells, oldest first; entries of cells that became busy again are
        # skipped by the sweeper, which is cheaper than removing them per message.
        self._idle: OrderedDict[Hashable, Cell] = OrderedDict()
        self._pool: WorkerPool | None = None
        self._stop = trio.Event()
        self._gave_up = False
        self._sweeper_wakeup: trio.Event | None = None
        self._sweeps = 0
        self._all_stopped: trio.Event | None = None
        self._failed_activations = 0  # since the last line about them
        self._failures_logged_at = -math.inf

    @property
    def running(self) -> bool:
        return self._state is _State.RUNNING

    def __len__(self) -> int:
        """Active instances (including ones starting or stopping)."""
        return len(self._cells)

    def is_active(self, key: Hashable) -> bool:
        """Whether `key` has an instance now; asking activates nothing."""
        return key in self._cells

    def ref(self, key: Hashable) -> LocalRef:
        """A ref to `key`'s actor. Free: nothing is activated until a message arrives."""
        return LocalRef(key, self)

    def request_stop(self) -> None:
        if self._state is _State.RUNNING:
            self._stop.set()

    async def run(self, *, task_status: trio.TaskStatus[Registry] = trio.TASK_STATUS_IGNORED) -> None:
        if self._state is not _State.STOPPED:
            raise RuntimeError(f"registry {self.name!r} is already running")
        self._intensity.reset()
        self._gave_up = False
        self._stop = trio.Event()
        try:
            async with trio.open_nursery() as nursery:
                self._pool = WorkerPool(nursery, self._run_cell)
                self._state = _State.RUNNING
                nursery.start_soon(self._sweep)
                task_status.started(self)
                await self._stop.wait()
                await self._stop_all()
                nursery.cancel_scope.cancel()
        finally:
            self._state = _State.STOPPED
            self._pool = None
            cells, self._cells = self._cells, {}
            self._idle.clear()
            for cell in reversed(cells.values()):
                cell.die(partial(ActorDead, cell.key))
        if self._gave_up:
            raise SupervisorGaveUp(self.name, self._intensity.intensity, self._intensity.period)

    # -- the Home protocol of LocalRef ------------------------------------------

    def cell_for(self, key: Hashable) -> Cell:
        cell = self._cells.get(key)
        if cell is None:
            if self._state is not _State.RUNNING:
                raise ActorDead(key)
            assert self._pool is not None
            cell = self._cells[key] = Cell(
                key, self._mailbox_size, self._pool, budget=self._mailbox_bytes, cost=self._mail_cost
            )
        return cell

    def passivate(self, key: Hashable) -> None:
        cell = self._cells.get(key)
        if cell is not None:
            cell.request_stop(PASSIVATE)

    # -- running cells ----------------------------------------------------------

    async def _run_cell(self, cell: Cell) -> None:
        """Activate, drain, passivate or stop one cell; called by a pool worker."""
        try:
            while True:
                if cell.actor is None:
                    if cell.stop == FINAL:
                        self._forget(cell)
                        cell.die(partial(ActorDead, cell.key))
                        return
                    cell.stop = RUNNING  # a passivation asked before activation has nothing to stop
                    actor = cell.actor = self._factory(cell.key)
                    try:
                        await actor.started()
                    except actor.transient_errors as exc:
                        self._activation_failed(cell, exc)
                        return
                await cell.drain()
                if cell.settle():
                    self._went_idle(cell)
                    return
                await cell.actor.stopping()
                if cell.stop == FINAL or not cell.box:
                    self._forget(cell)
                    cell.die(partial(ActorDead, cell.key))
                    return
                # Messages arrived while it was stopping: they get a fresh instance.
                cell.actor = None
                cell.stop = RUNNING
        except Exception as exc:
            self._crashed(cell, exc)

    def _crashed(self, cell: Cell, exc: Exception) -> None:
        self._forget(cell)
        dropped = cell.die(partial(ActorCrashed, cell.key, exc))
        logger.error(
            "registry %r: actor %r crashed (%d queued tells dropped)",
            self.name,
            cell.key,
            dropped,
            exc_info=exc,
        )
        if self._state is _State.RUNNING and self._intensity.add(trio.current_time()):
            logger.error(
                "registry %r: more than %d crashes within %s s, giving up",
                self.name,
                self._intensity.intensity,
                self._intensity.period,
            )
            self._gave_up = True
            self._stop.set()

    def _activation_failed(self, cell: Cell, exc: Exception) -> None:
        self._forget(cell)
        cell.die(partial(ActivationFailed, cell.key, exc))
        self._failed_activations += 1
        now = trio.current_time()
        if now - self._failures_logged_at >= _FAILURE_LOG_INTERVAL:
            logger.warning(
                "registry %r: %d activations failed (the latest, of %r: %s); their mail was refused",
                self.name,
                self._failed_activations,
                cell.key,
                exc,
            )
            self._failed_activations = 0
            self._failures_logged_at = now

    def _forget(self, cell: Cell) -> None:
        key = cell.key
        if self._cells.get(key) is cell:
            del self._cells[key]
        if self._idle.get(key) is cell:
            del self._idle[key]
        if not self._cells and self._all_stopped is not None:
            self._all_stopped.set()

    def _went_idle(self, cell: Cell) -> None:
        if self._idle_after is None:
            return
        # The sweep count, not the clock: reading the clock here would cost a
        # tenth of an ask round trip, and passivation needs only sweep precision.
        cell.idle_since = self._sweeps
        idle = self._idle
        idle.pop(cell.key, None)
        idle[cell.key] = cell
        if self._sweeper_wakeup is not None:
            self._sweeper_wakeup.set()
            self._sweeper_wakeup = None

    async def _sweep(self) -> None:
        """Passivate cells idle for `idle_after`: one wake per `idle_after / SWEEPS` while any is idle.

        A cell that went idle during sweep interval n is passivated at the end of
        interval n + SWEEPS, so after between `idle_after` and `idle_after * (1 + 1/SWEEPS)`.
        """
        if self._idle_after is None:
            return
        interval = self._idle_after / _SWEEPS
        idle = self._idle
        while True:
            if not idle:
                self._sweeper_wakeup = wakeup = trio.Event()
                await wakeup.wait()
            await trio.sleep(interval)
            self._sweeps += 1
            while idle:
                key, cell = next(iter(idle.items()))
                if self._sweeps - cell.idle_since <= _SWEEPS:
                    break
                del idle[key]
                # An actor that still holds what it cannot rebuild (a user's
                # live sessions) declines; it is asked again after its next
                # message leaves it idle.
                if not (cell.busy or cell.dead) and cell.actor is not None and cell.actor.may_passivate():
                    cell.request_stop(PASSIVATE)

    async def _stop_all(self) -> None:
        self._state = _State.STOPPING
        self._all_stopped = trio.Event()
        try:
            for cell in reversed(list(self._cells.values())):
                cell.request_stop(FINAL)
            if self._cells:
                with trio.move_on_after(self._shutdown):
                    await self._all_stopped.wait()
                if self._cells:
                    logger.warning(
                        "registry %r: %d actors still stopping after %s s, cancelling them",
                        self.name,
                        len(self._cells),
                        self._shutdown,
                    )
        finally:
            self._all_stopped = None
