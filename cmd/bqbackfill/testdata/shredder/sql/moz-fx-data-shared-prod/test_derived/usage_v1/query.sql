SELECT
  submission_date,
  channel,
  COUNT(DISTINCT client_id) AS dau,
  SUM(clicks) AS clicks
FROM
  `moz-fx-data-shared-prod.test_live.clients_v1`
WHERE
  submission_date = @submission_date
GROUP BY
  submission_date,
  channel
