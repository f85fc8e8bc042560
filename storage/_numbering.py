"""Numbering a batch of drafts: repeats answer with their earlier send, the rest get seqs.

Both stores append this way; only how they find earlier sends differs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ._values import Dedup, Draft, Message

#: A (sender, cid) pair: what makes a send a repeat of another.
SendKey = tuple[int, str]


def send_keys(drafts: Sequence[Draft]) -> set[SendKey]:
    return {(draft.sender, draft.cid) for draft in drafts}


def number_drafts(
    channel: int, after: int, drafts: Sequence[Draft], earlier: Mapping[SendKey, Dedup]
) -> list[Message | Dedup]:
    """Per draft, in order: the Dedup of its earlier send (stored before, in
    `earlier`, or earlier in this batch), or the Message it is stored as, with
    seqs after+1, after+2, ... and no gap."""
    known = dict(earlier)
    results: list[Message | Dedup] = []
    seq = after
    for draft in drafts:
        key = (draft.sender, draft.cid)
        repeat = known.get(key)
        if repeat is not None:
            results.append(repeat)
            continue
        seq += 1
        results.append(draft.stored_as(channel, seq))
        known[key] = Dedup(channel, seq, draft.ts)
    return results
