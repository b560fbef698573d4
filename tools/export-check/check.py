#!/usr/bin/env python3
"""Opens replaylog's MCAP and Parquet exports in independent readers and checks every value.

usage: check.py REFERENCE.jsonl FILE.mcap FILE.parquet [--time FIELD[:UNIT]]

REFERENCE.jsonl is `replaylog export CAPTURE --to jsonl` of the same capture: its header names
the layout, its lines the records (seq, epoch, timestamp_ns, lane, fields, evidence). The MCAP
file is read with Foxglove's `mcap` package, the Parquet file with `pyarrow` and with DuckDB (SQL
on the file, as an analyst would). Exit 0 when everything matches; a failed check raises.
"""

import json
import math
import sys

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from mcap.reader import make_reader

UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
ARROW = {
    "u8": pa.uint8(), "u16": pa.uint16(), "u32": pa.uint32(), "u64": pa.uint64(),
    "i8": pa.int8(), "i16": pa.int16(), "i32": pa.int32(), "i64": pa.int64(),
    "f32": pa.float32(), "f64": pa.float64(),
}


def same(a, b, ty):
    """Equal as values of the layout type `ty` (f32 compared at f32 precision, NaN as null)."""
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y, ty) for x, y in zip(a, b))
    if ty in ("f32", "f64"):
        nonfinite = {"NaN": math.nan, "inf": math.inf, "-inf": -math.inf}
        a, b = nonfinite.get(a, a) if isinstance(a, str) else a, nonfinite.get(b, b) if isinstance(b, str) else b
        if a is None or b is None or not math.isfinite(a) or not math.isfinite(b):
            return (a is None or (isinstance(a, float) and not math.isfinite(a))) and (
                b is None or (isinstance(b, float) and not math.isfinite(b)))
        if ty == "f32":
            return math.isclose(a, b, rel_tol=1e-7, abs_tol=1e-38)
        return a == b
    return a == b


def nest(fields):
    """`outer.inner` names as nested objects, as the MCAP messages carry them."""
    out = {}
    for name, value in fields.items():
        parts = name.split(".")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def flat(obj, prefix=""):
    for k, v in obj.items():
        if isinstance(v, dict):
            yield from flat(v, prefix + k + ".")
        else:
            yield prefix + k, v


def main():
    args = sys.argv[1:]
    time_field = None
    if "--time" in args:
        i = args.index("--time")
        time_field = args[i + 1]
        del args[i:i + 2]
    ref_path, mcap_path, parquet_path = args
    lines = [json.loads(l) for l in open(ref_path)]
    header, records = lines[0], lines[1:]
    assert header["type"] == "header", header
    layout = header["layout"]
    types = {f["name"]: f["type"] for f in layout["fields"]} if layout else {}
    n = len(records)
    failures = [r for r in records if r["evidence"]]
    print(f"reference: {n} records, {len(failures)} with evidence, layout {layout and layout['name']}")

    # ---- MCAP, with Foxglove's reader -------------------------------------------------------
    unit_field, unit = None, 1
    if time_field:
        unit_field, _, u = time_field.partition(":")
        unit = UNITS[u or "ns"]
    with open(mcap_path, "rb") as f:
        reader = make_reader(f)
        summary = reader.get_summary()
        assert summary is not None and summary.statistics is not None, "no summary section"
        stats = summary.statistics
        assert stats.message_count == n + len(failures), (stats.message_count, n, len(failures))
        assert summary.chunk_indexes, "no chunk index"
        assert all(c.compression == "zstd" for c in summary.chunk_indexes), "chunks not zstd"
        topics = {c.topic for c in summary.channels.values()}
        schemas = {s.name: s for s in summary.schemas.values()}
        assert all(s.encoding == "jsonschema" for s in schemas.values()), schemas
        assert "foxglove.Log" in schemas or not failures, schemas.keys()
        if layout:
            assert layout["name"] in schemas, (layout["name"], schemas.keys())
        meta = {m.name: m.metadata for m in reader.iter_metadata()}
        assert meta["replaylog"]["source"] == header["path"], meta
        want_topics = {f"/replaylog/{r['lane']}" for r in records if r["lane"]}
        assert want_topics <= topics, (want_topics, topics)
        got = []
        logs = []
        for schema, channel, message in reader.iter_messages(log_time_order=False):
            body = json.loads(message.data)
            if channel.topic == "/replaylog/failures":
                logs.append((message.log_time, body))
            else:
                got.append((channel.topic, message, body))
        assert len(got) == n, (len(got), n)
        by_key = {}
        for topic, message, body in got:
            by_key.setdefault(topic, []).append((message, body))
        cursor = {}
        for r in records:
            topic = f"/replaylog/{r['lane']}" if r["lane"] else None
            if topic is None:
                topic = next(t for t in by_key if t != "/replaylog/failures")
            i = cursor.get(topic, 0)
            cursor[topic] = i + 1
            message, body = by_key[topic][i]
            assert message.sequence == r["seq"] % 2**32, (message.sequence, r["seq"])
            if r["timestamp_ns"] is not None:
                want_time = r["timestamp_ns"]
            elif unit_field:
                want_time = max(r["fields"][unit_field], 0) * unit
            else:
                want_time = r["seq"]
            assert message.log_time == want_time and message.publish_time == want_time, (message, r)
            if layout:
                got_fields = dict(flat(body))
                assert got_fields.keys() == r["fields"].keys(), (got_fields.keys(), r["fields"].keys())
                for k, v in r["fields"].items():
                    ty = types[k]
                    if ty == "bytes":
                        continue
                    assert same(got_fields[k], v, ty), (r["seq"], k, got_fields[k], v)
            else:
                assert body == {"hex": r["hex"]}, (body, r["hex"])
        assert len(logs) == len(failures), (len(logs), len(failures))
        for (t, log), r in zip(sorted(logs, key=lambda x: x[0]), failures):
            assert log["level"] == 4 and r["evidence"]["message"] in log["message"], (log, r)
            assert log["timestamp"]["sec"] * 10**9 + log["timestamp"]["nsec"] == t, (log, t)
    print(f"mcap: {n} messages and {len(logs)} failure logs match; topics {sorted(topics)}")

    # ---- Parquet, with pyarrow ----------------------------------------------------------------
    table = pq.read_table(parquet_path)
    assert table.num_rows == n, (table.num_rows, n)
    schema = table.schema
    assert schema.field("seq").type == pa.uint64() and schema.field("epoch").type == pa.uint32(), schema
    kv = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}
    assert kv.get("replaylog.source") == header["path"], kv
    for name, ty in types.items():
        t = schema.field(name).type
        if ty == "bytes":
            assert pa.types.is_fixed_size_binary(t), (name, t)
        elif pa.types.is_fixed_size_list(t):
            assert t.value_type == ARROW[ty], (name, t)
        else:
            assert t == ARROW[ty], (name, t, ty)
    if "timestamp" in table.column_names:
        t = schema.field("timestamp").type
        assert pa.types.is_timestamp(t) and t.unit == "ns", t
        # Compared as exact nanoseconds: to_pydict() would make datetimes, which hold microseconds
        # (pyarrow refuses a nanosecond value that is not a whole microsecond unless pandas is
        # installed).
        at = table.column_names.index("timestamp")
        table = table.set_column(at, "timestamp", table.column(at).cast(pa.int64()))
    cols = table.to_pydict()
    for i, r in enumerate(records):
        assert cols["seq"][i] == r["seq"] and cols["epoch"][i] == r["epoch"], (i, r)
        if "timestamp" in cols:
            got_ns = cols["timestamp"][i]
            assert got_ns == r["timestamp_ns"], (i, got_ns, r["timestamp_ns"])
        if "lane" in cols:
            assert cols["lane"][i] == r["lane"], (i, cols["lane"][i], r["lane"])
        for k, v in (r["fields"] or {}).items():
            if types[k] == "bytes":
                assert cols[k][i].hex() == v, (i, k)
            else:
                assert same(cols[k][i], v, types[k]), (i, k, cols[k][i], v)
        ev = r["evidence"]
        assert cols["evidence_code"][i] == (ev and ev["code"]), (i, cols["evidence_code"][i], ev)
        assert cols["evidence_message"][i] == (ev and ev["message"]), (i, ev)
    print(f"pyarrow: {n} rows, {len(schema)} columns, every value matches")

    # ---- Parquet, with DuckDB's SQL -------------------------------------------------------------
    con = duckdb.connect()
    count, = con.execute("SELECT count(*) FROM read_parquet(?)", [parquet_path]).fetchone()
    assert count == n, (count, n)
    bad, = con.execute(
        "SELECT count(*) FROM read_parquet(?) WHERE evidence_kind IS NOT NULL", [parquet_path]).fetchone()
    assert bad == len(failures), (bad, len(failures))
    # A float field if there is one (the demo's `output`), else an integer field.
    numeric = [k for k, t in types.items() if t in ("u8", "u16", "u32", "i8", "i16", "i32", "i64")]
    numeric += [k for k, t in types.items() if t in ("f32", "f64")]
    if numeric and failures:
        k = numeric[-1]
        avg, = con.execute(
            f'SELECT avg("{k}") FROM read_parquet(?) WHERE evidence_kind IS NOT NULL', [parquet_path]).fetchone()
        want = sum(r["fields"][k] for r in failures) / len(failures)
        assert math.isclose(avg, want, rel_tol=1e-9), (avg, want)
        print(f"duckdb: {count} rows; avg({k}) over {bad} failure rows = {avg:.6g}, as computed from the jsonl")
    else:
        print(f"duckdb: {count} rows, {bad} with evidence")


if __name__ == "__main__":
    main()
