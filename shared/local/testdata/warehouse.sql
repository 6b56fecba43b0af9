-- The local warehouse of the end-to-end and fault tests (shared/local/e2e_test.go).
--
-- Source: one row per client and day in moz-fx-data-shared-prod.test_live.events_v1, some from bots.
-- Humans/bots per day:
--   date        DE   US
--   2023-11-15  1/1  1/1
--   2023-12-15  1/1  2/1
--   2024-01-15  2/1  1/1
--   2024-02-15  1/1  2/2
--   2024-03-01  2/1  1/1
--   2024-03-02  1/1  3/2
--   2024-03-03  2/1  2/1
--   2024-03-04  3/1  1/2
--   2024-03-05  1/2  2/1
--   2024-03-06  2/2  1/3
--
-- The production tables were computed by a first version of their queries that counted the
-- bots; the fixed queries (testdata/sql/…/query.sql) drop them, and the backfills recompute.
CREATE SCHEMA IF NOT EXISTS `moz-fx-data-shared-prod.test_live`;
CREATE SCHEMA IF NOT EXISTS `moz-fx-data-shared-prod.test_derived`;
CREATE TABLE `moz-fx-data-shared-prod.test_live.events_v1` (submission_date DATE, client_id STRING, country STRING, is_bot BOOL) PARTITION BY submission_date;
INSERT INTO `moz-fx-data-shared-prod.test_live.events_v1` VALUES
  (DATE '2023-11-15', 'DE-h1', 'DE', FALSE), (DATE '2023-11-15', 'DE-b1', 'DE', TRUE),
  (DATE '2023-11-15', 'US-h1', 'US', FALSE), (DATE '2023-11-15', 'US-b1', 'US', TRUE),
  (DATE '2023-12-15', 'DE-h1', 'DE', FALSE), (DATE '2023-12-15', 'DE-b1', 'DE', TRUE),
  (DATE '2023-12-15', 'US-h1', 'US', FALSE), (DATE '2023-12-15', 'US-h2', 'US', FALSE), (DATE '2023-12-15', 'US-b1', 'US', TRUE),
  (DATE '2024-01-15', 'DE-h1', 'DE', FALSE), (DATE '2024-01-15', 'DE-h2', 'DE', FALSE), (DATE '2024-01-15', 'DE-b1', 'DE', TRUE),
  (DATE '2024-01-15', 'US-h1', 'US', FALSE), (DATE '2024-01-15', 'US-b1', 'US', TRUE),
  (DATE '2024-02-15', 'DE-h1', 'DE', FALSE), (DATE '2024-02-15', 'DE-b1', 'DE', TRUE),
  (DATE '2024-02-15', 'US-h1', 'US', FALSE), (DATE '2024-02-15', 'US-h2', 'US', FALSE), (DATE '2024-02-15', 'US-b1', 'US', TRUE), (DATE '2024-02-15', 'US-b2', 'US', TRUE),
  (DATE '2024-03-01', 'DE-h1', 'DE', FALSE), (DATE '2024-03-01', 'DE-h2', 'DE', FALSE), (DATE '2024-03-01', 'DE-b1', 'DE', TRUE),
  (DATE '2024-03-01', 'US-h1', 'US', FALSE), (DATE '2024-03-01', 'US-b1', 'US', TRUE),
  (DATE '2024-03-02', 'DE-h1', 'DE', FALSE), (DATE '2024-03-02', 'DE-b1', 'DE', TRUE),
  (DATE '2024-03-02', 'US-h1', 'US', FALSE), (DATE '2024-03-02', 'US-h2', 'US', FALSE), (DATE '2024-03-02', 'US-h3', 'US', FALSE), (DATE '2024-03-02', 'US-b1', 'US', TRUE), (DATE '2024-03-02', 'US-b2', 'US', TRUE),
  (DATE '2024-03-03', 'DE-h1', 'DE', FALSE), (DATE '2024-03-03', 'DE-h2', 'DE', FALSE), (DATE '2024-03-03', 'DE-b1', 'DE', TRUE),
  (DATE '2024-03-03', 'US-h1', 'US', FALSE), (DATE '2024-03-03', 'US-h2', 'US', FALSE), (DATE '2024-03-03', 'US-b1', 'US', TRUE),
  (DATE '2024-03-04', 'DE-h1', 'DE', FALSE), (DATE '2024-03-04', 'DE-h2', 'DE', FALSE), (DATE '2024-03-04', 'DE-h3', 'DE', FALSE), (DATE '2024-03-04', 'DE-b1', 'DE', TRUE),
  (DATE '2024-03-04', 'US-h1', 'US', FALSE), (DATE '2024-03-04', 'US-b1', 'US', TRUE), (DATE '2024-03-04', 'US-b2', 'US', TRUE),
  (DATE '2024-03-05', 'DE-h1', 'DE', FALSE), (DATE '2024-03-05', 'DE-b1', 'DE', TRUE), (DATE '2024-03-05', 'DE-b2', 'DE', TRUE),
  (DATE '2024-03-05', 'US-h1', 'US', FALSE), (DATE '2024-03-05', 'US-h2', 'US', FALSE), (DATE '2024-03-05', 'US-b1', 'US', TRUE),
  (DATE '2024-03-06', 'DE-h1', 'DE', FALSE), (DATE '2024-03-06', 'DE-h2', 'DE', FALSE), (DATE '2024-03-06', 'DE-b1', 'DE', TRUE), (DATE '2024-03-06', 'DE-b2', 'DE', TRUE),
  (DATE '2024-03-06', 'US-h1', 'US', FALSE), (DATE '2024-03-06', 'US-b1', 'US', TRUE), (DATE '2024-03-06', 'US-b2', 'US', TRUE), (DATE '2024-03-06', 'US-b3', 'US', TRUE);

-- Day-partitioned: distinct clients per day and country.
CREATE TABLE `moz-fx-data-shared-prod.test_derived.dau_v1` (submission_date DATE, country STRING, dau INT64) PARTITION BY submission_date CLUSTER BY country;
INSERT INTO `moz-fx-data-shared-prod.test_derived.dau_v1`
SELECT submission_date, country, COUNT(DISTINCT client_id) FROM `moz-fx-data-shared-prod.test_live.events_v1` GROUP BY submission_date, country;

-- Month-partitioned: events per month and country.
CREATE TABLE `moz-fx-data-shared-prod.test_derived.monthly_events_v1` (month DATE, country STRING, events INT64) PARTITION BY DATE_TRUNC(month, MONTH);
INSERT INTO `moz-fx-data-shared-prod.test_derived.monthly_events_v1`
SELECT DATE_TRUNC(submission_date, MONTH), country, COUNT(*) FROM `moz-fx-data-shared-prod.test_live.events_v1` GROUP BY 1, 2;

-- Unpartitioned: events per country, all time.
CREATE TABLE `moz-fx-data-shared-prod.test_derived.country_events_v1` (country STRING, events INT64);
INSERT INTO `moz-fx-data-shared-prod.test_derived.country_events_v1`
SELECT country, COUNT(*) FROM `moz-fx-data-shared-prod.test_live.events_v1` GROUP BY country;
