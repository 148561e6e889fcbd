import assert from "node:assert/strict";
import { chunkRanges } from "../../lib/streambp/mod.ts";

Deno.test("chunkRanges() covers [0, t) in order with chunks of `size` rows, the last shorter", () => {
  for (const [t, size] of [[10, 3], [10, 1], [10, 10], [10, 5], [7, 100], [1, 1]]) {
    const r = chunkRanges(t, size);
    assert.equal(r[0].start, 0);
    assert.equal(r[r.length - 1].end, t);
    r.forEach((c, i) => {
      if (i > 0) assert.equal(c.start, r[i - 1].end);
      assert.equal(c.end - c.start, i < r.length - 1 ? size : t - size * (r.length - 1));
    });
    assert.equal(r.length, Math.ceil(t / size));
  }
});

Deno.test("chunkRanges() with maxScores: every chunk's rows × keys fit, and each chunk is as long as allowed", () => {
  for (const [t, size, cap] of [[4096, 256, 262144], [1000, 64, 5000], [50, 8, 64], [30, 30, 1]]) {
    const r = chunkRanges(t, size, cap);
    assert.equal(r[r.length - 1].end, t);
    for (const [i, c] of r.entries()) {
      const rows = c.end - c.start;
      if (i > 0) assert.equal(c.start, r[i - 1].end);
      assert.ok(rows >= 1 && rows <= size);
      assert.ok(rows === 1 || rows * c.end <= cap, `[${c.start}, ${c.end}): ${rows * c.end} > ${cap}`);
      // Maximal: one more row would break the cap, the size or the end of the sequence.
      if (c.end < t) assert.ok(rows === size || (rows + 1) * (c.end + 1) > cap, `[${c.start}, ${c.end}) could grow`);
    }
  }
  // Short sequences keep full chunks; the cap only bites once rows × keys would exceed it.
  assert.deepEqual(chunkRanges(1024, 256, 262144).map((c) => c.end - c.start), [256, 256, 256, 256]);
  assert.equal(chunkRanges(4096, 256, 262144).length, 35);
});
