/**
 * A TCP relay on 127.0.0.1 in front of the apiserver that counts the bytes each way. A
 * client given a kubeconfig pointing at the relay talks TLS to the apiserver through it
 * (the certificate names 127.0.0.1, the port does not matter), so what the relay counts is
 * what the apiserver sent that client, encrypted as on the wire.
 *
 * @module
 */

/** Byte counts of a relay so far. */
export interface ByteCounts {
  /** Bytes from the apiserver to the client. */
  readonly received: number;
  /** Bytes from the client to the apiserver. */
  readonly sent: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections still open. */
  readonly open: number;
}

/** A running relay. */
export interface ByteProxy {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** Counts since the relay started. */
  counts(): ByteCounts;
  /** A copy of `kubeconfig`'s text with the server pointed at the relay. */
  kubeconfig(text: string): string;
  /** Closes the listener and every relayed connection. */
  close(): Promise<void>;
}

/** Starts a relay to `target` (a `https://127.0.0.1:PORT` server URL). */
export function startByteProxy(target: string): ByteProxy {
  const url = new URL(target);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let received = 0;
  let sent = 0;
  let connections = 0;
  const live = new Set<Deno.Conn>();
  const pumps: Promise<void>[] = [];
  const pump = async (from: Deno.Conn, to: Deno.Conn, add: (n: number) => void) => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await from.read(buffer);
        if (n === null) break;
        add(n);
        let written = 0;
        while (written < n) written += await to.write(buffer.subarray(written, n));
      }
    } catch {
      // Either side went away; the other pump ends the same way.
    }
    for (const conn of [from, to]) {
      if (live.delete(conn)) {
        try {
          conn.close();
        } catch { /* closed already */ }
      }
    }
  };
  const accepting = (async () => {
    for await (const client of listener) {
      connections++;
      live.add(client);
      try {
        const server = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
        live.add(server);
        pumps.push(pump(client, server, (n) => sent += n));
        pumps.push(pump(server, client, (n) => received += n));
      } catch {
        live.delete(client);
        client.close();
      }
    }
  })().catch(() => {});
  return {
    port,
    counts: () => ({ received, sent, connections, open: live.size / 2 }),
    kubeconfig: (text) => text.replace(/server: \S+/, `server: https://${url.hostname}:${port}`),
    async close() {
      listener.close();
      await accepting;
      for (const conn of live) {
        try {
          conn.close();
        } catch { /* closed already */ }
      }
      live.clear();
      await Promise.all(pumps);
    },
  };
}
