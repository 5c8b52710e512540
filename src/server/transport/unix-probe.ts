// Does anything accept connections on a UNIX socket path? Used before replacing a stale socket file.
import net from 'node:net';

export function unixSocketAccepts(path: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ path });
    const finish = (accepts: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(accepts);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}
