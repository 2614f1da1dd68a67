/**
 * Counts test results from deno test's JUnit XML report(s) and prints one final line:
 *
 *   N passed, N failed[, N skipped]
 *
 *   deno test --reporter=dot --junit-path=junit.xml …
 *   deno run --allow-read scripts/count_results.ts [--deno-exit-code N] junit.xml…
 *
 * Every `<testcase>` element counts once (deno writes test steps as their own test cases,
 * named `test > step`). A test case holding `<failure>` or `<error>` failed; one holding
 * `<skipped>` (ignored tests and steps) is skipped and not counted as passed; the others
 * passed. Names of failed test cases go to stderr before the count line.
 *
 * deno's JUnit report leaves out failures that belong to no test case (an uncaught error at
 * a test module's top level or in a dangling timer, a type-check failure that stops the run
 * before any test). Pass deno test's exit code with `--deno-exit-code`: when it is non-zero
 * but no test case failed, that counts as one failure, so the line never reads "0 failed"
 * for a red run. A report that is missing, unreadable or cut off also counts as one failure.
 *
 * Exit status: 0 when nothing failed and at least one test ran (passed or failed); 1
 * otherwise; 2 for a bad command line.
 *
 * No XML library: the report is scanned with a small tokenizer that understands tags,
 * quoted attributes (which may contain `>`), comments, CDATA, processing instructions and
 * the DOCTYPE, which is all JUnit reports contain.
 *
 * @module
 */

/** Totals of one or more reports. */
export interface Counts {
  passed: number;
  failed: number;
  skipped: number;
  /** `classname > name` of each failed test case (or a description of a report problem). */
  failures: string[];
  /** Problems with the report itself (cut off, not JUnit); each is also counted as failed. */
  problems: string[];
}

/** Creates empty totals. */
export function emptyCounts(): Counts {
  return { passed: 0, failed: 0, skipped: 0, failures: [], problems: [] };
}

type Token =
  | { kind: "open"; name: string; attrs: Record<string, string>; selfClosing: boolean }
  | { kind: "close"; name: string };

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

/** Decodes the five XML entities and numeric character references. */
export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (match, ref: string) => {
    if (ref.startsWith("#x") || ref.startsWith("#X")) {
      const code = parseInt(ref.slice(2), 16);
      return code <= 0x10ffff ? String.fromCodePoint(code) : match;
    }
    if (ref.startsWith("#")) {
      const code = parseInt(ref.slice(1), 10);
      return code <= 0x10ffff ? String.fromCodePoint(code) : match;
    }
    return ENTITIES[ref] ?? match;
  });
}

const NAME_CHAR = /[^\s/>=]/;

/**
 * Splits XML into element tokens, skipping text, comments, CDATA, processing instructions
 * and declarations. Stops with `truncated` when the input ends inside markup.
 */
function tokenize(xml: string): { tokens: Token[]; truncated: boolean } {
  const tokens: Token[] = [];
  let i = 0;
  const skipPast = (end: string): boolean => {
    const at = xml.indexOf(end, i);
    if (at === -1) return false;
    i = at + end.length;
    return true;
  };
  while (true) {
    const lt = xml.indexOf("<", i);
    if (lt === -1) return { tokens, truncated: false };
    i = lt;
    if (xml.startsWith("<!--", i)) {
      if (!skipPast("-->")) return { tokens, truncated: true };
    } else if (xml.startsWith("<![CDATA[", i)) {
      if (!skipPast("]]>")) return { tokens, truncated: true };
    } else if (xml.startsWith("<?", i)) {
      if (!skipPast("?>")) return { tokens, truncated: true };
    } else if (xml.startsWith("<!", i)) {
      // DOCTYPE, possibly with an internal subset in [...].
      let depth = 0;
      let j = i + 2;
      for (; j < xml.length; j++) {
        const c = xml[j];
        if (c === "[") depth++;
        else if (c === "]") depth--;
        else if (c === ">" && depth <= 0) break;
      }
      if (j >= xml.length) return { tokens, truncated: true };
      i = j + 1;
    } else if (xml.startsWith("</", i)) {
      const end = xml.indexOf(">", i);
      if (end === -1) return { tokens, truncated: true };
      tokens.push({ kind: "close", name: xml.slice(i + 2, end).trim() });
      i = end + 1;
    } else {
      // Start tag: name, then attributes whose quoted values may contain '>' or '/'.
      let j = i + 1;
      while (j < xml.length && NAME_CHAR.test(xml[j])) j++;
      const name = xml.slice(i + 1, j);
      const attrs: Record<string, string> = {};
      let closed = false;
      let selfClosing = false;
      while (j < xml.length) {
        const c = xml[j];
        if (/\s/.test(c)) {
          j++;
        } else if (c === ">") {
          closed = true;
          j++;
          break;
        } else if (c === "/" && xml[j + 1] === ">") {
          closed = true;
          selfClosing = true;
          j += 2;
          break;
        } else {
          let k = j;
          while (k < xml.length && NAME_CHAR.test(xml[k])) k++;
          if (k === j) k++; // stray character: skip it rather than loop forever
          const attr = xml.slice(j, k);
          j = k;
          while (j < xml.length && /\s/.test(xml[j])) j++;
          if (xml[j] !== "=") continue; // attribute without value (not XML, but harmless)
          j++;
          while (j < xml.length && /\s/.test(xml[j])) j++;
          const quote = xml[j];
          if (quote === '"' || quote === "'") {
            const endQuote = xml.indexOf(quote, j + 1);
            if (endQuote === -1) return { tokens, truncated: true };
            attrs[attr] = decodeEntities(xml.slice(j + 1, endQuote));
            j = endQuote + 1;
          } else {
            let k2 = j;
            while (k2 < xml.length && !/[\s>]/.test(xml[k2])) k2++;
            attrs[attr] = decodeEntities(xml.slice(j, k2));
            j = k2;
          }
        }
      }
      if (!closed) return { tokens, truncated: true };
      if (name === "") {
        // A lone '<' in text is not well-formed XML; step over it.
        i = lt + 1;
        continue;
      }
      tokens.push({ kind: "open", name, attrs, selfClosing });
      i = j;
    }
  }
}

/** Adds the test cases of one JUnit report to `into`. `source` names it in messages. */
export function countJUnit(xml: string, source: string, into: Counts = emptyCounts()): Counts {
  const { tokens, truncated } = tokenize(xml);
  let current: { label: string; failed: boolean; skipped: boolean } | undefined;
  let depth = 0; // element depth inside the current test case
  let sawRoot = false;
  let open = 0; // unclosed elements overall
  const finish = () => {
    if (!current) return;
    if (current.failed) {
      into.failed++;
      into.failures.push(current.label);
    } else if (current.skipped) into.skipped++;
    else into.passed++;
    current = undefined;
  };
  for (const token of tokens) {
    if (token.kind === "open") {
      if (token.name === "testsuites" || token.name === "testsuite") sawRoot = true;
      if (!token.selfClosing) open++;
      if (current) {
        if (token.name === "failure" || token.name === "error") current.failed = true;
        else if (token.name === "skipped") current.skipped = true;
        if (!token.selfClosing) depth++;
        continue;
      }
      if (token.name === "testcase") {
        const name = token.attrs.name ?? "(unnamed)";
        const label = token.attrs.classname ? `${token.attrs.classname} > ${name}` : name;
        current = { label, failed: false, skipped: false };
        depth = 0;
        if (token.selfClosing) finish();
      }
    } else {
      open = Math.max(0, open - 1);
      if (!current) continue;
      if (depth > 0) depth--;
      else if (token.name === "testcase") finish();
    }
  }
  const problem = (message: string) => {
    into.problems.push(`${source}: ${message}`);
    into.failed++;
    into.failures.push(`${source}: ${message}`);
  };
  if (current) {
    // The report ends inside a test case: count what it says, then flag the cut.
    finish();
  }
  if (!sawRoot) problem("not a JUnit report (no <testsuites> or <testsuite> element)");
  else if (truncated || open > 0) {
    problem("report is cut off (deno test stopped while writing it?)");
  }
  return into;
}

/** Formats the final line. */
export function formatCounts(counts: Counts): string {
  const line = `${counts.passed} passed, ${counts.failed} failed`;
  return counts.skipped > 0 ? `${line}, ${counts.skipped} skipped` : line;
}

const encoder = new TextEncoder();

function write(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  let bytes = encoder.encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
}

const USAGE = "usage: count_results.ts [--deno-exit-code N] JUNIT.xml…";

/** Runs the script; returns the exit code. */
export async function run(args: readonly string[]): Promise<number> {
  const files: string[] = [];
  let denoExit: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    let value: string | undefined;
    if (arg === "--deno-exit-code") value = args[++i];
    else if (arg.startsWith("--deno-exit-code=")) value = arg.slice("--deno-exit-code=".length);
    else if (arg === "-h" || arg === "--help") {
      write(Deno.stdout, `${USAGE}\n`);
      return 0;
    } else if (arg.startsWith("-") && arg !== "-") {
      write(Deno.stderr, `count_results: unknown option ${arg}\n${USAGE}\n`);
      return 2;
    } else {
      files.push(arg);
      continue;
    }
    if (value === undefined || !/^\d+$/.test(value)) {
      write(Deno.stderr, `count_results: --deno-exit-code needs a number\n${USAGE}\n`);
      return 2;
    }
    denoExit = Number(value);
  }
  if (files.length === 0) {
    write(Deno.stderr, `count_results: no report given\n${USAGE}\n`);
    return 2;
  }

  const counts = emptyCounts();
  for (const file of files) {
    let xml: string;
    try {
      xml = await Deno.readTextFile(file);
    } catch (error) {
      const why = error instanceof Deno.errors.NotFound
        ? "missing (deno test stopped before writing it: type error or crash?)"
        : `unreadable: ${error instanceof Error ? error.message : String(error)}`;
      counts.problems.push(`${file}: ${why}`);
      counts.failed++;
      counts.failures.push(`${file}: ${why}`);
      continue;
    }
    countJUnit(xml, file, counts);
  }
  const ran = counts.passed + counts.failed - counts.problems.length;
  if (denoExit !== undefined && denoExit !== 0 && counts.failed === 0) {
    const why = `deno test exited ${denoExit} although no test case failed ` +
      "(an error outside any test: uncaught error in a test module or a timer, leak, crash)";
    counts.failed++;
    counts.failures.push(why);
  }

  if (counts.failures.length > 0) {
    write(Deno.stderr, `failed:\n${counts.failures.map((f) => `  ${f}\n`).join("")}`);
  }
  if (ran === 0) write(Deno.stderr, "count_results: no test ran\n");
  write(Deno.stdout, `${formatCounts(counts)}\n`);
  return counts.failed > 0 || ran === 0 ? 1 : 0;
}

if (import.meta.main) {
  Deno.exit(await run(Deno.args));
}
