-- The 1-minute view the dashboard's "cpu_1m" panels read. Run once per database with
-- an admin token, e.g.
--   fletch query --database tsbs --token "$ADMIN_TOKEN" -- "$(cat clients/grafana/cpu_1m.sql)"
-- Its rows are stored and kept up to date as cpu is written (docs/sql.md#materialized-downsampled-views).
CREATE MATERIALIZED VIEW cpu_1m AS
  SELECT date_bin(INTERVAL '1 minute', time) AS time, hostname,
         avg(usage_user) AS usage_user, max(usage_user) AS usage_user_max,
         avg(usage_system) AS usage_system, count(*) AS n
  FROM cpu GROUP BY 1, 2
