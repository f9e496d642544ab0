/**
 * Free TCP port discovery for test servers on 127.0.0.1.
 *
 * Ports are drawn at random from 20000..32767, i.e. BELOW Linux's default ephemeral range
 * (32768..60999). Outgoing connections of the test run (clients, SDKs, s3rver on port 0) take
 * their local ports from the ephemeral range, so a port picked here cannot be stolen by them
 * between "found free" and "server bound it". Two jest workers may still pick the same port
 * in theory; callers that bind later (mariadbd) retry with a new port on EADDRINUSE.
 */
import net from 'node:net';

const RANGE_START = 20000;
const RANGE_END = 32767; // inclusive
const MAX_ATTEMPTS = 200;

/** Resolves with true when `port` can be bound on `host` right now. */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => {
      srv.close(() => resolve(true));
    });
  });
}

/** Returns a port that was free on `host` a moment ago (see the module comment for the race). */
export async function getFreePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < MAX_ATTEMPTS; i++) {
    const port = RANGE_START + Math.floor(Math.random() * (RANGE_END - RANGE_START + 1));
    if (await isPortFree(port, host)) return port;
  }
  throw new Error(`no free TCP port found on ${host} in ${RANGE_START}..${RANGE_END} after ${MAX_ATTEMPTS} attempts`);
}
