SELECT submission_date, channel, fsy, ratio, amount, is_default, day, ts, b, country, COUNT(*) AS dau, SUM(revenue) AS revenue, SUM(money) AS money
FROM `p.d.clients_then` WHERE submission_date = @submission_date
GROUP BY submission_date, channel, fsy, ratio, amount, is_default, day, ts, b, country
