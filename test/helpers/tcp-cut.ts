// A TCP proxy on loopback that a test can cut and restore: a daemon given its address instead of
// Redis's is cut off from Redis while the rest of the cluster is not. Cut: every connection through
// it is destroyed and new ones are closed at once (the daemon's client sees its connection reset and
// retries with its backoff); restored: new connections go through again. Port 0, read back.
import net from 'node:net';

export interface TcpCut {
  readonly port: number;
  /** Destroys the connections through it and refuses new ones until restore(). */
  cut(): void;
  restore(): void;
  /** Idempotent. */
  close(): Promise<void>;
}

export async function startTcpCut(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpCut> {
  const pairs = new Set<net.Socket>();
  let isCut = false;
  const server = net.createServer((client) => {
    client.on('error', () => undefined);
    if (isCut) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => {
      upstream.destroy();
      pairs.delete(client);
      pairs.delete(upstream);
    });
    upstream.on('close', () => {
      client.destroy();
      pairs.delete(client);
      pairs.delete(upstream);
    });
    pairs.add(client);
    pairs.add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as net.AddressInfo;
  let closed: Promise<void> | null = null;
  return {
    port,
    cut() {
      isCut = true;
      for (const socket of pairs) socket.destroy();
      pairs.clear();
    },
    restore() {
      isCut = false;
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        isCut = true;
        for (const socket of pairs) socket.destroy();
        server.close(() => resolve());
      });
      return closed;
    },
  };
}
