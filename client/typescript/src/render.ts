/**
 * Renders a prompt locally, to the messages the service's `GetPrompt` answers (C-RENDER-1): the
 * client's answer to `prompt()` while the service cannot be reached and the prompt is in a
 * cached view.
 *
 * The service renders with minijinja (Jinja2 syntax); this module keeps its rules around the
 * template: a declared optional argument that was not given renders as an empty string, while a
 * missing required argument, or any variable a template uses that is neither declared nor given
 * (found before rendering, whether or not the branch using it runs), is an `InvalidArgument`
 * naming it, with the service's message; which one is named is the service's choice too (the
 * first missing required argument in declared order, else, template by template, the first
 * missing variable by name). Templates run in `@huggingface/jinja`, an interpreter that reaches
 * nothing of JavaScript but the values it is given (no prototype, no `Function`), with the
 * service's whitespace rules (no trim_blocks or lstrip_blocks; one trailing newline dropped),
 * no autoescaping, and undefined values strict: printing, testing, iterating or filtering one
 * fails (a `RenderError`), except `is defined` / `is undefined` and the `default` filter. The
 * service's work and output limits are not mirrored: rendering here spends the caller's CPU.
 *
 * Values that are not strings print, join, concatenate (`~`) and convert (`string`) as the
 * service makes them: `None`, `True`, lists and maps as Python's `repr` (map keys sorted).
 * `{% raw %}` blocks are read here (the engine lacks them).
 *
 * client/render-vectors/ holds the cases every client's renderer and the service are proven to
 * agree on. Outside them the engines differ in places: Python-style string methods
 * (`"x".upper()`) work here but fail in the service; float literals in exponent form, `(1,)`,
 * `dict(…)` and tests with arguments (`is divisibleby(3)`) fail here; the `title` filter on
 * digraphs and an undefined value's error message differ.
 *
 * The templates of a message are those the service renders: a text message's text, an embedded
 * resource's URI and text, a resource link's URI; images, audio and blobs are copied as they are.
 * An embedded resource with neither text nor blob stands for the org's own resource at its URI,
 * which the service reads at render time; rendered here it keeps its contents unset (its URI
 * rendered): read it with `ConfigClient.readResource` if it is needed.
 */
import * as jinja from "@huggingface/jinja";
import { Code, InvalidArgument, RenderError } from "./errors.js";
import type { Prompt, PromptMessage } from "./plain.js";

// The engine's declarations re-export its classes from paths NodeNext cannot resolve (they type
// as `any`): what this module uses of them, typed here.
interface RuntimeValue {
  readonly type: string;
  readonly value: unknown;
}
interface Environment {
  set(name: string, value: unknown): RuntimeValue;
  setVariable(name: string, value: RuntimeValue): RuntimeValue;
}
interface Program {
  readonly type: "Program";
  readonly body: readonly unknown[];
}
interface Interpreter {
  run(program: Program): RuntimeValue;
  evaluate(statement: unknown, environment: Environment): RuntimeValue;
}
const engine = jinja as unknown as {
  Environment: new () => Environment;
  Interpreter: new (env: Environment) => Interpreter;
  tokenize(source: string, options: { lstrip_blocks: boolean; trim_blocks: boolean }): unknown[];
  parse(tokens: unknown[]): Program;
};

/** Variables the service's templates have without being given: minijinja's globals. */
const GLOBALS = new Set(["range", "dict", "debug", "namespace"]);
/** Constants in minijinja, identifiers in `@huggingface/jinja` (set as globals below). */
const CONSTANTS: ReadonlyMap<string, boolean | null> = new Map([
  ["true", true],
  ["false", false],
  ["none", null],
  ["True", true],
  ["False", false],
  ["None", null],
]);
/** minijinja refuses longer ranges. */
const MAX_RANGE = 100_000;

/** The error the service answers for a missing argument, word for word. */
export function missingArgument(name: string): InvalidArgument {
  return new InvalidArgument(`arguments.${name}: missing argument ${JSON.stringify(name)}`, Code.InvalidArgument);
}

/** The prompt's messages with their templates rendered with `args` (an embedded resource that
 * refers to the org's own is left unresolved: see the module's note). */
export function renderLocally(prompt: Prompt, args: Readonly<Record<string, string>>): PromptMessage[] {
  const given = new Map(Object.entries(args));
  for (const declared of prompt.arguments ?? []) {
    if (declared.required && !given.has(declared.name)) throw missingArgument(declared.name);
  }
  const context = new Map<string, string>((prompt.arguments ?? []).map((a) => [a.name, ""]));
  for (const [name, value] of given) context.set(name, value);
  // Every template is compiled and checked for missing variables before any is rendered, as the
  // service does: the variable named is the first template's, whatever a later one would do.
  const compiled = prompt.messages.map((message) => compileMessage(message));
  for (const templates of compiled) {
    for (const template of templates) {
      const missing = template.variables.find((name) => !context.has(name));
      if (missing !== undefined) throw missingArgument(missing);
    }
  }
  return prompt.messages.map((message, index) => renderMessage(message, compiled[index] ?? [], context));
}

interface Compiled {
  program: Program;
  /** The variables the template uses (not globals, not assigned by itself), sorted. */
  variables: readonly string[];
  /** The expressions whose value is printed. */
  printed: ReadonlySet<object>;
}

/** Each template of `message`, in the order the service renders them. */
function compileMessage(message: PromptMessage): Compiled[] {
  return templatesOf(message).map(compile);
}

function templatesOf(message: PromptMessage): string[] {
  const content = message.content as PromptMessage["content"] | undefined;
  switch (content?.case) {
    case undefined:
      return [message.text];
    case "resource":
      return content.value.contents?.case === "text"
        ? [content.value.uri, content.value.contents.value]
        : [content.value.uri];
    case "resourceLink":
      return [content.value.uri];
    default:
      return [];
  }
}

/** A copy of `message` with each of its templates rendered (the same ones, in the same order,
 * as `templatesOf`). */
function renderMessage(message: PromptMessage, templates: readonly Compiled[], context: ReadonlyMap<string, string>): PromptMessage {
  const [first, second] = templates.map((template) => render(template, context));
  const content = message.content as PromptMessage["content"] | undefined;
  switch (content?.case) {
    case undefined:
      return { ...message, text: first ?? "" };
    case "resource": {
      const value = { ...content.value, uri: first ?? "" };
      if (content.value.contents?.case === "text") value.contents = { case: "text", value: second ?? "" };
      return { ...message, content: { case: "resource", value } };
    }
    case "resourceLink":
      return { ...message, content: { case: "resourceLink", value: { ...content.value, uri: first ?? "" } } };
    default:
      return message;
  }
}

function compile(source: string): Compiled {
  let program: Program;
  try {
    // minijinja drops a trailing "\n", then a trailing "\r"; the tokenizer drops one "\n" of
    // what it is given, so it is given the source minijinja renders plus one.
    const text = withRawAsLiterals(withoutTrailingNewline(source));
    program = engine.parse(engine.tokenize(`${text}\n`, { lstrip_blocks: false, trim_blocks: false }));
  } catch (error) {
    throw templateError(error);
  }
  const undeclared = findUndeclared(program);
  const variables = [...undeclared].filter((name) => !GLOBALS.has(name) && !CONSTANTS.has(name)).sort(byCodePoint);
  return { program, variables, printed: printedExpressions(program) };
}

function withoutTrailingNewline(source: string): string {
  let out = source;
  if (out.endsWith("\n")) out = out.slice(0, -1);
  if (out.endsWith("\r")) out = out.slice(0, -1);
  return out;
}

/** `{% raw %}…{% endraw %}` (which the engine lacks) as the string literal it prints, with the
 * whitespace control of its two tags. */
function withRawAsLiterals(source: string): string {
  return source.replace(RAW, (_, before: string, start: string, body: string, end: string, after: string) => {
    let text = body;
    if (start === "-") text = text.replace(/^\s+/, "");
    if (end === "-") text = text.replace(/\s+$/, "");
    const literal = text.replaceAll("\\", "\\\\").replaceAll('"', '\\"');
    return `{{${before} "${literal}" ${after}}}`;
  });
}

const RAW = /\{%(-?)\s*raw\s*(-?)%\}([\s\S]*?)\{%(-?)\s*endraw\s*(-?)%\}/g;

/** Rust's order for strings (by code point), which the service sorts the variables in. */
function byCodePoint(a: string, b: string): number {
  const x = [...a].map((c) => c.codePointAt(0) ?? 0);
  const y = [...b].map((c) => c.codePointAt(0) ?? 0);
  for (let i = 0; i < Math.min(x.length, y.length); i += 1) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

function render(template: Compiled, context: ReadonlyMap<string, string>): string {
  const env = new engine.Environment();
  // `setVariable` replaces what the environment starts with (`namespace`), as an argument of
  // that name replaces a global in the service; the constants are none of the arguments'.
  for (const [name, value] of CONSTANTS) env.setVariable(name, runtimeValue(value));
  env.setVariable("range", runtimeValue(range));
  for (const [name, value] of context) if (!CONSTANTS.has(name)) env.setVariable(name, runtimeValue(value));
  try {
    return String(new StrictInterpreter(env, template.printed).run(template.program).value);
  } catch (error) {
    throw templateError(error);
  }
}

/** `value` as the engine holds it. */
function runtimeValue(value: unknown): RuntimeValue {
  return new engine.Environment().set("value", value);
}

function templateError(error: unknown): RenderError {
  const detail = error instanceof Error ? error.message : String(error);
  return new RenderError(`template error: ${detail}`, Code.FailedPrecondition);
}

/** minijinja's `range(stop)`, `range(start, stop)`, `range(start, stop, step)`. */
function range(start: number, stop?: number, step?: number): number[] {
  const [from, to] = stop === undefined ? [0, start] : [start, stop];
  const by = step ?? 1;
  if (![from, to, by].every(Number.isInteger)) throw new Error("range takes integers");
  if (by === 0) throw new Error("cannot create range with step of 0");
  const length = Math.max(0, Math.ceil((to - from) / by));
  if (length > MAX_RANGE) throw new Error("range has too many elements");
  return Array.from({ length }, (_, i) => from + i * by);
}

// ---- The engine's AST, as far as this module reads it. ----

interface Node {
  type: string;
  [field: string]: unknown;
}

const isNode = (value: unknown): value is Node =>
  typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string";

const nodes = (value: unknown): Node[] => (Array.isArray(value) ? value.filter(isNode) : []);

/**
 * The variables a template reads before assigning them: minijinja's `undeclared_variables`
 * (its `meta::find_undeclared`), on this engine's AST: the same scopes (a loop's and each
 * branch's assignments are their own), `loop` in a loop, `caller` in a macro, and a `set`'s
 * target assigned before its value is read.
 */
function findUndeclared(program: Program): Set<string> {
  const out = new Set<string>();
  const scopes: Set<string>[] = [new Set(["self"])];
  const isAssigned = (name: string) => scopes.some((scope) => scope.has(name));
  const assign = (name: string) => scopes[scopes.length - 1]?.add(name);
  const scoped = (body: () => void) => {
    scopes.push(new Set());
    try {
      body();
    } finally {
      scopes.pop();
    }
  };

  const assignTarget = (target: unknown) => {
    if (!isNode(target)) return;
    if (target.type === "Identifier") assign(target.value as string);
    else if (target.type === "TupleLiteral" || target.type === "ArrayLiteral") nodes(target.value).forEach(assignTarget);
  };

  /** A filter or test named by `node` (an identifier, or a call of one): its arguments. */
  const callArguments = (node: unknown) => {
    if (isNode(node) && node.type === "CallExpression") nodes(node.args).forEach(expression);
  };

  const expression = (node: unknown): void => {
    if (!isNode(node)) return;
    switch (node.type) {
      case "Identifier": {
        const name = node.value as string;
        if (!isAssigned(name)) {
          out.add(name);
          assign(name);
        }
        return;
      }
      case "MemberExpression":
        expression(node.object);
        if (node.computed) expression(node.property);
        return;
      case "CallExpression":
        expression(node.callee);
        nodes(node.args).forEach(expression);
        return;
      case "FilterExpression":
        expression(node.operand);
        callArguments(node.filter);
        return;
      case "TestExpression":
        expression(node.operand);
        callArguments(node.test);
        return;
      case "KeywordArgumentExpression":
        expression(node.value);
        return;
      case "ArrayLiteral":
      case "TupleLiteral":
        nodes(node.value).forEach(expression);
        return;
      case "ObjectLiteral":
        if (node.value instanceof Map) {
          for (const [key, value] of node.value) {
            expression(key);
            expression(value);
          }
        }
        return;
      case "StringLiteral":
      case "IntegerLiteral":
      case "FloatLiteral":
        return;
      default:
        // Binary, unary, ternary, select, slice, spread: every child expression, in order.
        for (const [field, value] of Object.entries(node)) {
          if (field === "operator") continue;
          if (Array.isArray(value)) nodes(value).forEach(expression);
          else expression(value);
        }
    }
  };

  const macro = (args: unknown, body: unknown) => {
    assign("caller");
    const params = nodes(args);
    for (const param of params) assignTarget(param.type === "KeywordArgumentExpression" ? param.key : param);
    for (const param of params) if (param.type === "KeywordArgumentExpression") expression(param.value);
    block(body);
  };

  const statement = (node: Node): void => {
    switch (node.type) {
      case "StringLiteral": // template text
      case "Comment":
      case "Break":
      case "Continue":
        return;
      case "If":
        expression(node.test);
        scoped(() => block(node.body));
        scoped(() => block(node.alternate));
        return;
      case "For":
        scoped(() => {
          assign("loop");
          const iterable = node.iterable;
          if (isNode(iterable) && iterable.type === "SelectExpression") {
            expression(iterable.lhs);
            assignTarget(node.loopvar);
            expression(iterable.test);
          } else {
            expression(iterable);
            assignTarget(node.loopvar);
          }
          block(node.body);
        });
        scoped(() => block(node.defaultBlock));
        return;
      case "Set":
        assignTarget(node.assignee);
        if (node.value !== null && node.value !== undefined) expression(node.value);
        scoped(() => block(node.body));
        return;
      case "Macro":
        if (isNode(node.name)) assign(node.name.value as string);
        scoped(() => macro(node.args, node.body));
        return;
      case "CallStatement":
        if (isNode(node.call)) {
          expression(node.call.callee);
          nodes(node.call.args).forEach(expression);
        }
        scoped(() => macro(node.callerArgs, node.body));
        return;
      case "FilterStatement":
        callArguments(node.filter);
        scoped(() => block(node.body));
        return;
      default:
        expression(node);
    }
  };

  const block = (body: unknown) => nodes(body).forEach(statement);

  block(program.body);
  return out;
}

/** The expressions of `program` whose values are printed: those standing in a body. */
function printedExpressions(program: Program): Set<object> {
  const printed = new Set<object>();
  const visit = (body: unknown): void => {
    for (const node of nodes(body)) {
      if (!STATEMENTS.has(node.type)) printed.add(node);
      for (const field of BODIES) visit(node[field]);
    }
  };
  visit(program.body);
  return printed;
}

/** The fields of a statement that hold statements. */
const BODIES = ["body", "alternate", "defaultBlock"] as const;

/** Node types that are statements (their bodies hold statements and printed expressions). */
const STATEMENTS = new Set([
  "StringLiteral",
  "Comment",
  "Break",
  "Continue",
  "If",
  "For",
  "Set",
  "Macro",
  "CallStatement",
  "FilterStatement",
]);

/** The expressions an undefined value comes from (a conditional expression without `else`
 * gives minijinja's silent undefined, which prints as nothing, even when strict). */
const UNDEFINED_SOURCES = new Set(["Identifier", "MemberExpression", "CallExpression", "FilterExpression"]);

/** Where an undefined value may stand without failing: what `is defined` tests and `default`
 * filters. */
const LENIENT_TESTS = new Set(["defined", "undefined"]);
const LENIENT_FILTERS = new Set(["default", "d"]);

/**
 * The engine's interpreter with minijinja's strict undefined: an undefined value fails wherever
 * it is used, but as the operand of `is defined` / `is undefined` or of `default`; a printed
 * `none` prints as minijinja prints it.
 */
class StrictInterpreter extends engine.Interpreter {
  private readonly lenient = new Set<object>();

  constructor(
    env: Environment,
    private readonly printed: ReadonlySet<object>,
  ) {
    super(env);
  }

  override evaluate(statement: unknown, environment: Environment): RuntimeValue {
    const node = statement as Node | undefined;
    if (node?.type === "TestExpression" && isNode(node.test) && LENIENT_TESTS.has(node.test.value as string)) {
      this.lenient.add(node.operand as object);
    } else if (node?.type === "FilterExpression" && LENIENT_FILTERS.has(filterName(node.filter))) {
      this.lenient.add(node.operand as object);
    }
    const value = this.converted(node, environment) ?? super.evaluate(statement, environment);
    if (node === undefined) return value;
    if (value.type === "UndefinedValue" && UNDEFINED_SOURCES.has(node.type) && !this.lenient.has(node)) {
      throw new Error(`${describe(node)} is undefined`);
    }
    if (this.printed.has(node) && PRINTED_AS_PYTHON.has(value.type)) return stringValue(pyStr(value));
    return value;
  }

  /** What the service makes of `~`, `string` and `join` with values other than strings (they
   * become text as printing makes them); undefined for any other node, left to the engine. */
  private converted(node: Node | undefined, environment: Environment): RuntimeValue | undefined {
    if (node?.type === "BinaryExpression" && (node.operator as { value?: unknown }).value === "~") {
      const left = this.evaluate(node.left, environment);
      return stringValue(pyStr(left) + pyStr(this.evaluate(node.right, environment)));
    }
    if (node?.type !== "FilterExpression") return undefined;
    const name = filterName(node.filter);
    const args = isNode(node.filter) && node.filter.type === "CallExpression" ? nodes(node.filter.args) : [];
    if (name === "string" && args.length === 0) {
      return stringValue(pyStr(this.evaluate(node.operand, environment)));
    }
    if (name === "join" && args.length <= 1 && args.every((arg) => arg.type !== "KeywordArgumentExpression")) {
      const operand = this.evaluate(node.operand, environment);
      const separator = args[0] === undefined ? "" : pyStr(this.evaluate(args[0], environment));
      if (operand.type === "StringValue") return stringValue([...(operand.value as string)].join(separator));
      if (operand.type === "ArrayValue" || operand.type === "TupleValue") {
        return stringValue((operand.value as RuntimeValue[]).map(pyStr).join(separator));
      }
      throw new Error(`cannot join ${operand.type}`);
    }
    return undefined;
  }
}

/** The values whose printed form is Python's (and the service's) rather than the engine's. */
const PRINTED_AS_PYTHON = new Set([
  "BooleanValue",
  "NullValue",
  "ArrayValue",
  "TupleValue",
  "ObjectValue",
  "NamespaceValue",
]);

/** A value as the service prints it (Python's `str`). */
function pyStr(value: RuntimeValue): string {
  switch (value.type) {
    case "StringValue":
      return value.value as string;
    case "UndefinedValue":
      return "";
    default:
      return pyRepr(value);
  }
}

/** A value as the service prints it inside a list or a map (Python's `repr`; a map's keys in
 * order, as the service's maps keep them). */
function pyRepr(value: RuntimeValue): string {
  switch (value.type) {
    case "StringValue":
      return quoted(value.value as string);
    case "BooleanValue":
      return value.value ? "True" : "False";
    case "NullValue":
    case "UndefinedValue":
      return "None";
    case "ArrayValue":
      return `[${(value.value as RuntimeValue[]).map(pyRepr).join(", ")}]`;
    case "TupleValue": {
      const items = (value.value as RuntimeValue[]).map(pyRepr);
      return items.length === 1 ? `(${items[0]},)` : `(${items.join(", ")})`;
    }
    case "ObjectValue":
    case "KeywordArgumentsValue":
    case "NamespaceValue": {
      const entries = [...(value.value as Map<string, RuntimeValue>)].sort(([a], [b]) => byCodePoint(a, b));
      return `{${entries.map(([key, item]) => `${quoted(key)}: ${pyRepr(item)}`).join(", ")}}`;
    }
    default:
      return String(value);
  }
}

/** Python's `repr` of a string: single quotes, unless it holds one and no double quote. */
function quoted(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = "";
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (char === "\\" || char === quote) out += `\\${char}`;
    else if (char === "\n") out += "\\n";
    else if (char === "\r") out += "\\r";
    else if (char === "\t") out += "\\t";
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else out += char;
  }
  return quote + out + quote;
}

const stringValue = (text: string): RuntimeValue => new StringValue(text);
const StringValue = runtimeValue("").constructor as new (text: string) => RuntimeValue;

function filterName(filter: unknown): string {
  if (!isNode(filter)) return "";
  if (filter.type === "Identifier") return filter.value as string;
  return isNode(filter.callee) ? (filter.callee.value as string) : "";
}

/** `x.y` for an attribute lookup, the name for a variable. */
function describe(node: Node): string {
  if (node.type === "Identifier") return `\`${node.value as string}\``;
  if (node.type === "MemberExpression" && !node.computed && isNode(node.object) && isNode(node.property)) {
    const object = describe(node.object).replaceAll("`", "");
    return `\`${object}.${node.property.value as string}\``;
  }
  return "a value";
}
