-- Per-session totals: the rows of the metrics_session partitions (contract §6.4).
--
-- Input : session_day (03_session_day.sql).
-- Output: user_id, session_id, lines_added, lines_deleted, switch_count, rapid_switch_count,
--         activity_count, dates
--   dates lists the UTC dates the session has metric events on: the ETL re-reads exactly those raw
--   partitions when it recomputes the session, and the session's per-file switch counts are its
--   path rows in those metrics_daily partitions.
SELECT user_id, session_id,
       CAST(sum(lines_added) AS BIGINT) AS lines_added,
       CAST(sum(lines_deleted) AS BIGINT) AS lines_deleted,
       CAST(sum(switch_count) AS BIGINT) AS switch_count,
       CAST(sum(rapid_switch_count) AS BIGINT) AS rapid_switch_count,
       CAST(sum(activity_count) AS BIGINT) AS activity_count,
       list(date ORDER BY date) AS dates
FROM session_day
WHERE path IS NULL
GROUP BY user_id, session_id
