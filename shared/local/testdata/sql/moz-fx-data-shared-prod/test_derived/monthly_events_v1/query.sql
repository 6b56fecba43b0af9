-- @submission_date is the first day of the month being computed.
SELECT
  DATE_TRUNC(submission_date, MONTH) AS month,
  country,
  COUNT(*) AS events
FROM
  `moz-fx-data-shared-prod.test_live.events_v1`
WHERE
  DATE_TRUNC(submission_date, MONTH) = @submission_date
  AND NOT is_bot
GROUP BY
  month,
  country
