/**
 * fdpass: pass open file descriptors between processes over Unix domain
 * sockets (`SCM_RIGHTS`), in Bun and Deno, through their FFI. A TypeScript
 * port of crosvm's `ScmSocket`.
 *
 * Deno needs `--allow-ffi` and nothing else. Importing the module needs no
 * permission; libc is bound on first use.
 *
 * @example Pass a pipe to another socket and write through it
 * ```ts
 * import { pipe, socketPair } from "./mod.ts";
 *
 * const [parent, child] = socketPair();
 * const [readEnd, writeEnd] = pipe();
 * parent.sendSync(new TextEncoder().encode("take this"), [writeEnd]);
 * writeEnd.close(); // sending borrowed it; now only the receiver holds it
 *
 * const buffer = new Uint8Array(64);
 * const { bytes, fds } = child.receiveSync(buffer);
 * using received = fds[0]!;
 * received.writeSync(new TextEncoder().encode("hello through a passed fd"));
 *
 * const text = new Uint8Array(64);
 * const n = readEnd.readSync(text);
 * console.log(bytes, new TextDecoder().decode(text.subarray(0, n)));
 * for (const x of [parent, child, readEnd]) x.close();
 * ```
 *
 * @module
 */

export {
  bind,
  type BindOptions,
  connect,
  type ConnectOptions,
  type Credentials,
  type FdLike,
  type PeerCredentials,
  type ReceiveFdOptions,
  type ReceiveFdSyncOptions,
  type ReceiveOptions,
  type ReceiveResult,
  type ReceiveSyncOptions,
  SCM_MAX_FD,
  type SendOptions,
  type SendSyncOptions,
  type ShutdownHow,
  type SocketKind,
  socketPair,
  UnixSocket,
} from "./unix_socket.ts";
export {
  type AcceptOptions,
  listen,
  type ListenOptions,
  UnixListener,
} from "./unix_listener.ts";
export {
  type Dup2Options,
  type IoOptions,
  OwnedFd,
  pipe,
  type Seal,
  type SeekWhence,
} from "./owned_fd.ts";
export { memfd, type MemfdOptions } from "./memfd.ts";
export type { FileInfo, FileType } from "./platform/stat.ts";
export {
  Connection,
  connectTcp,
  type ConnectTcpOptions,
} from "./connection.ts";
export {
  listenTcp,
  type ListenTcpOptions,
  type StreamAcceptOptions,
  StreamListener,
} from "./stream_listener.ts";
export {
  type ListenFd,
  listenFds,
  type ListenFdsOptions,
} from "./listen_fds.ts";
export type {
  InetSocketAddress,
  SocketAddress,
  UnixSocketAddress,
} from "./platform/inet.ts";
export {
  Channel,
  type ChannelOptions,
  type ChannelReceiveOptions,
  type ChannelSendOptions,
  type Frame,
  FrameError,
  type FrameErrorCode,
} from "./channel.ts";
export {
  ClosedError,
  ControlMessageError,
  type ControlMessageErrorCode,
  FfiUnavailableError,
  SystemError,
  type SystemErrorOptions,
} from "./errors.ts";
