/** Polling helpers for tests that wait on something asynchronous to happen. */

/** Polls `condition` every 2 ms until it holds; throws naming `what` after `ms`. */
export async function until(condition: () => boolean, what: string, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
