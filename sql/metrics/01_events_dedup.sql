-- Accepted events that metrics count, each (session_id, fingerprint) once (contract §4.7), reduced
-- to the fields the metrics use.
--
-- Input : a relation named raw_events with the lake's EVENT_SCHEMA columns, e.g.
--           CREATE VIEW raw_events AS SELECT * FROM read_parquet('lake/events/*/*.parquet');
-- Output: one row per distinct event — the first copy in ingestion order (received_at, batch_id,
--         batch_index), which fixes the order of same-timestamp events for the line-delta baseline —
--         of the three types that feed metrics (text_change and editor_switch are counted, file_save
--         only supplies line-delta baselines), with:
--           day              the UTC calendar date of the event (contract §6.3)
--           file_key         file_absolute_path when non-empty, else file_path (§6.1)
--           replaced_breaks  R = Σ(end − start)     over affected_line_ranges with end ≥ start
--           touched_lines    W = Σ(end − start + 1) over the same ranges
--
-- Most events are unique, so only the keys whose 64-bit hash occurs more than once go through the
-- ordered window (which compares the real keys, so a hash collision costs time, never exactness);
-- the others pass straight through an anti-join on the hash.
-- (list comprehensions and epoch_us are DuckDB syntax; elsewhere use UNNEST and EXTRACT(EPOCH …).)
WITH metric_events AS (
    SELECT
        user_id, session_id, type, "timestamp", received_at, batch_id, batch_index, fingerprint,
        hash(session_id, fingerprint) AS key_hash,
        DATE '1970-01-01' + CAST(floor(epoch_us("timestamp") / 86400000000) AS INTEGER) AS day,
        CASE
            WHEN file_absolute_path IS NOT NULL AND file_absolute_path <> '' THEN file_absolute_path
            ELSE file_path
        END AS file_key,
        file_lines, characters_added, characters_deleted,
        coalesce(
            list_sum([r."end" - r."start" FOR r IN affected_line_ranges
                      IF r."start" IS NOT NULL AND r."end" IS NOT NULL AND r."end" >= r."start"]),
            0
        ) AS replaced_breaks,
        coalesce(
            list_sum([r."end" - r."start" + 1 FOR r IN affected_line_ranges
                      IF r."start" IS NOT NULL AND r."end" IS NOT NULL AND r."end" >= r."start"]),
            0
        ) AS touched_lines,
        to_file, is_rapid_context_switching
    FROM raw_events
    WHERE type IN ('text_change', 'editor_switch', 'file_save')
),
repeated AS (
    SELECT key_hash FROM metric_events GROUP BY key_hash HAVING count(*) > 1
)
SELECT * EXCLUDE (fingerprint, key_hash)
FROM metric_events AS e
WHERE NOT EXISTS (
    SELECT 1 FROM repeated AS r WHERE r.key_hash = e.key_hash
)
UNION ALL
SELECT * EXCLUDE (fingerprint, key_hash, copy_number)
FROM (
    SELECT
        e.*,
        row_number() OVER (
            PARTITION BY e.session_id, e.fingerprint
            ORDER BY e.received_at, e.batch_id, e.batch_index
        ) AS copy_number
    FROM metric_events AS e
    WHERE EXISTS (
        SELECT 1 FROM repeated AS r WHERE r.key_hash = e.key_hash
    )
) AS copies
WHERE copy_number = 1
