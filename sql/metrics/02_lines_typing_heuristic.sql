-- Lines added and deleted per text_change under the "typing-heuristic" definition (contract §6.1).
--
-- Input : events_dedup (01_events_dedup.sql).
-- Output: one row per text_change: user_id, session_id, day, lines_added, lines_deleted.
--
--   W = touched_lines: Σ(end − start + 1) over affected_line_ranges with end ≥ start
--   lines_added   = W when characters_added > 0,   else 0
--   lines_deleted = W when characters_deleted > 0, else 0
SELECT
    user_id,
    session_id,
    day,
    CASE WHEN characters_added > 0 THEN touched_lines ELSE 0 END AS lines_added,
    CASE WHEN characters_deleted > 0 THEN touched_lines ELSE 0 END AS lines_deleted
FROM events_dedup
WHERE type = 'text_change'
