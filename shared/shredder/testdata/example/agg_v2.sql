-- agg_v2 adds the dimension os and the metric clicks.
SELECT
  submission_date,
  channel,
  first_seen_year,
  is_default,
  os,
  SUM(clicks) AS clicks,
  SUM(dau) AS dau,
  SUM(revenue) AS revenue
FROM
  `p.d.events`
WHERE
  submission_date = @submission_date
GROUP BY
  submission_date,
  channel,
  first_seen_year,
  is_default,
  os;
