-- Daily active users per country. The first version counted bot traffic;
-- this one excludes it, and the backfill recomputes the affected days.
SELECT
  submission_date,
  country,
  COUNT(DISTINCT client_id) AS dau
FROM
  `moz-fx-data-shared-prod.telemetry_live.events_v1`
WHERE
  submission_date = @submission_date
  AND NOT is_bot
GROUP BY
  submission_date,
  country
