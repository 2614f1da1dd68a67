/**
 * Command-line flags the way Go's `flag` package reads them, which is what the k2s launcher
 * used: `-name value`, `-name=value`, `--name value`, `--name=value`; booleans as `-name` or
 * `-name=true|false`; parsing stops at `--`. Pure functions, no I/O.
 *
 * @module
 */

/** What a flag takes. */
export type FlagKind = "bool" | "value";

/** One flag: its canonical name, other spellings, and whether it takes a value. */
export interface FlagSpec {
  /** Canonical name (without dashes); parsed values are keyed by it. */
  readonly name: string;
  /** `bool` flags take no separate argument; `value` flags take the next one. */
  readonly kind: FlagKind;
  /** Other names that set the same flag (`v` for `verbosity`). */
  readonly aliases?: readonly string[];
}

/** The outcome of {@linkcode parseGoFlags}. */
export type GoFlagParse =
  | {
    readonly kind: "parsed";
    /** Value of every flag that was given, last one wins, keyed by canonical name. */
    readonly values: ReadonlyMap<string, string | boolean>;
    /** How each given flag was spelled last (`-label-timeout`), for messages. */
    readonly spellings: ReadonlyMap<string, string>;
    /** The arguments after `--`, or undefined when there was no `--`. */
    readonly rest: readonly string[] | undefined;
  }
  | { readonly kind: "help" }
  | { readonly kind: "error"; readonly message: string };

const TRUE_WORDS = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const FALSE_WORDS = new Set(["0", "f", "F", "FALSE", "false", "False"]);

/** Go's `strconv.ParseBool`. */
export function parseGoBool(text: string): boolean | undefined {
  if (TRUE_WORDS.has(text)) return true;
  if (FALSE_WORDS.has(text)) return false;
  return undefined;
}

/** Digits of each base Go's `strconv.ParseInt(text, 0, 64)` recognises by prefix. */
const BASES: ReadonlyArray<{ prefix: RegExp; base: number; digit: string }> = [
  { prefix: /^0[xX]/, base: 16, digit: "[0-9a-fA-F]" },
  { prefix: /^0[bB]/, base: 2, digit: "[01]" },
  { prefix: /^0[oO]?(?=.)/, base: 8, digit: "[0-7]" },
];

/**
 * Go's `strconv.ParseInt(text, 0, 64)` for values that fit a JavaScript safe integer: decimal,
 * `0x` hex, `0o` or leading-`0` octal, `0b` binary, with `_` between digits.
 */
export function parseGoInt(text: string): number | undefined {
  const negative = text.startsWith("-");
  const body = /^[+-]/.test(text) ? text.slice(1) : text;
  let base = 10;
  let digit = "[0-9]";
  let digits = body;
  let prefixed = false;
  for (const candidate of BASES) {
    const prefix = candidate.prefix.exec(body);
    if (prefix) {
      ({ base, digit } = candidate);
      digits = body.slice(prefix[0].length);
      prefixed = true;
      break;
    }
  }
  // As in Go, an underscore separates digits; right after a base prefix it may lead.
  const shape = new RegExp(`^${prefixed ? "_?" : ""}${digit}+(_${digit}+)*$`);
  if (!shape.test(digits)) return undefined;
  const value = parseInt(digits.replaceAll("_", ""), base);
  if (!Number.isSafeInteger(value)) return undefined;
  return negative ? -value : value;
}

/**
 * Parses `args` against `specs` with Go `flag` semantics. Parsing stops at `--` (whose
 * following arguments are returned as `rest`); any other argument that is not a flag is an
 * error here, because the k2s launcher only ever took its program after `--`.
 */
export function parseGoFlags(args: readonly string[], specs: readonly FlagSpec[]): GoFlagParse {
  const byName = new Map<string, FlagSpec>();
  for (const spec of specs) {
    byName.set(spec.name, spec);
    for (const alias of spec.aliases ?? []) byName.set(alias, spec);
  }
  const values = new Map<string, string | boolean>();
  const spellings = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") return { kind: "parsed", values, spellings, rest: args.slice(i + 1) };
    if (arg.length < 2 || !arg.startsWith("-")) {
      return {
        kind: "error",
        message: `unexpected argument ${
          JSON.stringify(arg)
        }: flags come first, the program and its arguments after --`,
      };
    }
    const dashes = arg.startsWith("--") ? 2 : 1;
    const body = arg.slice(dashes);
    if (body === "" || body.startsWith("-") || body.startsWith("=")) {
      return { kind: "error", message: `bad flag syntax: ${arg}` };
    }
    const equals = body.indexOf("=");
    const name = equals < 0 ? body : body.slice(0, equals);
    const inline = equals < 0 ? undefined : body.slice(equals + 1);
    const spec = byName.get(name);
    const spelled = `${"-".repeat(dashes)}${name}`;
    if (!spec) {
      if (name === "h" || name === "help") return { kind: "help" };
      return {
        kind: "error",
        message: `flag provided but not defined: ${spelled} (see cplauncher exec --help)`,
      };
    }
    if (spec.kind === "bool") {
      if (inline === undefined) values.set(spec.name, true);
      else {
        const parsed = parseGoBool(inline);
        if (parsed === undefined) {
          return {
            kind: "error",
            message: `invalid boolean value ${JSON.stringify(inline)} for ${spelled}`,
          };
        }
        values.set(spec.name, parsed);
      }
    } else if (inline !== undefined) {
      values.set(spec.name, inline);
    } else if (i + 1 < args.length) {
      values.set(spec.name, args[++i]);
    } else {
      return { kind: "error", message: `flag needs an argument: ${spelled}` };
    }
    spellings.set(spec.name, spelled);
  }
  return { kind: "parsed", values, spellings, rest: undefined };
}
