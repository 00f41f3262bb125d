"""Query Fletch through the ADBC Flight SQL driver into pandas and polars DataFrames.

Writes machine data with ADBC's bulk ingest, then runs one aggregate in SQL (into pandas)
and fetches the raw rows once more to aggregate them in polars.

    python3 clients/python/adbc_pandas_polars.py --host 127.0.0.1:8181 --database machines
"""

from __future__ import annotations

import json

import adbc_driver_flightsql.dbapi as flightsql
import polars as pl
from adbc_driver_flightsql import DatabaseOptions

from machine_data import TABLE, common_args, machine_table


def connect(host: str, token: str, database: str):
    """A DB-API connection whose every call carries the token and the database header."""
    kwargs = {f"{DatabaseOptions.RPC_CALL_HEADER_PREFIX.value}database": database}
    if token:
        kwargs[DatabaseOptions.AUTHORIZATION_HEADER.value] = f"Bearer {token}"
    # Fletch offers no transactions: autocommit avoids the driver's warning about it.
    return flightsql.connect(f"grpc://{host}", db_kwargs=kwargs, autocommit=True)


def main() -> None:
    args = common_args(__doc__.splitlines()[0]).parse_args()
    with connect(args.host, args.token, args.database) as conn, conn.cursor() as cur:
        # Bulk ingest over Flight SQL (DoPut CommandStatementIngest); rows already there
        # with the same machine_id and time are replaced, so a rerun changes nothing.
        written = cur.adbc_ingest(TABLE, machine_table(args.minutes), mode="create_append",
                                  db_schema_name=args.database)

        # 1. SQL aggregate → pandas. Parameters bind to ? through a prepared statement.
        cur.execute(
            f"SELECT machine_id, avg(temperature) AS avg_temperature, avg(power) AS avg_power, "
            f"count(*) AS readings FROM {TABLE} WHERE load >= ? GROUP BY machine_id "
            f"ORDER BY machine_id", parameters=(50.0,))
        busy = cur.fetch_df()

        # 2. Raw rows → polars, aggregated on the client.
        cur.execute(f"SELECT time, machine_id, vibration FROM {TABLE}")
        raw = pl.from_arrow(cur.fetch_arrow_table())
    vib = (raw.group_by("machine_id")
              .agg(pl.col("vibration").max().alias("max_vibration"), pl.len().alias("readings"))
              .sort("machine_id"))

    if args.json:
        print(json.dumps({
            "written": written,
            "pandas": busy.to_dict(orient="records"),
            "polars": vib.with_columns(pl.col("machine_id").cast(pl.String)).to_dicts(),
        }, default=int))
        return
    print(f"ingested {written} rows into {args.database}.{TABLE}")
    print("pandas: readings with load >= 50%\n" + busy.to_string(index=False))
    print("polars: max vibration per machine\n" + str(vib))


if __name__ == "__main__":
    main()
