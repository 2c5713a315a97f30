/**
 * Which org an MCP request is for: the `org` claim of a verified bearer JWT, else the `x-org-id`
 * header (set by a trusted gateway, or in development), else none (defaults only).
 *
 * A bearer token is trusted only once its signature is checked (HS256, the secret mcp-config
 * uses too): an unverified `org` claim would let anyone read any org.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

/** A bearer token this server cannot accept. */
export class Unauthorized extends Error {}

export function orgOf(headers: IncomingHttpHeaders, jwtSecret: string | undefined): string {
  const [scheme, token] = (headers.authorization ?? "").split(" ", 2);
  if (scheme?.toLowerCase() === "bearer" && token) {
    if (jwtSecret === undefined) throw new Unauthorized("bearer tokens need the server to run with --jwt-secret");
    const org = verify(token, jwtSecret).org;
    return typeof org === "string" ? org : "";
  }
  const header = headers["x-org-id"];
  return typeof header === "string" ? header : "";
}

/** The claims of an HS256 JWT signed with `secret` and not expired (`exp` required). */
function verify(token: string, secret: string): Record<string, unknown> {
  const [header, payload, signature, ...rest] = token.split(".");
  if (header === undefined || payload === undefined || signature === undefined || rest.length > 0) {
    throw new Unauthorized("invalid bearer token: not a JWT");
  }
  const decode = (part: string) => JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    if (decode(header).alg !== "HS256") throw new Unauthorized("invalid bearer token: not HS256");
    claims = decode(payload);
  } catch (error) {
    throw error instanceof Unauthorized ? error : new Unauthorized("invalid bearer token: unreadable");
  }
  const expected = createHmac("sha256", secret).update(`${header}.${payload}`).digest();
  const given = Buffer.from(signature, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new Unauthorized("invalid bearer token: bad signature");
  }
  if (typeof claims.exp !== "number" || claims.exp * 1000 <= Date.now()) {
    throw new Unauthorized("invalid bearer token: expired or without exp");
  }
  return claims;
}
