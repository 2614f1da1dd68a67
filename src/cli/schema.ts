/**
 * `cplauncher schema`: print the JSON Schema of compartments.yaml.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { configJsonSchema } from "../config/mod.ts";
import type { CommandContext } from "./options.ts";

/** Installs `schema`. */
export function schemaCommand(program: Command, context: () => CommandContext): void {
  program.command("schema")
    .description("print the JSON Schema of compartments.yaml (for editor completion)")
    .action(() => {
      context().io.out(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    });
}
