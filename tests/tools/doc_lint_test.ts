import assert from "node:assert/strict";
import { isCrossPackageRef, parseDocLint } from "../../tools/doc_lint.ts";

const OUTPUT = `error[private-type-ref]: public type 'f' references private type 'Tensor'
   --> /repo/mod.ts:8:1
    |
  8 | export function f(x: tf.Tensor): tf.Tensor {
    | ^
    = hint: make the referenced type public or remove the reference
    |
115 | export declare namespace Tensor { }
    | - this is the referenced type
    |

error[private-type-ref]: public type 'g' references private type 'Hidden'
  --> /repo/mod.ts:14:1
   |
14 | export function g(h: Hidden): number { return h.a; }
   | ^
   |
12 | interface Hidden { a: number }
   | - this is the referenced type
   |

error[missing-jsdoc]: exported symbol is missing JSDoc documentation
 --> /repo/mod.ts:3:1
`;

Deno.test("doc:lint: only references to other packages' types are skipped", () => {
  const all = parseDocLint(OUTPUT);
  assert.deepEqual(all.map((d) => d.rule), ["private-type-ref", "private-type-ref", "missing-jsdoc"]);
  assert.equal(all[0].referenced, "export declare namespace Tensor { }");
  const sources = ["interface Hidden { a: number }\nexport function g(h: Hidden): number { return h.a; }"];
  assert.deepEqual(all.map((d) => isCrossPackageRef(d, sources)), [true, false, false]);
});
