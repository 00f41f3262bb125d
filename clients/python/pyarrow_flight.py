"""Write machine data to Fletch with plain Arrow Flight and query it back.

The flow of the seed's "database in 50 lines" client: build an Arrow table, DoPut it to a
path descriptor, then DoGet a JSON ticket holding SQL. Only pyarrow is needed.

    python3 clients/python/pyarrow_flight.py --host 127.0.0.1:8181 --database machines
"""

from __future__ import annotations

import json

import pyarrow.flight as flight

from machine_data import TABLE, common_args, machine_table

SUMMARY_SQL = f"""
SELECT machine_id, count(*) AS readings, avg(temperature) AS avg_temperature,
       max(load) AS max_load, min(time) AS first, max(time) AS last
FROM {TABLE} GROUP BY machine_id ORDER BY machine_id
"""


def main() -> None:
    args = common_args(__doc__.splitlines()[0]).parse_args()
    client = flight.FlightClient(f"grpc://{args.host}")
    # Bearer token on every call; with auth off no header is needed.
    headers = [(b"authorization", f"Bearer {args.token}".encode())] if args.token else []
    options = flight.FlightCallOptions(headers=headers, timeout=60)
    try:
        # Write: a path descriptor [database, table]; the table is created on first write.
        table = machine_table(args.minutes)
        descriptor = flight.FlightDescriptor.for_path(args.database, TABLE)
        writer, reader = client.do_put(descriptor, table.schema, options=options)
        writer.write_table(table, max_chunksize=10_000)
        writer.done_writing()
        ack = reader.read()  # {"rows": N} once the rows are durable in the WAL
        writer.close()
        written = json.loads(ack.to_pybytes()) if ack is not None else {}

        # Query: DoGet with a JSON ticket (the InfluxDB 3 form; {"sql", "table"} works too
        # and reads the default database).
        ticket = flight.Ticket(json.dumps(
            {"database": args.database, "sql_query": SUMMARY_SQL, "query_type": "sql"}))
        result = client.do_get(ticket, options=options).read_all()
    finally:
        client.close()

    rows = result.to_pylist()
    if args.json:
        for r in rows:
            r["first"], r["last"] = r["first"].isoformat(), r["last"].isoformat()
        print(json.dumps({"written": written.get("rows"), "summary": rows}))
        return
    print(f"wrote {written.get('rows')} rows to {args.database}.{TABLE}")
    print(result.to_pandas().to_string(index=False))


if __name__ == "__main__":
    main()
