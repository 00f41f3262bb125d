"""Downsample machine data to 1-minute bins with a view, and plot it to a PNG.

Writes machine data (Arrow over Flight DoPut), creates the view

    CREATE OR REPLACE VIEW machine_data_1m AS
      SELECT date_bin(INTERVAL '1 minute', time) AS time, machine_id,
             avg(temperature) AS temperature, max(load) AS max_load, count(*) AS readings
      FROM machine_data GROUP BY 1, 2

through the ADBC Flight SQL driver (a schema statement: it needs an admin token when auth
is on), queries it, and plots each machine's 1-minute mean temperature with matplotlib.

    python3 clients/python/plot_downsampled.py --host 127.0.0.1:8181 machine_1m.png
"""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pyarrow.flight as flight  # noqa: E402

from adbc_pandas_polars import connect  # noqa: E402
from machine_data import TABLE, common_args, machine_table  # noqa: E402

VIEW = f"{TABLE}_1m"
CREATE_VIEW = f"""CREATE OR REPLACE VIEW {VIEW} AS
  SELECT date_bin(INTERVAL '1 minute', time) AS time, machine_id,
         avg(temperature) AS temperature, max(load) AS max_load, count(*) AS readings
  FROM {TABLE} GROUP BY 1, 2"""


def write(host: str, token: str, database: str, minutes: int) -> None:
    client = flight.FlightClient(f"grpc://{host}")
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    try:
        table = machine_table(minutes)
        writer, _ = client.do_put(flight.FlightDescriptor.for_path(database, TABLE), table.schema,
                                  options=flight.FlightCallOptions(headers=headers, timeout=60))
        writer.write_table(table)
        writer.close()
    finally:
        client.close()


def main() -> None:
    p = common_args(__doc__.splitlines()[0])
    p.add_argument("output", nargs="?", default="machine_1m.png", help="PNG to write (default %(default)s)")
    args = p.parse_args()

    write(args.host, args.token, args.database, args.minutes)
    with connect(args.host, args.token, args.database) as conn, conn.cursor() as cur:
        cur.execute(CREATE_VIEW)
        cur.execute(f"SELECT time, machine_id, temperature, max_load, readings FROM {VIEW} "
                    f"ORDER BY machine_id, time")
        df = cur.fetch_df()
    df["machine_id"] = df["machine_id"].astype(str)

    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
    for machine, g in df.groupby("machine_id"):
        ax.plot(g["time"], g["temperature"], marker="o", label=machine)
    ax.set_title(f"{args.database}.{VIEW}: 1-minute mean temperature")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz="UTC"))
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel("temperature (°C)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(args.output, format="png")
    plt.close(fig)

    if args.json:
        df["time"] = df["time"].map(lambda t: t.isoformat())
        print(json.dumps({"png": args.output, "bins": df.to_dict(orient="records")}, default=int))
        return
    print(df.to_string(index=False))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
