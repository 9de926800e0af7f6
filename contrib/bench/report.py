#!/usr/bin/python3
"""Turns contrib/bench/run.sh's raw measurements into the report.

  report.py syscalls STRACE_A STRACE_B TRANSACTIONS WHO
      difference of two `strace -c -f` summaries, per transaction, as a
      line of extra.csv
  report.py report DIR
      reads DIR/raw.csv, DIR/extra.csv, DIR/env.txt; writes DIR/results.md,
      DIR/results.csv, DIR/chart.gp and its data files
"""
import csv
import os
import statistics
import sys

WHO = ["direct", "pgbouncer", "pgsift", "pgsift_off"]
LABEL = {"direct": "direct", "pgbouncer": "PgBouncer", "pgsift": "pgsift", "pgsift_off": "pgsift analyzer=off"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def strace_counts(path):
    calls, errors = {}, {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 5 or not parts[0].replace(".", "").isdigit() or parts[-1] == "total":
                continue
            calls[parts[-1]] = int(parts[3])
            errors[parts[-1]] = int(parts[4]) if len(parts) == 6 else 0
    return calls, errors


def syscalls(a, b, ntx, who):
    ca, ea = strace_counts(a)
    cb, eb = strace_counts(b)
    per = {k: (cb.get(k, 0) - ca.get(k, 0)) / ntx for k in set(ca) | set(cb)}
    err = {k: (eb.get(k, 0) - ea.get(k, 0)) / ntx for k in per}
    total = sum(per.values())
    parts = []
    for k in sorted(per, key=lambda k: -per[k]):
        if per[k] >= 0.05:
            e = " (%.2f failed)" % err[k] if err[k] >= 0.05 else ""
            parts.append("%s %.2f%s" % (k, per[k], e))
    print("syscalls_per_tx,%s,%.2f,%s" % (who, total, "; ".join(parts)))


def fmt(v, digits=None):
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if digits is None:
        digits = 0 if abs(v) >= 100 else 1 if abs(v) >= 10 else 2 if abs(v) >= 1 else 3
    return "%.*f" % (digits, v)


def ratio(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
        return a / b
    return None


def load_cells(path):
    cells = {}
    order = []
    with open(path) as f:
        for row in csv.DictReader(f):
            key = (row["workload"], row["mode"], int(row["clients"]))
            if key not in cells:
                cells[key] = {}
                order.append(key)
            cells[key].setdefault(row["contender"], []).append(row)
    return order, cells


def summarize(rows):
    """Median tps/p50/p99 over the rounds, CPU per transaction over all of
    them (sum of ticks over sum of transactions: ticks are 10 ms)."""
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        return {"status": "FAIL", "error": next((r["error"] for r in failed if r["error"]), "pgbench failed")}
    num = lambda k: [float(r[k]) for r in rows if r[k] not in ("", None)]
    s = {"status": "ok"}
    for k in ("tps", "p50_us", "p99_us"):
        v = num(k)
        s[k] = statistics.median(v) if v else None
    txns, ticks = sum(num("txns")), sum(num("cpu_ticks"))
    s["cpu_us"] = ticks / CLK_TCK * 1e6 / txns if txns and ticks else None
    return s


def wl_name(w, m):
    return ("-S" if w == "S" else "TPC-B") + " " + m


def report(d):
    order, cells = load_cells(os.path.join(d, "raw.csv"))
    extra = list(csv.DictReader(open(os.path.join(d, "extra.csv"))))
    env = open(os.path.join(d, "env.txt")).read().strip().splitlines()
    summ = {k: {who: summarize(rows) for who, rows in cells[k].items()} for k in order}

    table = []  # (workload, clients, metric, {who: value}, lower_is_better)
    failures = []
    for k in order:
        w, m, c = k
        for metric, field, scale in (("tps", "tps", 1), ("p50 ms", "p50_us", 1e-3), ("p99 ms", "p99_us", 1e-3),
                                     ("CPU µs/tx", "cpu_us", 1)):
            vals = {}
            for who, s in summ[k].items():
                if s["status"] != "ok":
                    vals[who] = "FAIL"
                elif s.get(field) is not None:
                    vals[who] = s[field] * scale
            table.append((wl_name(w, m), c, metric, vals))
        for who, s in summ[k].items():
            if s["status"] != "ok":
                failures.append("%s, %d clients, %s: %s" % (wl_name(w, m), c, LABEL[who], s["error"]))
    ex = {}
    for row in extra:
        ex.setdefault(row["metric"], {})[row["contender"]] = row
    for metric, wl, c, label, conv in (
            ("rss_idle_kb", "idle clients", 10000, "RSS MB", lambda v: float(v) / 1024),
            ("connect_query_s", "connect + SELECT 1", 10000, "seconds", float),
            ("connect_cpu_us", "connect + SELECT 1", 10000, "CPU µs/client", float),
            ("syscalls_per_tx", "-S simple (strace)", 100, "syscalls/tx", float)):
        vals = {}
        for who, row in ex.get(metric, {}).items():
            if row["value"] == "FAIL":
                vals[who] = "FAIL"
                failures.append("%s, %s: %s" % (label, LABEL[who], row["note"]))
            elif row["value"]:
                vals[who] = conv(row["value"])
        if vals:
            table.append((wl, c, label, vals))

    md = ["# " + env[0][2:], ""] + ["- " + e for e in env[1:]] + [""]
    head = ["workload", "clients", "metric"] + [LABEL[w] for w in WHO] + ["pgsift/PgBouncer", "pgsift/direct"]
    md.append("| " + " | ".join(head) + " |")
    md.append("|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|")
    rows_csv = []
    for wl, c, metric, vals in table:
        r1, r2 = ratio(vals.get("pgsift"), vals.get("pgbouncer")), ratio(vals.get("pgsift"), vals.get("direct"))
        cells_ = [wl, "{:,}".format(c), metric] + [fmt(vals.get(w)) for w in WHO] + [fmt(r1, 2), fmt(r2, 2)]
        md.append("| " + " | ".join(cells_) + " |")
        rows_csv.append([wl, c, metric] + [fmt(vals.get(w), 4) if not isinstance(vals.get(w), str) else vals.get(w)
                                            for w in WHO] + [fmt(r1, 4), fmt(r2, 4)])
    md.append("")
    if failures:
        md.append("Failures:")
        md += ["- " + f for f in failures]
        md.append("")
    notes = [row for m_ in ("rss_idle_kb", "connect_query_s", "syscalls_per_tx") for row in ex.get(m_, {}).values()]
    md.append("Details of the 10,000-client and strace runs:")
    md += ["- %s %s: %s" % (row["metric"], LABEL[row["contender"]], row["note"]) for row in notes]
    md.append("")
    md += budget(summ, order, ex)
    open(os.path.join(d, "results.md"), "w").write("\n".join(md) + "\n")
    with open(os.path.join(d, "results.csv"), "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["workload", "clients", "metric"] + WHO + ["pgsift/pgbouncer", "pgsift/direct"])
        wr.writerows(rows_csv)
    chart(d, summ, order)


def budget(summ, order, ex):
    """The targets of issue 6, each as met / not met with the figures."""
    out = ["Budget (analyzer on, ratios from this run):"]

    def line(ok, text):
        out.append("- %s %s" % ("MET" if ok else "NOT MET", text))

    def get(k, who, f):
        s = summ[k].get(who)
        return None if not s or s["status"] != "ok" else s.get(f)

    tps = [(k, get(k, "pgsift", "tps"), get(k, "pgbouncer", "tps")) for k in order
           if k[1] in ("simple", "extended") and k[2] in (10, 100, 1000) and "pgbouncer" in summ[k]]
    rs = ["%s %d: %s" % (wl_name(*k[:2]), k[2], fmt(ratio(a, b), 2) if ratio(a, b) else "FAIL") for k, a, b in tps]
    if tps:
        line(all(ratio(a, b) and ratio(a, b) >= 1.0 for _, a, b in tps),
             "throughput >= PgBouncer (simple/extended, 10-1,000 clients): " + ", ".join(rs))
    prep = [k for k in order if k[1] == "prepared" and "pgsift" in summ[k]]
    if prep:
        bad = [k for k in prep if summ[k]["pgsift"]["status"] != "ok"]
        line(not bad, "prepared runs without error through pgsift: %d of %d cells ok" % (len(prep) - len(bad), len(prep)))
    cpu = [(k, ratio(get(k, "pgsift", "cpu_us"), get(k, "pgbouncer", "cpu_us"))) for k in order]
    cpu = [(k, r) for k, r in cpu if r]
    if cpu:
        line(all(r <= 0.8 for _, r in cpu), "pooler CPU/tx <= 0.8 x PgBouncer: " +
             ", ".join("%s %d: %.2f" % (wl_name(*k[:2]), k[2], r) for k, r in cpu))
    for k in order:
        if k[2] != 1:
            continue
        d, b, s = get(k, "direct", "p50_us"), get(k, "pgbouncer", "p50_us"), get(k, "pgsift", "p50_us")
        if None not in (d, b, s):
            line(s - d <= b - d, "added p50 latency at 1 client (%s): pgsift %+.0f µs, PgBouncer %+.0f µs"
                 % (wl_name(*k[:2]), s - d, b - d))
    rss = ex.get("rss_idle_kb", {})
    try:
        a, b = float(rss["pgsift"]["value"]), float(rss["pgbouncer"]["value"])
        line(a <= b, "memory with 10,000 idle clients <= PgBouncer: pgsift %.1f MB, PgBouncer %.1f MB (%.2f)"
             % (a / 1024, b / 1024, a / b))
    except (KeyError, ValueError):
        pass
    off = [(k, ratio(get(k, "pgsift", "cpu_us"), get(k, "pgsift_off", "cpu_us"))) for k in order]
    off = [(k, r) for k, r in off if r]
    if off:
        line(all(r <= 1.05 for _, r in off), "analyzer on/off CPU/tx <= 1.05: " +
             ", ".join("%s %d: %.2f" % (wl_name(*k[:2]), k[2], r) for k, r in off))
    sc = ex.get("syscalls_per_tx", {})
    if "pgsift" in sc and sc["pgsift"]["value"]:
        v = float(sc["pgsift"]["value"])
        pb = sc.get("pgbouncer", {}).get("value") or "?"
        line(v <= 4.5, "syscalls/tx (-S, 100 clients) <= 4.5: pgsift %.2f (PgBouncer %s)" % (v, pb))
    return out + [""]


def chart(d, summ, order):
    """Throughput and p99 against clients for the -S workloads measured at
    two or more client counts; one line per contender and mode."""
    series = []
    for w, m in sorted({(k[0], k[1]) for k in order if k[0] == "S" and k[1] in ("simple", "extended")}):
        ks = sorted(k for k in order if k[:2] == (w, m))
        if len(ks) < 2:
            continue
        for who in WHO:
            pts = []
            for k in ks:
                s = summ[k].get(who)
                if s and s["status"] == "ok" and s["tps"]:
                    pts.append((k[2], s["tps"], (s["p99_us"] or 0) / 1000))
            if len(pts) >= 2:
                fn = "chart-%s-%s-%s.dat" % (w, m, who)
                with open(os.path.join(d, fn), "w") as f:
                    f.writelines("%d %.1f %.3f\n" % p for p in pts)
                series.append((fn, "%s (%s)" % (LABEL[who], wl_name(w, m)), WHO.index(who) + 1, m))
    dash = {"simple": 1, "extended": 2, "prepared": 3}
    gp = ['set terminal pngcairo size 1200,560 font ",10"', 'set output "chart.png"',
          'set multiplot layout 1,2 title "pgsift vs PgBouncer vs direct (%s)"' % os.path.basename(d),
          "set logscale x", "set xlabel 'clients'", "set grid", "set key below", "set xtics (1,10,100,1000)",
          "set ylabel 'transactions/s (median)'", "set yrange [0:*]"]
    plot = lambda col: "plot " + ", ".join("'%s' using 1:%d with linespoints lc %d dt %d pt 7 title '%s'"
                                             % (fn, col, lc, dash.get(m, 1), t) for fn, t, lc, m in series)
    if series:
        gp += [plot(2), "set ylabel 'p99 latency, ms (median)'", "set logscale y", "set yrange [*:*]", plot(3)]
    gp.append("unset multiplot")
    open(os.path.join(d, "chart.gp"), "w").write("\n".join(gp) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "syscalls":
        syscalls(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    elif len(sys.argv) == 3 and sys.argv[1] == "report":
        report(sys.argv[2])
    else:
        sys.exit(__doc__)
