/**
 * The gRPC side of the client (contract C-TRANS-*): one HTTP/2 session manager the client owns
 * (so `close()` can end every stream and let the process exit), the generated service client,
 * and the metadata every call carries: the bearer token and the caller's trace context.
 *
 * The org travels in each request's `org_id` only, not also as `x-org-id` metadata: the service
 * checks that header first, so a bad org would be reported under the header's name.
 */
import { type Client, type Interceptor, createClient } from "@connectrpc/connect";
import { Http2SessionManager, createGrpcTransport } from "@connectrpc/connect-node";
import { ConfigService } from "../gen/mcp_config/v1/config_pb.js";

/** Views can be large; the service allows 64 MiB responses, so the client accepts them too. */
const MAX_MESSAGE_BYTES = 64 << 20;

export type ServiceClient = Client<typeof ConfigService>;

export interface TransportOptions {
  endpoint: string;
  token?: string | undefined;
  /** Headers of the caller's trace context (W3C `traceparent`, `tracestate`) for each call. */
  traceContext?: (() => Record<string, string>) | undefined;
}

/** `http(s)://host:port` as given, or `http://` added to a bare `host:port`. */
function baseUrlOf(endpoint: string): string {
  return /^https?:\/\//.test(endpoint) ? endpoint.replace(/\/+$/, "") : `http://${endpoint}`;
}

export class Transport {
  readonly service: ServiceClient;
  private readonly sessions: Http2SessionManager;

  constructor(options: TransportOptions) {
    const baseUrl = baseUrlOf(options.endpoint);
    // Pings find a dead connection (a hung service, a partition) where TCP alone would not.
    this.sessions = new Http2SessionManager(baseUrl, {
      pingIntervalMs: 10_000,
      pingTimeoutMs: 5_000,
      idleConnectionTimeoutMs: 60_000,
    });
    this.service = createClient(
      ConfigService,
      createGrpcTransport({
        baseUrl,
        sessionManager: this.sessions,
        interceptors: [metadata(options)],
        readMaxBytes: MAX_MESSAGE_BYTES,
      }),
    );
  }

  /** Ends every call and the connection. */
  close(): void {
    this.sessions.abort();
  }
}

function metadata({ token, traceContext }: TransportOptions): Interceptor {
  return (next) => (request) => {
    if (token !== undefined) request.header.set("authorization", `Bearer ${token}`);
    for (const [name, value] of Object.entries(traceContext?.() ?? {})) {
      request.header.set(name, value);
    }
    return next(request);
  };
}
