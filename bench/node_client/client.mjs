// Node 20 ping-pong client using the `usocket` addon: 64 B + 1 fd each way.
// Usage: node client.mjs <path> <warmup> <rounds>. Prints {"cpu_ns":N,"rtt_ns":[...]}
// (cpu_ns: user + system CPU time of the timed rounds).
import { createRequire } from "node:module";
import { closeSync, openSync } from "node:fs";

const require = createRequire(import.meta.url);
const { USocket } = require("usocket");

const [path, warmArg, roundsArg] = process.argv.slice(2);
const warm = Number(warmArg);
const rounds = Number(roundsArg);
const total = warm + rounds;
const devnull = openSync("/dev/null", "r+");
const payload = Buffer.alloc(64, "p");
const rtt = new Array(rounds);

const sock = new USocket();
let done = 0;
let t0 = 0n;
let cpu0 = process.cpuUsage();

function send() {
  t0 = process.hrtime.bigint();
  sock.write({ data: payload, fds: [devnull] });
}

sock.on("error", (err) => {
  console.error("usocket client:", err);
  process.exit(1);
});

function onReadable() {
  for (;;) {
    const msg = sock.read(64, 1);
    if (!msg) return;
    const t1 = process.hrtime.bigint();
    for (const fd of msg.fds) closeSync(fd);
    if (done >= warm) rtt[done - warm] = Number(t1 - t0);
    done++;
    if (done === warm) cpu0 = process.cpuUsage();
    if (done === total) {
      sock.destroy();
      const cpu = process.cpuUsage(cpu0);
      const cpu_ns = (cpu.user + cpu.system) * 1000;
      process.stdout.write(JSON.stringify({ cpu_ns, rtt_ns: rtt }) + "\n");
      return;
    }
    send();
  }
}

// Listen for "readable" only once connected: usocket asserts if a read is
// started before the native handle exists.
sock.connect(path, () => {
  sock.on("readable", onReadable);
  send();
});
