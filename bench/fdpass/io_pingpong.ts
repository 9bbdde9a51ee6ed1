// Async I/O on received-style descriptors (Bun and Deno): OwnedFd.write of
// 64 bytes, then OwnedFd.read until 64 are back, against the blocking C
// echo server bench/c/io_echo.c, over two FIFOs (the pipe path: readiness,
// then the call, never touching O_NONBLOCK) or one TCP connection (the
// socket path: MSG_DONTWAIT), as bench/c/io_client.c does blocking.
// Usage: <runtime> io_pingpong.ts fifo <request> <response> <warmup> <rounds>
//        <runtime> io_pingpong.ts tcp <port> <warmup> <rounds>
// Prints {"cpu_ns":N,"rtt_ns":[...]}.
import { openSync } from "node:fs";
import process from "node:process";
import { connectTcp, OwnedFd } from "../../mod.ts";

const args = (globalThis as { Deno?: { args: string[] } }).Deno?.args ??
  process.argv.slice(2);
let out: OwnedFd;
let into: OwnedFd;
let rest: string[];
if (args[0] === "fifo") {
  // O_RDWR never blocks in open(2) on a FIFO; node:fs gives the real number.
  out = new OwnedFd(openSync(args[1]!, "r+"));
  into = new OwnedFd(openSync(args[2]!, "r+"));
  rest = args.slice(3);
} else {
  out = into = connectTcp({ hostname: "127.0.0.1", port: Number(args[1]) });
  rest = args.slice(2);
}
const warm = Number(rest[0]);
const rounds = Number(rest[1]);
const payload = new Uint8Array(64).fill(0x70);
const buffer = new Uint8Array(64);

const roundTrip = async (): Promise<void> => {
  await out.write(payload);
  let got = 0;
  while (got < 64) {
    const n = await into.read(got === 0 ? buffer : buffer.subarray(got));
    if (n === 0) throw new Error("the echo server closed");
    got += n;
  }
};

for (let i = 0; i < warm; i++) await roundTrip();
const rtt = new Array<number>(rounds);
const cpu0 = process.cpuUsage();
for (let i = 0; i < rounds; i++) {
  const t0 = performance.now();
  await roundTrip();
  rtt[i] = Math.round((performance.now() - t0) * 1e6);
}
const cpu = process.cpuUsage(cpu0);
out.close();
if (into !== out) into.close();
console.log(
  JSON.stringify({ cpu_ns: (cpu.user + cpu.system) * 1000, rtt_ns: rtt }),
);
