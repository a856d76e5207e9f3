-- Lines added and deleted per text_change under the "line-delta" definition (contract §6.1).
--
-- Input : events_dedup (01_events_dedup.sql).
-- Output: one row per text_change: user_id, session_id, "timestamp", lines_added, lines_deleted.
--
--   R  = Σ(end − start) over affected_line_ranges with end ≥ start   (line breaks replaced)
--   B  = file_lines of the latest EARLIER text_change/file_save of the same session and file key
--        that carried file_lines (timestamp, then ingestion order; across day boundaries)
--   k  = (file_lines − B) + R;  lines_added = k when 0 ≤ k ≤ characters_added, else 0
--   lines_deleted = R
-- The file key is file_absolute_path when non-empty, else file_path.
-- (list comprehensions are DuckDB syntax; elsewhere use UNNEST in a correlated subquery.)
WITH edits AS (
    SELECT
        user_id, session_id, type, "timestamp", received_at, batch_id, batch_index,
        file_lines, characters_added,
        CASE
            WHEN file_absolute_path IS NOT NULL AND file_absolute_path <> '' THEN file_absolute_path
            ELSE file_path
        END AS file_key,
        coalesce(
            list_sum([r."end" - r."start" FOR r IN affected_line_ranges
                      IF r."start" IS NOT NULL AND r."end" IS NOT NULL AND r."end" >= r."start"]),
            0
        ) AS replaced_breaks
    FROM events_dedup
    WHERE type IN ('text_change', 'file_save')
),
with_baseline AS (
    SELECT
        *,
        last_value(file_lines IGNORE NULLS) OVER (
            PARTITION BY session_id, file_key
            ORDER BY "timestamp", received_at, batch_id, batch_index
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS baseline_lines
    FROM edits
)
SELECT
    user_id,
    session_id,
    "timestamp",
    CASE
        WHEN baseline_lines IS NOT NULL
            AND file_lines IS NOT NULL
            AND file_lines - baseline_lines + replaced_breaks >= 0
            AND file_lines - baseline_lines + replaced_breaks <= characters_added
        THEN file_lines - baseline_lines + replaced_breaks
        ELSE 0
    END AS lines_added,
    replaced_breaks AS lines_deleted
FROM with_baseline
WHERE type = 'text_change'
