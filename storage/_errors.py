"""The Store's own errors: callers never see a driver or sqlite exception."""


class StoreError(Exception):
    """Base of every error the Store raises."""


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
