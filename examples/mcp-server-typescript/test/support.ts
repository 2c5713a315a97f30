/**
 * What the suites share: where the service binary is, bounded waits, HS256 tokens, and a bundle
 * of every MCP content kind (org `initech` of server `github`, so the example bundle's orgs and
 * what the other tests expect of them stay as they are).
 */
import { createHmac } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = resolve(fileURLToPath(import.meta.url), "../../../../../");
export const BINARY = process.env.MCP_CONFIG_BIN ?? join(REPO, "target/debug/mcp-config");
export const PROPAGATION_MS = 10_000;

/** A 1x1 PNG, base64. */
export const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/** The first bytes of a WAV file, base64: audio is passed through, never decoded. */
export const WAV = "UklGRiQAAABXQVZFZm10IA==";

export const ORG = "initech";
export const STYLE_URI = "file:///initech/style.md";
export const SUMMARY_TEMPLATE = "github://repos/{owner}/{repo}/summary";

/** Initech's github entries: a prompt per content kind besides text, the resource its embedded
 * message reads at render time, and a resource template. */
const CONTENT_BUNDLE = `
orgs:
  ${ORG}:
    name: Initech
    servers:
      github:
        prompts:
          describe-screenshot:
            title: Describe a screenshot
            messages:
              - role: user
                image:
                  mime_type: image/png
                  data: ${PNG}
              - role: user
                text: What does this screenshot show?
          apply-style-guide:
            description: Embeds the org's style guide, read when the prompt is rendered.
            arguments:
              - name: file
                required: true
            messages:
              - role: user
                resource:
                  uri: ${STYLE_URI}
              - role: user
                text: Apply the style guide above to {{ file }}.
          listen-and-link:
            arguments:
              - name: repo
                required: true
                choices: [initech/tps, initech/printer]
            messages:
              - role: assistant
                audio:
                  mime_type: audio/wav
                  data: ${WAV}
              - role: user
                resource_link:
                  uri: "https://github.com/{{ repo }}/blob/main/README.md"
                  name: readme
                  description: The repository's README
                  mime_type: text/markdown
        resources:
          "${STYLE_URI}":
            name: style-guide
            mime_type: text/markdown
            text: "# Initech style\\nCover sheets on every TPS report."
          "${SUMMARY_TEMPLATE}":
            name: repo-summary
            title: Repository summary
            description: A summary of any repository, by owner and name.
            mime_type: text/plain
            text: "Summary of {{ owner }}/{{ repo }}."
`;

/** Writes the content bundle into `dir` and returns its path, for `importBundle`. */
export function contentBundle(dir: string): string {
  const path = join(dir, "content.yaml");
  writeFileSync(path, CONTENT_BUNDLE);
  return path;
}

/** An HS256 JWT of `claims`, valid for an hour. */
export function jwt(claims: Record<string, unknown>, secret: string): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const body = `${part({ alg: "HS256", typ: "JWT" })}.${part({ ...claims, exp: Math.floor(Date.now() / 1000) + 3600 })}`;
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
}

/** `promise`, or a failure after PROPAGATION_MS: a bound on a wait, not a timing check. */
export async function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${PROPAGATION_MS} ms`)), PROPAGATION_MS);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
