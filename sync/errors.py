"""What can go wrong while talking to the central service, as typed exceptions.

Each one knows the exit code ``fycli`` returns for it (see the table in ``fycli.py``), and its
message says what happened and what to do. None of them ever means local work was lost: the
outbox is only trimmed after the server's decisions are stored.
"""

from __future__ import annotations

#: Exit codes shared with fycli.py (kept here so sync/ does not import the command line).
EXIT_ERROR = 1
EXIT_UNREACHABLE = 3
EXIT_AUTH = 4
EXIT_BUSY = 6  # another sync of this replica is running (5 is EXIT_CONFLICTS in fycli.py)


class SyncError(Exception):
    """Base of every sync failure. ``exit_code`` is what the command line returns for it."""

    exit_code = EXIT_ERROR
    #: True when no byte of the failed request can have left this machine (every try failed
    #: to connect): actions it carried certainly did not reach the server.
    nothing_sent: bool = False


class Unreachable(SyncError):
    """The server could not be reached (no network, DNS, refused, timed out). Work is kept."""

    exit_code = EXIT_UNREACHABLE


class DeadlineExceeded(Unreachable):
    """The whole sync ran past its deadline (a server that trickles or stalls). Work is kept."""


class ServerUnavailable(Unreachable):
    """The server answered 5xx or 429 on every retry: it is there but not serving. Work is kept."""


class AuthRefused(SyncError):
    """401/403: the token is wrong, revoked, or not allowed here."""

    exit_code = EXIT_AUTH


class InsecureServer(SyncError):
    """The server URL is plain http:// to a host other than this machine: the token would cross
    the network in clear. Refused unless the liaison allowed it (``allow_insecure_http``)."""


class SyncBusy(SyncError):
    """Another sync of the same replica is running (the app's, cron's, a script's). Nothing was
    done; the other sync sends and fetches the same work."""

    exit_code = EXIT_BUSY


class ServerError(SyncError):
    """The server answered something that is not fycli's protocol (an HTML page, truncated or
    malformed JSON, a body that does not match the schema), or broke the protocol's rules."""


class RequestRefused(SyncError):
    """A 4xx with the server's own ``ErrorBody``: the request was refused and changed nothing."""

    def __init__(self, status: int, error: str, message: str, detail: list | None = None) -> None:
        super().__init__(f"the server refused the request ({status} {error}): {message}")
        self.status = status
        self.error = error
        self.server_message = message
        self.detail = detail


class ConfigError(Exception):
    """The configuration or the token file cannot be used. The message names the file and key."""

    exit_code = EXIT_ERROR
