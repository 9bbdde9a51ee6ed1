import { test } from "node:test";
import assert from "node:assert/strict";
import { noLeak, RUNTIME } from "./_helpers.ts";
import { socketPair } from "../mod.ts";

test(`a socket pair carries bytes and an fd (${RUNTIME})`, async () => {
  await noLeak(() => {
    const [a, b] = socketPair();
    a.sendSync(new Uint8Array([7]), [a.fd]);
    const r = b.receiveSync(new Uint8Array(4));
    assert.equal(r.bytes, 1);
    assert.equal(r.fds.length, 1);
    for (const fd of r.fds) fd.close();
    a.close();
    b.close();
  });
});
