-- Not partitioned: one job computes the whole table as of @submission_date.
SELECT
  country,
  COUNTIF(NOT is_bot) AS events
FROM
  `moz-fx-data-shared-prod.test_live.events_v1`
WHERE
  submission_date <= @submission_date
GROUP BY
  country
