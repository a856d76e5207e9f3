-- Edits per editor language: text_change events, files and users per language id.
SELECT
    file_language AS language,
    count(*) AS edits,
    count(DISTINCT file_path) AS files,
    count(DISTINCT user_id) AS users,
    sum(characters_added) AS characters_added
FROM events
WHERE type = 'text_change'
GROUP BY language
ORDER BY edits DESC;
