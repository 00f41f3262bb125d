"""Plot a downsampled view to a PNG: one line per series, over the view's time range.

Reads the view (or any table) through the ADBC Flight SQL driver and draws one column per
series tag with matplotlib. It only reads: make the view first, e.g. the README's

    CREATE MATERIALIZED VIEW machine_1m AS
      SELECT date_bin(INTERVAL '1 minute', time) AS time, machine_id,
             avg(temperature) AS temperature, max(load) AS load_max
      FROM machine_data GROUP BY 1, 2

then

    pip install matplotlib pandas adbc-driver-flightsql pyarrow
    python3 clients/python/plot_downsampled.py --database factory --view machine_1m /tmp/machine_1m.png

--json prints what was drawn (the series, the x range, every point) instead of the table.
"""

from __future__ import annotations

import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import adbc_driver_flightsql.dbapi as flightsql  # noqa: E402
from adbc_driver_flightsql import DatabaseOptions  # noqa: E402


def connect(host: str, token: str, database: str):
    """A DB-API connection whose calls carry the token and the database header."""
    kwargs = {f"{DatabaseOptions.RPC_CALL_HEADER_PREFIX.value}database": database}
    if token:
        kwargs[DatabaseOptions.AUTHORIZATION_HEADER.value] = f"Bearer {token}"
    return flightsql.connect(f"grpc://{host}", db_kwargs=kwargs, autocommit=True)


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    host = os.environ.get("FLETCH_HOST", "127.0.0.1:8181").split("://", 1)[-1]
    p.add_argument("--host", default=host, help="server host:port (env FLETCH_HOST, default %(default)s)")
    p.add_argument("--token", default=os.environ.get("FLETCH_TOKEN", ""),
                   help="a Fletch token, read is enough (env FLETCH_TOKEN); none for a --without-auth server")
    p.add_argument("--database", default="factory", help="database (default %(default)s)")
    p.add_argument("--view", default="machine_1m", help="view or table to plot (default %(default)s)")
    p.add_argument("--column", default="temperature", help="column to plot (default %(default)s)")
    p.add_argument("--series", default="machine_id", help="tag that tells the series apart (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print what was drawn as JSON only")
    p.add_argument("output", nargs="?", default="machine_1m.png", help="PNG to write (default %(default)s)")
    args = p.parse_args()

    sql = (f"SELECT time, {ident(args.series)} AS series, {ident(args.column)} AS value "
           f"FROM {ident(args.view)} ORDER BY series, time")
    with connect(args.host, args.token, args.database) as conn, conn.cursor() as cur:
        cur.execute(sql)
        df = cur.fetch_df()
    if df.empty:
        raise SystemExit(f"{args.database}.{args.view} has no rows to plot")
    df["series"] = df["series"].astype(str)

    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    series = []
    for name, g in df.groupby("series", sort=True):
        ax.plot(g["time"], g["value"], marker=".", linewidth=1.2, label=name)
        series.append(name)
    lo, hi = df["time"].min(), df["time"].max()
    span = hi - lo
    pad = max(span * 0.02, pd.Timedelta(seconds=30))
    ax.set_xlim(lo - pad, hi + pad)
    # Ticks that fit the range: minutes for a short view, days or months for a long one.
    locator = mdates.AutoDateLocator(tz="UTC")
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz="UTC"))
    ax.set_title(f"{args.database}.{args.view}: {args.column} per {args.series}")
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel(args.column)
    ax.grid(True, alpha=0.3)
    # Beside the plot, never over the data.
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    fig.tight_layout()
    fig.savefig(args.output, format="png")
    plt.close(fig)

    if args.json:
        print(json.dumps({
            "png": args.output, "series": series,
            "x_range": [lo.isoformat(), hi.isoformat()],
            "points": [{"time": t.isoformat(), "series": s, "value": v}
                       for t, s, v in zip(df["time"], df["series"], df["value"])],
        }))
        return
    print(f"{len(series)} series from {lo:%Y-%m-%d %H:%M} to {hi:%H:%M} UTC, "
          f"{len(df)} points: wrote {args.output}")


if __name__ == "__main__":
    main()
