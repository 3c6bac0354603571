#!/usr/bin/env python3
"""Cuts perf's system-call trace of bench/roundtrip/run.sh into the hops of each round trip.

Usage: breakdown.py EVENTS CLIENT_TID MANAGER_TID WORKER_TID RUNNER_TID LATENCY_FILE

EVENTS is `perf script -F tid,time,event,trace` of sys_enter/sys_exit tracepoints. Each job
is found from the client's calls (send POST, receive 201, send GET, receive the result);
the other processes' calls between them mark the hops, in the order of the critical path
(the client's GET travels while the manager assigns the task). Prints the median of each
hop over every job in which all of them were found, in microseconds."""
import re
import statistics
import sys

LINE = re.compile(r"^\s*(\d+)\s+([\d.]+):\s+syscalls:sys_(enter|exit)_(\w+):\s*(.*)$")


def parse(path):
    """[(tid, t_us, 'enter'|'exit', call, fd or None, ret or None)], in time order."""
    out = []
    with open(path) as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            tid, t, kind, call, rest = int(m[1]), float(m[2]) * 1e6, m[3], m[4], m[5]
            fd = ret = None
            if kind == "enter":
                fm = re.search(r"fd: 0x([0-9a-f]+)", rest)
                fd = int(fm[1], 16) if fm else None
            else:
                v = int(rest.strip(), 16)
                ret = v - (1 << 64) if v >= 1 << 63 else v
            out.append((tid, t, kind, call, fd, ret))
    out.sort(key=lambda e: e[1])
    return out


def calls(events, tid):
    """The completed calls of one thread: (t_enter, t_exit, call, fd, ret)."""
    res, open_call = [], None
    for e in events:
        if e[0] != tid:
            continue
        if e[2] == "enter":
            open_call = e
        elif open_call and open_call[3] == e[3]:
            res.append((open_call[1], e[1], e[3], open_call[4], e[5]))
            open_call = None
    return res


def first(cs, after, pred, before=float("inf")):
    for c in cs:
        if c[0] >= after and c[0] < before and pred(c):
            return c
    return None


def last(cs, before, pred, after=0.0):
    found = None
    for c in cs:
        if c[0] >= before:
            break
        if c[0] >= after and pred(c):
            found = c
    return found


def main():
    path, client, manager, worker, runner, latency = sys.argv[1:7]
    ev = parse(path)
    cc, mc, wc, rc = (calls(ev, int(t)) for t in (client, manager, worker, runner))
    # The client's four calls per job: send, receive, send, receive (positive reads only);
    # the POST, with its body, is longer than the GET.
    seq = [c for c in cc if c[2] == "sendto" or (c[2] == "recvfrom" and c[4] > 0)]
    jobs, i = [], 0
    while i + 3 < len(seq):
        kinds = [c[2] for c in seq[i:i + 4]]
        if kinds == ["sendto", "recvfrom", "sendto", "recvfrom"] and seq[i][4] > seq[i + 2][4]:
            jobs.append(seq[i:i + 4])
            i += 4
        else:
            i += 1
    hops = {}
    order = []

    def add(name, v):
        if name not in hops:
            hops[name] = []
            order.append(name)
        hops[name].append(v)

    used = 0
    for post, created, get, result in jobs:
        ok = lambda c: c is not None
        m_post = first(mc, post[0], lambda c: c[2] == "read" and c[4] > 0, created[0])
        m_201 = last(mc, created[1], lambda c: c[2] == "write" and c[3] != 2)
        if not (ok(m_post) and ok(m_201)):
            continue
        api = m_201[3]
        r_res = last(rc, result[1], lambda c: c[2] == "write" and c[3] == 1, m_post[1])
        w_task = last(wc, r_res[0] if r_res else 0, lambda c: c[2] == "writev", m_post[1])
        if not (ok(r_res) and ok(w_task)):
            continue
        w_in = last(wc, w_task[0], lambda c: c[2] == "read" and c[4] > 0, m_post[1])
        m_exec = last(mc, w_in[0] if w_in else 0,
                      lambda c: c[2] == "write" and c[3] not in (2, api), m_post[1])
        w_done = first(wc, r_res[1], lambda c: c[2] == "write", result[1])
        m_rep = first(mc, w_done[1] if w_done else float("inf"),
                      lambda c: c[2] == "read" and c[3] != api and c[4] > 0, result[1])
        m_ans = last(mc, result[1], lambda c: c[2] == "write" and c[3] == api)
        if not all(ok(c) for c in (w_in, m_exec, w_done, m_rep, m_ans)):
            continue
        used += 1
        commit = lambda a, b: sum(c[1] - c[0] for c in mc if c[2] == "pwrite64" and a <= c[0] < b)
        add("client: POST /v1/jobs sent -> manager has read it", m_post[1] - post[0])
        add("manager: job stored and assigned (one commit) -> TasksExecute written",
            m_exec[0] - m_post[1])
        add("   of which the commit's writes (pwrite)", commit(m_post[1], m_exec[0]))
        add("link: manager -> worker (TasksExecute read)", w_in[1] - m_exec[0])
        add("worker: TasksExecute -> task written to the runner", w_task[0] - w_in[1])
        add("runner: task read, run, result written", r_res[1] - w_task[0])
        add("worker: result read -> TaskCompleted written", w_done[0] - r_res[1])
        add("link: worker -> manager (report read)", m_rep[1] - w_done[0])
        add("manager: report (record, commit, wake, result) -> answer written",
            m_ans[0] - m_rep[1])
        add("   of which the commit's writes (pwrite)  ", commit(m_rep[1], m_ans[0]))
        add("answer -> client has read it", result[1] - m_ans[0])
        add("total, as the client saw it", result[1] - post[0])
        add("(meanwhile: TasksExecute -> 201 written)", m_201[0] - m_exec[0])
        add("(meanwhile: 201 written -> client -> GET .../results?wait sent)",
            get[0] - m_201[0])
    with open(latency) as f:
        lat = sorted(float(x) for x in f if x.strip())
    print(f"{len(jobs)} jobs traced, {used} with every hop found; "
          f"client-timed median {statistics.median(lat) * 1000:.0f} us")
    print(f"{'hop':66} {'median us':>9} {'p10-p90':>11}")
    for name in order:
        v = sorted(hops[name])
        p10, p90 = v[len(v) // 10], v[(len(v) * 9) // 10]
        print(f"{name:66} {statistics.median(v):9.0f} {p10:5.0f}-{p90:<5.0f}")


if __name__ == "__main__":
    main()
