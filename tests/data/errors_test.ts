import assert from "node:assert/strict";
import { DatasetNotFoundError } from "../../lib/data/errors.ts";

Deno.test("DatasetNotFoundError names what is missing and how to install it", () => {
  const cause = new Deno.errors.NotFound("no such file");
  const err = new DatasetNotFoundError("Fashion-MNIST", "/data/x.gz", {
    install: "sudo apt-get install dataset-fashion-mnist",
    cause,
  });
  assert.ok(err instanceof Error);
  assert.equal(err.name, "DatasetNotFoundError");
  assert.equal(
    err.message,
    "Cannot load Fashion-MNIST: /data/x.gz was not found; install it with: sudo apt-get install dataset-fashion-mnist",
  );
  assert.equal(err.dataset, "Fashion-MNIST");
  assert.equal(err.missing, "/data/x.gz");
  assert.equal(err.install, "sudo apt-get install dataset-fashion-mnist");
  assert.equal(err.cause, cause);
  assert.match(String(err), /^DatasetNotFoundError: Cannot load/);
});
