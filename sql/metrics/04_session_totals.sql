-- Per-session metrics: the rows of the metrics_session partitions (contract §6.4).
--
-- Input : session_day (03_session_day.sql).
-- Output: user_id, session_id, path, lines_added, lines_deleted, switch_count, rapid_switch_count,
--         activity_count, dates
--   * path IS NULL  → the session's totals over all its days; dates lists the UTC dates it has
--                     events on (the ETL re-reads exactly those raw partitions when it recomputes it)
--   * path NOT NULL → editor switches to that file in the session
SELECT user_id, session_id, path,
       CAST(sum(lines_added) AS BIGINT) AS lines_added,
       CAST(sum(lines_deleted) AS BIGINT) AS lines_deleted,
       CAST(sum(switch_count) AS BIGINT) AS switch_count,
       CAST(sum(rapid_switch_count) AS BIGINT) AS rapid_switch_count,
       CAST(sum(activity_count) AS BIGINT) AS activity_count,
       CASE WHEN path IS NULL THEN list(DISTINCT date ORDER BY date) END AS dates
FROM session_day
GROUP BY user_id, session_id, path
