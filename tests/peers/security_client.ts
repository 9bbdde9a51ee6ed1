/**
 * Connects to argv[2] (kind argv[3], default stream), waits for one byte,
 * sends one byte with a pipe's read end, then prints its own pid. Needs only
 * --allow-ffi under Deno.
 */
import process from "node:process";
import { connect, pipe, type SocketKind } from "../../mod.ts";
import { socketPath } from "./_args.ts";

const [path, kind = "stream"] = process.argv.slice(2);
using socket = connect(socketPath(path), { kind: kind as SocketKind });
socket.receiveSync(new Uint8Array(1));
const [r, w] = pipe();
socket.sendSync(new Uint8Array([7]), [r]);
r.close();
w.close();
console.log(process.pid);
