#!/usr/bin/python3
"""Sums a Chrome trace (nntrain/nneval/nnpredict --profile, or PyTorch's
profiler.export_chrome_trace) into where the time went, per step.

Usage: profile_summary.py TRACE STEPS [--top N] [--skip-ms MS] [--after-first K]

Prints two markdown tables: the spans (the names that are not operators:
our layers, input, loss, backward, optimizer...; inclusive time) and the
operators' self time (time in an operator minus the operators inside it),
both in ms per step, with their share of the traced time. Events that start
in the first MS milliseconds of the trace are left out (start-up, warm-up),
or, with --after-first K, before the (K+1)-th "input" span (an nn tool's
trace: the first K batches).
"""
import argparse
import collections
import json
import signal


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # | head: no traceback
    p = argparse.ArgumentParser()
    p.add_argument("trace")
    p.add_argument("steps", type=int)
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--skip-ms", type=float, default=0)
    p.add_argument("--after-first", type=int, default=0)
    a = p.parse_args()
    with open(a.trace) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    events = [e for e in events if e.get("ph") == "X" and "dur" in e]
    t0 = min(float(e["ts"]) for e in events) + a.skip_ms * 1000
    if a.after_first:
        starts = sorted(float(e["ts"]) for e in events if e["name"] == "input")
        if len(starts) <= a.after_first:
            raise SystemExit("profile_summary: the trace has %d batches, not more than %d" % (len(starts), a.after_first))
        t0 = starts[a.after_first]
    events = [e for e in events if float(e["ts"]) >= t0]
    by_thread = collections.defaultdict(list)
    for e in events:
        by_thread[(e.get("pid"), e.get("tid"))].append(e)
    spans, self_time = collections.Counter(), collections.Counter()
    total = 0.0
    for evs in by_thread.values():
        # Longest first at equal starts, so that a parent precedes its children.
        evs.sort(key=lambda e: (float(e["ts"]), -float(e["dur"])))
        stack = []  # [end, name, time of children]
        def close(upto):
            while stack and stack[-1][0] <= upto:
                end, name, inner, dur = stack.pop()
                if is_op(name):
                    self_time[name] += dur - inner
        for e in evs:
            ts, dur, name = float(e["ts"]), float(e["dur"]), e["name"]
            close(ts)
            if not stack:
                total += dur
            elif is_op(name):
                # time of an operator counts against the innermost operator around it
                for frame in reversed(stack):
                    if is_op(frame[1]):
                        frame[2] += dur
                        break
            if not is_op(name):
                spans[name] += dur
            stack.append([ts + dur, name, 0.0, dur])
        close(float("inf"))
    per = lambda us: us / 1000 / a.steps
    print("| span | ms a step | share |")
    print("|---|---:|---:|")
    for name, us in spans.most_common():
        print(f"| {name} | {per(us):.2f} | {100 * us / total:.1f}% |")
    print()
    print("| operator (self time) | ms a step | share |")
    print("|---|---:|---:|")
    for name, us in self_time.most_common(a.top):
        print(f"| {name} | {per(us):.2f} | {100 * us / total:.1f}% |")
    print(f"| all operators | {per(sum(self_time.values())):.2f} | {100 * sum(self_time.values()) / total:.1f}% |")
    print()
    print(f"Traced: {per(total):.2f} ms a step over {a.steps} steps.")


def is_op(name):
    return "::" in name or name.endswith("Backward0") or name.endswith("Backward1")


if __name__ == "__main__":
    main()
