/**
 * The client's errors, and the one mapping from a gRPC status to them (contract C-ERR-1..3).
 *
 * The split that matters to a caller is "the service is not there" (`Unavailable`: stale views
 * were served while they could be, and retrying later may work) versus "the request is wrong"
 * (`Rejected` and its subclasses: retrying will not help, and a stale view would hide the
 * mistake).
 */
import { Code, ConnectError } from "@connectrpc/connect";

export { Code };

/** Codes that mean the service could not answer, so the last known view may be served stale. */
const UNREACHABLE = new Set<Code>([
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.Unknown,
  Code.Internal,
  Code.Canceled,
]);

/** Any failure of the client; `code` is the gRPC status code the call ended with. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly code: Code,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The message of every `Unavailable`: generic, so that no internal address (`connect
 * ECONNREFUSED 10.1.2.3:50051`) reaches an MCP client through a server built on this client;
 * the original error is the `cause`, for logs. */
export const UNREACHABLE_MESSAGE = "the mcp-config service is unreachable";

/** The service is unreachable and no view younger than `maxStaleMs` is known (or the circuit
 * breaker is open and nothing usable is cached). `cause` holds the original error, if any. */
export class Unavailable extends ConfigError {}

/** The service refused the request (it would refuse it again). */
export class Rejected extends ConfigError {}

/** The org, server, prompt or resource does not exist. */
export class NotFound extends Rejected {}

/** A bad request; `field` names the offending input (e.g. `arguments.repo`) when known. */
export class InvalidArgument extends Rejected {
  /** The service writes `field: message`; the part before the colon names the input. */
  get field(): string | undefined {
    const at = this.message.indexOf(": ");
    return at > 0 ? this.message.slice(0, at) : undefined;
  }
}

/** The token is missing, invalid, or may not read that org. */
export class PermissionDenied extends Rejected {}

/** A prompt template failed to render (other than a missing argument). */
export class RenderError extends Rejected {}

const BY_CODE = new Map<Code, new (message: string, code: Code) => Rejected>([
  [Code.NotFound, NotFound],
  [Code.InvalidArgument, InvalidArgument],
  [Code.PermissionDenied, PermissionDenied],
  [Code.Unauthenticated, PermissionDenied],
  [Code.FailedPrecondition, RenderError],
]);

/** Whether a failed call means the service could not be reached (serve stale) or not. */
function isUnreachable(code: Code): boolean {
  return UNREACHABLE.has(code);
}

/** The client's error for anything a call threw. */
export function classify(error: unknown): ConfigError {
  if (error instanceof ConfigError) return error;
  const connect = ConnectError.from(error);
  const message = connect.rawMessage || Code[connect.code];
  if (isUnreachable(connect.code)) return new Unavailable(UNREACHABLE_MESSAGE, connect.code, { cause: error });
  const Class = BY_CODE.get(connect.code) ?? Rejected;
  return new Class(message, connect.code);
}
