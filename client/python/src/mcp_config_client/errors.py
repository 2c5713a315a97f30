"""The client's exceptions, and the one mapping from a gRPC status to them.

The split that matters to a caller is "the service is not there" (`Unavailable`: the client
served stale views while it could, and retrying later may work) versus "the request is wrong"
(`Rejected` and its subclasses: retrying will not help, and a stale view would hide the mistake).
"""

from __future__ import annotations

import grpc

#: Codes that mean the service could not answer, so the last known view may be served stale.
UNREACHABLE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.CANCELLED,
    }
)


#: The message of every `Unavailable`: gRPC's own text may name internal addresses
#: (`ipv4:10.1.2.3:50051`), which must not reach the MCP clients an error is passed on to. The
#: original error stays chained (`__cause__`) for logs.
UNREACHABLE_MESSAGE = "the mcp-config service is unreachable"


class ConfigError(Exception):
    """Any failure of the client; `code` is the gRPC status code when the service answered."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class Unavailable(ConfigError):
    """The service is unreachable and no view younger than `max_stale` is known."""


class Rejected(ConfigError):
    """The service refused the request (it would refuse it again)."""


class NotFound(Rejected):
    """The prompt, resource or release label does not exist. An org that does not is no error:
    it reads the defaults (`View.org_unknown`)."""


class InvalidArgument(Rejected):
    """A bad request; `field` names the offending input (e.g. `arguments.repo`) when known."""

    @property
    def field(self) -> str | None:
        """The service writes `field: message`; the part before the colon names the input."""
        field, sep, _ = self.message.partition(": ")
        return field if sep else None


class PermissionDenied(Rejected):
    """The token is missing, invalid, or may not read that org."""


class RenderError(Rejected):
    """A prompt template failed to render (other than a missing argument); the service answers
    FAILED_PRECONDITION for that and for nothing else."""


_BY_CODE: dict[grpc.StatusCode, type[ConfigError]] = {
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: PermissionDenied,
    grpc.StatusCode.FAILED_PRECONDITION: RenderError,
}


def from_rpc_error(error: grpc.aio.AioRpcError) -> ConfigError:
    """The exception for a failed call, carrying the service's message; a generic one when the
    service could not answer (raise it `from error` to keep gRPC's text for logs)."""
    code = error.code()
    if code in UNREACHABLE_CODES:
        return Unavailable(UNREACHABLE_MESSAGE, code)
    return _BY_CODE.get(code, Rejected)(error.details() or code.name, code)
