-- Lines added and deleted per text_change under the "typing-heuristic" definition (contract §6.1).
--
-- Input : events_dedup (01_events_dedup.sql).
-- Output: one row per text_change: user_id, session_id, "timestamp", lines_added, lines_deleted.
--
--   W = Σ(end − start + 1) over affected_line_ranges with end ≥ start   (lines touched)
--   lines_added   = W when characters_added > 0,   else 0
--   lines_deleted = W when characters_deleted > 0, else 0
WITH edits AS (
    SELECT
        user_id, session_id, "timestamp", characters_added, characters_deleted,
        coalesce(
            list_sum([r."end" - r."start" + 1 FOR r IN affected_line_ranges
                      IF r."start" IS NOT NULL AND r."end" IS NOT NULL AND r."end" >= r."start"]),
            0
        ) AS touched_lines
    FROM events_dedup
    WHERE type = 'text_change'
)
SELECT
    user_id,
    session_id,
    "timestamp",
    CASE WHEN characters_added > 0 THEN touched_lines ELSE 0 END AS lines_added,
    CASE WHEN characters_deleted > 0 THEN touched_lines ELSE 0 END AS lines_deleted
FROM edits
