"""The Store's own errors: callers never see a driver or sqlite exception."""


class StoreError(Exception):
    """Base of every error the Store raises."""


def own_copy(error: StoreError) -> StoreError:
    """A copy of a failure shared by a batch, for one of the callers it answers.

    Raised in many tasks, one instance would collect all their tracebacks;
    each copy has the shared failure as its cause.
    """
    copy = type(error)(*error.args)
    copy.__cause__ = error
    return copy


class Unavailable(StoreError):
    """Transient: the database cannot be reached or timed out. Retry later."""


class Conflict(StoreError):
    """A write lost a race with another writer."""


class UsernameTaken(Conflict):
    """Another account already holds this username."""


class Fenced(Conflict):
    """This sequence lease was superseded: another holder owns the channel now.

    The append it was raised for is not acknowledged; the caller must stop
    appending under this lease and let the new holder serve the channel.
    """
