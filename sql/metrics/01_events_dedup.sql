-- Accepted events that metrics count, each (session_id, fingerprint) once (contract §4.7).
--
-- Input : a relation named raw_events with the lake's EVENT_SCHEMA columns
--         (e.g. CREATE VIEW raw_events AS SELECT * FROM read_parquet('lake/events/*/*.parquet');).
-- Output: one row per distinct event: the first copy in ingestion order (received_at, batch_id,
--         batch_index), which fixes the order of same-timestamp events for the line-delta baseline.
-- Only the three types that feed metrics are kept: text_change and editor_switch are counted,
-- file_save only supplies line-delta baselines.
SELECT
    user_id, session_id, type, "timestamp", received_at, batch_id, batch_index,
    file_path, file_absolute_path, file_lines,
    characters_added, characters_deleted, affected_line_ranges,
    to_file, is_rapid_context_switching
FROM (
    SELECT
        *,
        row_number() OVER (
            PARTITION BY session_id, fingerprint
            ORDER BY received_at, batch_id, batch_index
        ) AS copy_number
    FROM raw_events
    WHERE type IN ('text_change', 'editor_switch', 'file_save')
) AS numbered
WHERE copy_number = 1
