-- Lines added and deleted per text_change under the "line-delta" definition (contract §6.1).
--
-- Input : events_dedup (01_events_dedup.sql).
-- Output: one row per text_change: user_id, session_id, day, lines_added, lines_deleted.
--
--   R  = replaced_breaks: Σ(end − start) over affected_line_ranges with end ≥ start
--   B  = file_lines of the latest EARLIER text_change/file_save of the same session and file key
--        that carried file_lines (timestamp, then ingestion order; across day boundaries)
--   k  = (file_lines − B) + R;  lines_added = k when 0 ≤ k ≤ characters_added, else 0
--   lines_deleted = R
--
-- B is a plain lag() over the events of the same session and file key that carry file_lines:
-- an event without file_lines never adds lines (its k is undefined) and is never a baseline, so it
-- sits in its own window partition.
WITH with_baseline AS (
    SELECT
        user_id, session_id, type, day, file_lines, characters_added, replaced_breaks,
        lag(file_lines) OVER (
            PARTITION BY session_id, file_key, file_lines IS NULL
            ORDER BY "timestamp", received_at, batch_id, batch_index
        ) AS baseline_lines
    FROM events_dedup
    WHERE type IN ('text_change', 'file_save')
)
SELECT
    user_id,
    session_id,
    day,
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
