"""The cluster view: which node incarnations exist, and in which state, at one version.

A view is a value, read whole from the membership table (the store), where
every status change is a conditional write on the table's version. Two views
with the same version are therefore the same view on every node, and a
higher version is always the newer one: nodes never agree on anything by
themselves, they only learn the table's latest version.

Incarnations: a node id is an operator's name for a process slot (it is in
every id the node makes); each start of that process is a new incarnation,
a number larger than any earlier one of the same node id. Links, refs and
placement speak of incarnations, so a message meant for a node that died is
never delivered to its restarted successor.
"""

from __future__ import annotations

import enum

from attrs import frozen


class MemberStatus(enum.Enum):
    """An incarnation's life, in the only order it may go: forward.

    joining → active → leaving → left, and from any state but left → dead.
    Only active members own slots; joining and leaving ones still hold
    links (a leaving node finishes its mail).
    """

    JOINING = "joining"
    ACTIVE = "active"
    LEAVING = "leaving"
    LEFT = "left"
    DEAD = "dead"

    @property
    def gone(self) -> bool:
        """Never coming back: nothing may be sent to it any more."""
        return self in (MemberStatus.LEFT, MemberStatus.DEAD)


@frozen
class Member:
    """One incarnation of one node, as the membership table holds it."""

    node: int
    incarnation: int
    #: host:port of its node-to-node link listener.
    link_address: str
    #: host:port its clients connect to (for `chatnode status` and clients told to move).
    client_address: str
    status: MemberStatus
    #: Wall-clock ms of its last heartbeat write.
    heartbeat: int = 0


@frozen
class View:
    """The membership table at one version; members ordered by (node, incarnation)."""

    version: int
    members: tuple[Member, ...] = ()

    @property
    def active(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.status is MemberStatus.ACTIVE)

    def member(self, node: int, incarnation: int) -> Member | None:
        for m in self.members:
            if m.node == node and m.incarnation == incarnation:
                return m
        return None

    def current(self, node: int) -> Member | None:
        """The node id's newest incarnation that is not gone, if any."""
        live = [m for m in self.members if m.node == node and not m.status.gone]
        return max(live, key=lambda m: m.incarnation, default=None)

    def is_live(self, node: int, incarnation: int) -> bool:
        """May a link to this incarnation exist? (It is in the view and not gone.)"""
        m = self.member(node, incarnation)
        return m is not None and not m.status.gone


#: The view of a node that has read no table yet: nobody, not even itself.
EMPTY_VIEW = View(version=0)
