-- Per (user, session, UTC date) metrics: the rows of the metrics_daily partitions (contract §6.1–6.3).
--
-- Input : events_dedup (01) and event_lines (02_lines_<definition>.sql).
-- Output: user_id, session_id, date, path, lines_added, lines_deleted, switch_count,
--         rapid_switch_count, activity_count
--   * path IS NULL   → the session's totals for that day (activity_count = text_change + editor_switch;
--                      a day with only file_save events has a row of zeros)
--   * path NOT NULL  → editor switches to that file (to_file) that day, in switch_count; other figures 0
-- A user's day is the sum of its session rows; keeping sessions apart lets the ETL recompute one
-- session without touching the others, and keeping every path makes top_files exact over any range.
WITH line_rows AS (
    SELECT user_id, session_id, day AS date, lines_added, lines_deleted
    FROM event_lines
),
switch_rows AS (
    SELECT user_id, session_id, day AS date,
           CASE WHEN is_rapid_context_switching THEN 1 ELSE 0 END AS rapid,
           to_file
    FROM events_dedup
    WHERE type = 'editor_switch'
),
parts AS (
    SELECT user_id, session_id, date,
           sum(lines_added) AS lines_added, sum(lines_deleted) AS lines_deleted,
           0 AS switch_count, 0 AS rapid_switch_count, count(*) AS activity_count
    FROM line_rows
    GROUP BY user_id, session_id, date
    UNION ALL
    SELECT user_id, session_id, date, 0, 0, count(*), sum(rapid), count(*)
    FROM switch_rows
    GROUP BY user_id, session_id, date
    UNION ALL
    -- file_save alone counts nothing, but its day belongs to the session (a later edit's baseline)
    SELECT user_id, session_id, day, 0, 0, 0, 0, 0
    FROM events_dedup
    WHERE type = 'file_save'
    GROUP BY user_id, session_id, day
)
SELECT user_id, session_id, date, CAST(NULL AS VARCHAR) AS path,
       CAST(sum(lines_added) AS BIGINT) AS lines_added,
       CAST(sum(lines_deleted) AS BIGINT) AS lines_deleted,
       CAST(sum(switch_count) AS BIGINT) AS switch_count,
       CAST(sum(rapid_switch_count) AS BIGINT) AS rapid_switch_count,
       CAST(sum(activity_count) AS BIGINT) AS activity_count
FROM parts
GROUP BY user_id, session_id, date
UNION ALL
SELECT user_id, session_id, date, to_file AS path,
       CAST(0 AS BIGINT), CAST(0 AS BIGINT), CAST(count(*) AS BIGINT), CAST(0 AS BIGINT), CAST(0 AS BIGINT)
FROM switch_rows
WHERE to_file IS NOT NULL AND to_file <> ''
GROUP BY user_id, session_id, date, to_file
