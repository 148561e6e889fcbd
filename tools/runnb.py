#!/usr/bin/env python3
"""Execute a Jupyter notebook on the Deno kernel and write the executed copy next to it.

Usage: /usr/bin/python3 tools/runnb.py NOTEBOOK.ipynb [--grace S] [--timeout S] [--kernel NAME]
                                       [--out PATH | --save] [--stamp JSON] [--stop-on-error]

Why not nbclient / `jupyter execute`: the Deno kernel sometimes publishes outputs after `status: idle`, which
nbclient stops listening at, so outputs get dropped at random. This runner keeps draining iopub for a grace period
(default 0.5 s of quiet) after idle. The executed copy goes to --out (default runs/notebooks/NOTEBOOK.ipynb,
gitignored); --save writes it back into NOTEBOOK.ipynb instead, but only when every cell ran (a failed run goes to the
default --out path and the notebook is left as it was). --stamp merges a JSON object, plus the run's "seconds", into
the notebook's metadata.memtrain.

Prints one summary line (plus one line per failing cell) and exits 0 when every cell ran, 1 when a cell raised an
error (all cells still run unless --stop-on-error), 2 when the notebook or kernel could not be used.
"""
import argparse
import json
import os
import queue
import re
import sys
import time

import jupyter_client
import nbformat
from nbformat.v4 import output_from_msg

OUTPUT_TYPES = ("stream", "display_data", "execute_result", "error")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class KernelDied(Exception):
    """The kernel process exited while a cell was running."""


def parse_args(argv):
    p = argparse.ArgumentParser(description="Execute a notebook on the Deno kernel.")
    p.add_argument("notebook")
    p.add_argument("--grace", type=float, default=0.5, help="seconds of iopub quiet to wait for after idle")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per cell")
    p.add_argument("--kernel", help="kernel name (default: the notebook's kernelspec, else 'deno')")
    p.add_argument("--out", help="output path (default: runs/notebooks/NOTEBOOK.ipynb)")
    p.add_argument("--save", action="store_true", help="write the outputs back into NOTEBOOK when every cell ran")
    p.add_argument("--stamp", help="JSON object merged (with the run's seconds) into metadata.memtrain")
    p.add_argument("--stop-on-error", action="store_true", help="skip the remaining cells after an error")
    return p.parse_args(argv)


def next_msg(get, km, deadline):
    """Next message from `get`, polling so a dead kernel or the deadline is noticed; None at the deadline."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            return get(timeout=min(1.0, left))
        except queue.Empty:
            if not km.is_alive():
                raise KernelDied()


def add_output(outputs, msg):
    """Append an output, merging consecutive stream chunks of the same stream; honour clear_output."""
    kind = msg["msg_type"]
    if kind == "clear_output":
        outputs.clear()
        return
    if kind not in OUTPUT_TYPES:
        return
    out = output_from_msg(msg)
    if kind == "stream" and outputs and outputs[-1].get("output_type") == "stream" and outputs[-1].name == out.name:
        outputs[-1].text += out.text
    else:
        outputs.append(out)


def run_cell(kc, km, cell, grace, timeout):
    """Execute one cell; return (outputs, execution_count, error) with error = (ename, evalue) or None."""
    msg_id = kc.execute(cell.source, store_history=True, allow_stdin=False)
    outputs = []
    deadline = time.monotonic() + timeout
    idle = False
    while True:
        # After idle, wait until `grace` seconds pass without a message for this cell.
        limit = min(deadline, time.monotonic() + grace) if idle else deadline
        msg = next_msg(kc.get_iopub_msg, km, limit)
        if msg is None:
            if not idle:
                raise TimeoutError(f"cell did not finish within {timeout:g} s")
            break
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            idle = True
        else:
            add_output(outputs, msg)
    reply = None
    while reply is None or reply["parent_header"].get("msg_id") != msg_id:
        reply = next_msg(kc.get_shell_msg, km, time.monotonic() + max(grace, 5.0))
        if reply is None:
            raise TimeoutError("no execute_reply from the kernel")
    content = reply["content"]
    error = None
    errors = [o for o in outputs if o.get("output_type") == "error"]
    if errors:
        error = (errors[0].ename, errors[0].evalue)
    elif content.get("status") == "error":
        error = (content.get("ename", "Error"), content.get("evalue", ""))
        outputs.append(nbformat.v4.new_output("error", ename=error[0], evalue=error[1],
                                              traceback=content.get("traceback", [])))
    return outputs, content.get("execution_count"), error


def main(argv):
    args = parse_args(argv)
    path = args.notebook
    scratch = os.path.join("runs", "notebooks", os.path.basename(path))
    if args.save and args.out:
        print(f"ERROR {path}: --save and --out exclude each other")
        return 2
    out_path = args.out or scratch
    try:
        stamp = json.loads(args.stamp) if args.stamp else None
    except ValueError as e:
        print(f"ERROR {path}: --stamp is not JSON: {e}")
        return 2
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as e:  # noqa: BLE001 - any read/parse problem is a usage error
        print(f"ERROR {path}: cannot read notebook: {e}")
        return 2
    kernel = args.kernel or nb.metadata.get("kernelspec", {}).get("name") or "deno"
    started = time.monotonic()
    try:
        km, kc = jupyter_client.manager.start_new_kernel(
            kernel_name=kernel, cwd=os.path.dirname(os.path.abspath(path)), startup_timeout=120)
    except Exception as e:  # noqa: BLE001 - no such kernelspec, kernel failed to start, ...
        print(f"ERROR {path}: cannot start kernel {kernel!r}: {type(e).__name__}: {e}")
        return 2
    failures = []  # (cell number, ename, evalue)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    n_outputs = 0
    try:
        for number, cell in enumerate(code_cells, start=1):
            cell.outputs = []
            cell.execution_count = None
            if not cell.source.strip():
                continue
            if failures and args.stop_on_error:
                continue
            try:
                cell.outputs, cell.execution_count, error = run_cell(kc, km, cell, args.grace, args.timeout)
            except KernelDied:
                failures.append((number, "KernelDied", "the kernel exited while running this cell"))
                break
            except TimeoutError as e:
                failures.append((number, "Timeout", str(e)))
                break
            n_outputs += len(cell.outputs)
            if error:
                failures.append((number, error[0], error[1]))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    took = time.monotonic() - started
    if stamp is not None:
        nb.metadata["memtrain"] = {**stamp, "seconds": round(took, 1)}
    if args.save and not failures:
        out_path = path
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    nbformat.write(nb, out_path)
    if failures:
        print(f"FAIL {path}: {len(failures)} of {len(code_cells)} cells failed "
              f"({n_outputs} outputs, {took:.1f}s) -> {out_path}")
        for number, ename, evalue in failures:
            first = ANSI.sub("", str(evalue)).strip().splitlines()
            print(f"  cell {number}: {ename}: {first[0] if first else ''}")
        return 1
    print(f"PASS {path}: {len(code_cells)} cells, {n_outputs} outputs ({took:.1f}s) -> {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
