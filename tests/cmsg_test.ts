/**
 * parseControl() on hand-built control buffers, for every profile. The wire
 * format used to build them is written out here from semantics.md §1.2-§1.6
 * (not taken from the profiles), and the checks are CPython's
 * (`sock_recvmsg_guts`, semantics.md §4): a header must fit, `cmsg_len` must
 * cover a header, data is clamped to `msg_controllen`.
 *
 * The contract (platform/cmsg.ts): parseControl never throws; it sets
 * `malformed` when a `cmsg_len` is below the header size or runs past
 * `msg_controllen`, or a descriptor is negative, and still returns every fd it
 * could read so that the caller can close them.
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  encodeRights,
  parseControl,
  type ParsedControl,
  type PlatformLayout,
  PLATFORMS,
} from "../platform/mod.ts";

type Family = "linux" | "darwin" | "freebsd";

interface Wire {
  /** Bytes of cmsg_len. */
  readonly lenSize: 4 | 8;
  /** sizeof(struct cmsghdr). */
  readonly header: number;
  /** CMSG_DATA(cmsg) - cmsg. */
  readonly data: number;
  /** CMSG_ALIGN rounds to this. */
  readonly align: number;
  readonly SOL_SOCKET: number;
  readonly SCM_RIGHTS: number;
}

// semantics.md §1.2 (Linux, glibc = musl bytes), §1.4 (macOS), §1.5 (FreeBSD), §2.
const WIRE: Record<Family, Wire> = {
  linux: {
    lenSize: 8,
    header: 16,
    data: 16,
    align: 8,
    SOL_SOCKET: 1,
    SCM_RIGHTS: 1,
  },
  darwin: {
    lenSize: 4,
    header: 12,
    data: 12,
    align: 4,
    SOL_SOCKET: 0xffff,
    SCM_RIGHTS: 1,
  },
  freebsd: {
    lenSize: 4,
    header: 12,
    data: 16,
    align: 8,
    SOL_SOCKET: 0xffff,
    SCM_RIGHTS: 1,
  },
};

/** Linux SCM_CREDENTIALS (§2): struct ucred {pid, uid, gid}, 12 bytes. */
const SCM_CREDENTIALS = 2;
/** FreeBSD and macOS define SCM_CREDS = 3 (struct cmsgcred); fdpass ignores it. */
const SCM_CREDS = 3;

interface MessageOptions {
  /** cmsg_len to write instead of CMSG_LEN(payload). */
  readonly cmsgLen?: number;
  /** The high 32 bits of a 64-bit cmsg_len (Linux). */
  readonly high?: number;
  /** Skip the alignment padding after this message. */
  readonly unpadded?: boolean;
}

/** Appends control messages the way a kernel lays them out. */
class Control {
  readonly #wire: Wire;
  readonly #bytes: number[] = [];

  constructor(wire: Wire) {
    this.#wire = wire;
  }

  get length(): number {
    return this.#bytes.length;
  }

  message(
    level: number,
    type: number,
    payload: Uint8Array,
    options: MessageOptions = {},
  ): this {
    const w = this.#wire;
    const start = this.#bytes.length;
    const length = options.cmsgLen ?? w.data + payload.length;
    this.#u32(length);
    if (w.lenSize === 8) this.#u32(options.high ?? 0);
    this.#i32(level);
    this.#i32(type);
    while (this.#bytes.length < start + w.data) this.#bytes.push(0);
    this.#bytes.push(...payload);
    if (!options.unpadded) {
      while ((this.#bytes.length - start) % w.align !== 0) this.#bytes.push(0);
    }
    return this;
  }

  rights(fds: readonly number[], options: MessageOptions = {}): this {
    return this.message(
      this.#wire.SOL_SOCKET,
      this.#wire.SCM_RIGHTS,
      ints(fds),
      options,
    );
  }

  raw(bytes: readonly number[]): this {
    this.#bytes.push(...bytes);
    return this;
  }

  build(): Uint8Array {
    return Uint8Array.from(this.#bytes);
  }

  #u32(value: number): void {
    this.#bytes.push(
      value & 0xff,
      (value >>> 8) & 0xff,
      (value >>> 16) & 0xff,
      (value >>> 24) & 0xff,
    );
  }

  #i32(value: number): void {
    this.#u32(value >>> 0);
  }
}

/** Little-endian int32 words. */
function ints(values: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(4 * values.length);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setInt32(4 * i, v, true));
  return bytes;
}

function hex(text: string): Uint8Array {
  const pairs = text.match(/[0-9a-f]{2}/gi) ?? [];
  return Uint8Array.from(pairs, (pair) => parseInt(pair, 16));
}

function fresh(): ParsedControl {
  return { fds: [], credentials: null, malformed: false };
}

/** Parses the first `length` bytes of `bytes`, starting at `offset`. */
function parse(
  layout: PlatformLayout,
  bytes: Uint8Array,
  length: number = bytes.length,
  offset = 0,
): ParsedControl {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return parseControl(view, offset, length, layout, fresh());
}

for (const layout of PLATFORMS) {
  const family: Family = layout.os;
  const w = WIRE[family];
  const control = (): Control => new Control(w);
  const linux = family === "linux";

  describe(`parseControl() on ${layout.name}`, () => {
    test("reads a literal two-message buffer byte by byte", () => {
      // Two SCM_RIGHTS messages with one fd each, CMSG_SPACE(4) apart:
      // 24 bytes on Linux and FreeBSD, 16 on macOS (§1.6).
      const literal: Record<Family, string> = {
        linux: `14 00 00 00 00 00 00 00 | 01 00 00 00 | 01 00 00 00
                07 00 00 00 | 00 00 00 00
                14 00 00 00 00 00 00 00 | 01 00 00 00 | 01 00 00 00
                08 00 00 00 | 00 00 00 00`,
        darwin: `10 00 00 00 | ff ff 00 00 | 01 00 00 00 | 07 00 00 00
                 10 00 00 00 | ff ff 00 00 | 01 00 00 00 | 08 00 00 00`,
        freebsd: `14 00 00 00 | ff ff 00 00 | 01 00 00 00 | 00 00 00 00
                  07 00 00 00 | 00 00 00 00
                  14 00 00 00 | ff ff 00 00 | 01 00 00 00 | 00 00 00 00
                  08 00 00 00 | 00 00 00 00`,
      };
      const bytes = hex(literal[family]);
      assert.deepEqual(parse(layout, bytes), {
        fds: [7, 8],
        credentials: null,
        malformed: false,
      });
      // msg_controllen may end at CMSG_LEN of the last message, before its padding.
      const end = bytes.length - (family === "darwin" ? 0 : 4);
      assert.deepEqual(parse(layout, bytes, end).fds, [7, 8]);
    });

    test("returns the fds of one SCM_RIGHTS message in order", () => {
      const bytes = control().rights([5, 6, 7]).build();
      const result = parse(layout, bytes);
      assert.deepEqual(result.fds, [5, 6, 7]);
      assert.equal(result.malformed, false);
      assert.equal(result.credentials, null);
    });

    test("returns the result object it was given", () => {
      const bytes = control().rights([5]).build();
      const result = fresh();
      const view = new DataView(bytes.buffer);
      assert.equal(
        parseControl(view, 0, bytes.length, layout, result),
        result,
      );
      assert.deepEqual(result.fds, [5]);
    });

    test("collects the fds of every SCM_RIGHTS message, in order", () => {
      const bytes = control()
        .rights([3])
        .rights([4, 5])
        .rights([])
        .rights([6, 0, 2147483647])
        .build();
      const result = parse(layout, bytes);
      assert.deepEqual(result.fds, [3, 4, 5, 6, 0, 2147483647]);
      assert.equal(result.malformed, false);
    });

    test("round-trips encodeRights() for 1 to 253 fds", () => {
      for (const n of [1, 2, 3, 32, 253]) {
        const fds = Array.from({ length: n }, (_, i) => 3 + 7 * i);
        const bytes = new Uint8Array(2200);
        const view = new DataView(bytes.buffer);
        const first = encodeRights(view, 0, fds, layout);
        const second = encodeRights(view, first, [n], layout);
        const result = parseControl(view, 0, first + second, layout, fresh());
        assert.deepEqual(result.fds, [...fds, n], `${n} fds`);
        assert.equal(result.malformed, false);
      }
    });

    if (linux) {
      test("reads SCM_CREDENTIALS next to SCM_RIGHTS, in either order", () => {
        // pid is an int, uid and gid unsigned (§2: struct ucred).
        const ucred = ints([4242, -2, 100]);
        for (
          const bytes of [
            control().message(1, SCM_CREDENTIALS, ucred).rights([9, 10])
              .build(),
            control().rights([9, 10]).message(1, SCM_CREDENTIALS, ucred)
              .build(),
          ]
        ) {
          assert.deepEqual(parse(layout, bytes), {
            fds: [9, 10],
            credentials: { pid: 4242, uid: 4294967294, gid: 100 },
            malformed: false,
          });
        }
      });

      test("keeps the last SCM_CREDENTIALS and ignores one shorter than struct ucred", () => {
        const bytes = control()
          .message(1, SCM_CREDENTIALS, ints([1, 2, 3]))
          .message(1, SCM_CREDENTIALS, ints([4, 5, 6]))
          .message(1, SCM_CREDENTIALS, ints([7, 8]))
          .build();
        const result = parse(layout, bytes);
        assert.deepEqual(result.credentials, { pid: 4, uid: 5, gid: 6 });
        assert.equal(result.malformed, false);
      });
    } else {
      test("skips SCM_CREDS and type 2: only Linux has SCM_CREDENTIALS", () => {
        const bytes = control()
          .message(w.SOL_SOCKET, SCM_CREDS, ints([1, 2, 3, 4, 5, 6, 7]))
          .message(w.SOL_SOCKET, SCM_CREDENTIALS, ints([1, 2, 3]))
          .rights([11])
          .build();
        assert.deepEqual(parse(layout, bytes), {
          fds: [11],
          credentials: null,
          malformed: false,
        });
      });
    }

    test("skips unknown levels and types, including the other OS's SOL_SOCKET", () => {
      const other = linux ? 0xffff : 1;
      const bytes = control()
        .message(0, 1, ints([101])) // IPPROTO_IP
        .message(41, 1, ints([102, 103])) // IPPROTO_IPV6
        .message(other, 1, ints([104])) // SCM_RIGHTS at the other OS's level
        .message(-1, 1, ints([105]))
        .message(0x7fffffff, 0x7fffffff, ints([106]))
        .message(w.SOL_SOCKET, 99, ints([107]))
        .message(w.SOL_SOCKET, 0, ints([108]))
        // SCM_SECURITY and SCM_PIDFD (Linux) are not SCM_RIGHTS either.
        .message(w.SOL_SOCKET, 4, ints([109]))
        .message(w.SOL_SOCKET, -1, ints([110]))
        .rights([12])
        .message(6, 1, new Uint8Array(37)) // TCP level, odd payload
        .rights([13])
        .build();
      assert.deepEqual(parse(layout, bytes), {
        fds: [12, 13],
        credentials: null,
        malformed: false,
      });
    });

    test("ignores fewer trailing bytes than a header, as the kernel's CMSG_NXTHDR does", () => {
      for (let length = 0; length < w.header; length++) {
        const garbage = new Uint8Array(length).fill(0x01);
        assert.deepEqual(parse(layout, garbage), fresh(), `${length} bytes`);
      }
      const bytes = control().rights([3]).raw([0x10, 0, 0, 0, 0, 0, 0]).build();
      assert.deepEqual(parse(layout, bytes), {
        fds: [3],
        credentials: null,
        malformed: false,
      });
    });

    test("stops at a cmsg_len below the header size, keeping the fds before it", () => {
      for (const bad of [0, 1, 4, 8, 11, w.header - 1]) {
        const bytes = control()
          .rights([3])
          .message(w.SOL_SOCKET, w.SCM_RIGHTS, ints([4]), { cmsgLen: bad })
          .rights([5])
          .build();
        const result = parse(layout, bytes);
        assert.deepEqual(result.fds, [3], `cmsg_len ${bad}`);
        assert.equal(result.malformed, true, `cmsg_len ${bad}`);
      }
    });

    test("clamps a cmsg_len past msg_controllen to the buffer and reports malformed", () => {
      // 4 fds announced, msg_controllen ends in the middle of the third.
      const bytes = control().rights([3, 4, 5, 6]).build();
      const cut = w.data + 2 * 4 + 2;
      const result = parse(layout, bytes, cut);
      assert.deepEqual(result.fds, [3, 4]);
      assert.equal(result.malformed, true);

      // cmsg_len = 0xffffffff over a buffer holding two fds.
      const huge = control()
        .rights([7, 8], { cmsgLen: 0xffffffff })
        .build();
      assert.deepEqual(parse(layout, huge), {
        fds: [7, 8],
        credentials: null,
        malformed: true,
      });
    });

    if (linux) {
      test("reads cmsg_len as 64 bits: a set high half is past any buffer", () => {
        const bytes = control().rights([7, 8], { high: 1 }).build();
        assert.deepEqual(parse(layout, bytes), {
          fds: [7, 8],
          credentials: null,
          malformed: true,
        });
        const top = control().rights([7], { high: 0x80000000 }).build();
        assert.equal(parse(layout, top).malformed, true);
      });
    } else {
      test("reads cmsg_len as 32 bits: cmsg_level follows it directly", () => {
        // Read as 64 bits, cmsg_len|level<<32 would be past the buffer.
        const bytes = control().rights([7, 8]).rights([9]).build();
        assert.deepEqual(parse(layout, bytes), {
          fds: [7, 8, 9],
          credentials: null,
          malformed: false,
        });
      });
    }

    test("skips a message with no payload without calling it malformed", () => {
      const lengths = family === "freebsd" ? [12, 13, 15, 16] : [w.header];
      for (const empty of lengths) {
        const bytes = control()
          .message(w.SOL_SOCKET, w.SCM_RIGHTS, new Uint8Array(0), {
            cmsgLen: empty,
          })
          .rights([3])
          .build();
        assert.deepEqual(parse(layout, bytes), {
          fds: [3],
          credentials: null,
          malformed: false,
        }, `cmsg_len ${empty}`);
      }
      let many = control();
      for (let i = 0; i < 100; i++) many = many.rights([]);
      assert.deepEqual(parse(layout, many.rights([4]).build()).fds, [4]);
    });

    test("ignores payload bytes that do not make a whole fd (§3.1: cmsg_len 22 is 1 fd)", () => {
      for (const extra of [1, 2, 3]) {
        // A ragged tail of 0x7f bytes: read as an fd it would be positive.
        const payload = new Uint8Array(8 + extra).fill(0x7f);
        payload.set(ints([3, 4]));
        const bytes = control()
          .message(w.SOL_SOCKET, w.SCM_RIGHTS, payload)
          .rights([5])
          .build();
        assert.deepEqual(parse(layout, bytes), {
          fds: [3, 4, 5],
          credentials: null,
          malformed: false,
        }, `${extra} extra bytes`);
      }
    });

    test("reports a negative fd as malformed and still returns the others", () => {
      const bytes = control().rights([3, -1, 4]).rights([-2147483648, 5])
        .build();
      assert.deepEqual(parse(layout, bytes), {
        fds: [3, 4, 5],
        credentials: null,
        malformed: true,
      });
    });

    test("reads only [offset, offset + length) of a larger buffer", () => {
      const before = control().rights([901]).build();
      const inside = control().rights([3, 4]).build();
      const after = control().rights([902]).build();
      const bytes = new Uint8Array(
        before.length + inside.length + after.length,
      );
      bytes.set(before);
      bytes.set(inside, before.length);
      bytes.set(after, before.length + inside.length);
      assert.deepEqual(
        parse(layout, bytes, inside.length, before.length),
        { fds: [3, 4], credentials: null, malformed: false },
      );
      // A cmsg_len that claims the neighbour's bytes gets only its own.
      const greedy = new Uint8Array(bytes);
      greedy.set(
        control().rights([3, 4], { cmsgLen: inside.length + after.length })
          .build(),
        before.length,
      );
      assert.deepEqual(
        parse(layout, greedy, inside.length, before.length),
        { fds: [3, 4], credentials: null, malformed: true },
      );
    });
  });
}
