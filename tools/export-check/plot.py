#!/usr/bin/env python3
"""Plots a demo capture exported to Parquet: setpoint, measured and output against the loop's
simulated time, failure evidence marked (the README's figure).

usage: plot.py run.parquet out.png [first_row rows]
Needs pyarrow and matplotlib.
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pyarrow.compute as pc
import pyarrow.parquet as pq

path, out = sys.argv[1], sys.argv[2]
first, rows = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else (0, 2000)
t = pq.read_table(path).slice(first, rows)
t0 = t["t_ns"][0].as_py()
ms = [(x - t0) / 1e6 for x in t["t_ns"].to_pylist()]
fig, ax = plt.subplots(figsize=(10, 4), dpi=110)
for name in ("setpoint", "measured", "output"):
    ax.plot(ms, t[name].to_pylist(), label=name, linewidth=1)
failed = pc.is_valid(t["evidence_kind"]).to_pylist()
fx = [m for m, f in zip(ms, failed) if f]
fy = [y for y, f in zip(t["measured"].to_pylist(), failed) if f]
ax.scatter(fx, fy, color="red", marker="x", zorder=3, label="failure evidence")
ax.set_xlabel(f"t_ns - {t0} (ms)")
ax.set_title(f"{path.rsplit('/', 1)[-1]}: rows {first}..{first + t.num_rows} (seq {t['seq'][0]}..{t['seq'][-1]})")
ax.legend(loc="upper right")
fig.tight_layout()
fig.savefig(out)
print(f"wrote {out}")
