-- The first version counted bots; this one drops them.
SELECT
  submission_date,
  country,
  COUNT(DISTINCT client_id) AS dau
FROM
  `moz-fx-data-shared-prod.test_live.events_v1`
WHERE
  submission_date = @submission_date
  AND NOT is_bot
GROUP BY
  submission_date,
  country
