-- The warehouse of the special-handling tests (shared/local/special_*_test.go).
--
-- Source: visits per day and country in moz-fx-data-shared-prod.special_live.visits_v1,
-- one row for humans and one for bots:
--   date        DE human/bot  US human/bot
--   2024-03-01       4/10          7/20
--   2024-03-02       2/10          5/20
--   2024-03-03       3/10          1/20
--   2024-03-04       1/10          4/20
--
-- The production tables were computed by a first version of their queries that counted the
-- bots; the fixed queries (testdata/special/sql/…) drop them, and the backfills recompute.
CREATE SCHEMA IF NOT EXISTS `moz-fx-data-shared-prod.special_live`;
CREATE SCHEMA IF NOT EXISTS `moz-fx-data-shared-prod.special_derived`;
CREATE TABLE `moz-fx-data-shared-prod.special_live.visits_v1` (submission_date DATE, country STRING, visits INT64, is_bot BOOL) PARTITION BY submission_date;
INSERT INTO `moz-fx-data-shared-prod.special_live.visits_v1` VALUES
  (DATE '2024-03-01', 'DE', 4, FALSE), (DATE '2024-03-01', 'DE', 10, TRUE), (DATE '2024-03-01', 'US', 7, FALSE), (DATE '2024-03-01', 'US', 20, TRUE),
  (DATE '2024-03-02', 'DE', 2, FALSE), (DATE '2024-03-02', 'DE', 10, TRUE), (DATE '2024-03-02', 'US', 5, FALSE), (DATE '2024-03-02', 'US', 20, TRUE),
  (DATE '2024-03-03', 'DE', 3, FALSE), (DATE '2024-03-03', 'DE', 10, TRUE), (DATE '2024-03-03', 'US', 1, FALSE), (DATE '2024-03-03', 'US', 20, TRUE),
  (DATE '2024-03-04', 'DE', 1, FALSE), (DATE '2024-03-04', 'DE', 10, TRUE), (DATE '2024-03-04', 'US', 4, FALSE), (DATE '2024-03-04', 'US', 20, TRUE);

-- Day-partitioned: visits per day and country (bots counted).
CREATE TABLE `moz-fx-data-shared-prod.special_derived.visits_v1` (submission_date DATE, country STRING, visits INT64) PARTITION BY submission_date;
INSERT INTO `moz-fx-data-shared-prod.special_derived.visits_v1`
SELECT submission_date, country, SUM(visits) FROM `moz-fx-data-shared-prod.special_live.visits_v1` GROUP BY submission_date, country;

-- The same, computed by a query.py script.
CREATE TABLE `moz-fx-data-shared-prod.special_derived.script_visits_v1` (submission_date DATE, country STRING, visits INT64) PARTITION BY submission_date;
INSERT INTO `moz-fx-data-shared-prod.special_derived.script_visits_v1`
SELECT submission_date, country, SUM(visits) FROM `moz-fx-data-shared-prod.special_live.visits_v1` GROUP BY submission_date, country;

-- depends_on_past: a running total of visits per country. Its history before 2024-03-01 is not in
-- the source, so only the table itself knows the totals (DE 100 and US 200 on 2024-03-01); the
-- later days were computed with bots.
CREATE TABLE `moz-fx-data-shared-prod.special_derived.running_visits_v1` (submission_date DATE, country STRING, visits INT64, total INT64) PARTITION BY submission_date;
INSERT INTO `moz-fx-data-shared-prod.special_derived.running_visits_v1` VALUES
  (DATE '2024-03-01', 'DE', 4, 100), (DATE '2024-03-01', 'US', 7, 200),
  (DATE '2024-03-02', 'DE', 12, 112), (DATE '2024-03-02', 'US', 25, 225),
  (DATE '2024-03-03', 'DE', 13, 125), (DATE '2024-03-03', 'US', 21, 246),
  (DATE '2024-03-04', 'DE', 11, 136), (DATE '2024-03-04', 'US', 24, 270);

-- The --target copy of visits_v1 deployed in the sandbox project (target "dev" of the
-- target tests' bqbackfill.yaml): an old deployment with zeros.
CREATE SCHEMA IF NOT EXISTS `sandbox.dev_mybranch__moz_fx_data_shared_prod__special_derived`;
CREATE TABLE `sandbox.dev_mybranch__moz_fx_data_shared_prod__special_derived.visits_v1` (submission_date DATE, country STRING, visits INT64) PARTITION BY submission_date;
INSERT INTO `sandbox.dev_mybranch__moz_fx_data_shared_prod__special_derived.visits_v1` VALUES
  (DATE '2024-03-01', 'DE', 0), (DATE '2024-03-01', 'US', 0),
  (DATE '2024-03-02', 'DE', 0), (DATE '2024-03-02', 'US', 0),
  (DATE '2024-03-03', 'DE', 0), (DATE '2024-03-03', 'US', 0);

-- Month-partitioned, with a date_partition_offset in its metadata: visits per month and country
-- (bots counted).
CREATE TABLE `moz-fx-data-shared-prod.special_derived.monthly_visits_v1` (month_start DATE, country STRING, visits INT64) PARTITION BY DATE_TRUNC(month_start, MONTH);
INSERT INTO `moz-fx-data-shared-prod.special_derived.monthly_visits_v1`
SELECT DATE_TRUNC(submission_date, MONTH), country, SUM(visits) FROM `moz-fx-data-shared-prod.special_live.visits_v1` GROUP BY 1, 2;
