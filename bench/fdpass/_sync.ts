// fdpass's sync loop, shared by sync.ts and sync_paired.ts: the same pairs
// as the floor's rawSyncLoop (bench/fdpass/_raw.ts) through sendSync() and
// receiveSync().
import type { UnixSocket } from "../../mod.ts";

/**
 * Each pair sends `size` bytes with `nfds` copies of `devnull` from `tx`,
 * then receives on `rx` until the bytes are back, closing the fds that came.
 * The returned function runs `pairs` pairs.
 */
export function fdpassSyncLoop(
  tx: UnixSocket,
  rx: UnixSocket,
  devnull: number,
  size: number,
  nfds: number,
): (pairs: number) => void {
  const data = new Uint8Array(size).fill(0x78);
  const buf = new Uint8Array(size);
  const fds: number[] = new Array(nfds).fill(devnull);
  const opts = { maxFds: nfds };
  return (pairs) => {
    for (let i = 0; i < pairs; i++) {
      tx.sendSync(data, fds);
      let got = 0;
      while (got < size) {
        const r = rx.receiveSync(got === 0 ? buf : buf.subarray(got), opts);
        for (const fd of r.fds) fd.close();
        if (r.eof) throw new Error("unexpected end of stream");
        got += r.bytes;
      }
    }
  };
}
