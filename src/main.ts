/**
 * Entry point of the `cplauncher` executable.
 *
 * @module
 */
import { main } from "./cli/program.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
