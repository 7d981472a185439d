"""The one exception tree. The CLI maps each class to one red line and an exit code."""

from __future__ import annotations


class MakerError(Exception):
    """Base of every error maker reports to a user. `exit_code` is what the CLI exits with."""

    exit_code = 1


class UsageError(MakerError):
    """Bad arguments or inputs that the user must change (exit 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """A settings or config file problem."""


class SpecError(UsageError):
    """A YAML task spec (or calibration file) that does not validate; names file and field."""


class CannotConverge(MakerError):
    """p <= 0.5: first-to-ahead-by-k voting cannot converge in the worst case."""


class ProviderError(MakerError):
    """A model call that failed after its retries (or could not be made)."""

    #: statuses that no retry or replacement sample can fix (bad request, auth, unknown model)
    FATAL_STATUSES = frozenset({400, 401, 403, 404})

    #: what can have failed, for counting (`kind`; the metric maker_call_errors_total{kind})
    KINDS = ("timeout", "connection", "rate_limit", "server", "client", "malformed", "other")

    def __init__(self, message: str, *, retries: int = 0, status: int | None = None, kind: str | None = None):
        super().__init__(message)
        self.retries = retries
        self.status = status
        self._kind = kind

    @property
    def fatal(self) -> bool:
        return self.status in self.FATAL_STATUSES

    @property
    def kind(self) -> str:
        """What failed, one of `KINDS`: the kind the provider said (timeout, connection, malformed),
        else the HTTP status's (429 rate_limit, 408 timeout, 5xx server, 4xx client), else other."""
        if self._kind is not None:
            return self._kind
        status = self.status
        if status == 429:
            return "rate_limit"
        if status == 408:
            return "timeout"
        if status is not None and 500 <= status <= 599:
            return "server"
        if status is not None and 400 <= status <= 499:
            return "client"
        return "other"


class MissingApiKey(ProviderError):
    """The provider needs a key that is not set; the message names the variable. The user sets it,
    so it is a usage error (exit 2)."""

    exit_code = 2

    @property
    def fatal(self) -> bool:
        return True


class BudgetExceeded(MakerError):
    """Expected or spent cost is over the user's cap."""


class StoreError(MakerError):
    """The run store cannot be opened, is damaged, or does not hold what was asked for: the user
    fixes it (another `--store`, another run id), so exit 2."""

    exit_code = 2


class StoreWriteError(StoreError):
    """The run store could not take a write in the middle of a job (disk full, closed): exit 1."""

    exit_code = 1
