-- The warehouse of TestShredderMitigation (shared/local/shredder_test.go).
--
-- usage_v1 was computed before deletion requests removed clients from test_live.clients_v1:
--   2024-03-01  release 5 clients (2 deleted), beta 2 (all deleted), NULL channel 2 (1 deleted)
--   2024-03-02  release 1 (none deleted), nightly 2 (1 deleted), NULL channel 1 (all deleted)
--   2024-03-03  release 1 (none deleted), esr 1 with 0 clicks (deleted)
-- usage_v2 adds the dimension os and the metric sessions; its production rows for the backfilled
-- days are stale, and 2024-03-04 is outside the backfill.
CREATE SCHEMA IF NOT EXISTS `moz-fx-data-shared-prod.test_live`;
CREATE SCHEMA IF NOT EXISTS `moz-fx-data-shared-prod.test_derived`;
CREATE TABLE `moz-fx-data-shared-prod.test_live.clients_v1` (submission_date DATE, client_id STRING, channel STRING, os STRING, clicks INT64, sessions INT64) PARTITION BY submission_date;
INSERT INTO `moz-fx-data-shared-prod.test_live.clients_v1` VALUES
  (DATE '2024-03-01', 'c1', 'release', 'Linux', 2, 1),
  (DATE '2024-03-01', 'c2', 'release', 'Linux', 3, 2),
  (DATE '2024-03-01', 'c3', 'release', 'Mac', 1, 1),
  (DATE '2024-03-01', 'c4', NULL, 'Linux', 1, 4),
  (DATE '2024-03-02', 'c1', 'release', 'Linux', 1, 1),
  (DATE '2024-03-02', 'c5', 'nightly', 'Windows', 2, 3),
  (DATE '2024-03-03', 'c1', 'release', 'Mac', 2, 2),
  (DATE '2024-03-04', 'c1', 'release', 'Mac', 9, 9);
CREATE TABLE `moz-fx-data-shared-prod.test_derived.usage_v1` (submission_date DATE, channel STRING, dau INT64, clicks INT64) PARTITION BY submission_date;
INSERT INTO `moz-fx-data-shared-prod.test_derived.usage_v1` VALUES
  (DATE '2024-03-01', 'release', 5, 10),
  (DATE '2024-03-01', 'beta', 2, 2),
  (DATE '2024-03-01', NULL, 2, 3),
  (DATE '2024-03-02', 'release', 1, 1),
  (DATE '2024-03-02', 'nightly', 2, 5),
  (DATE '2024-03-02', NULL, 1, 1),
  (DATE '2024-03-03', 'release', 1, 2),
  (DATE '2024-03-03', 'esr', 1, 0);
CREATE TABLE `moz-fx-data-shared-prod.test_derived.usage_v2` (submission_date DATE, channel STRING, os STRING, dau INT64, clicks INT64, sessions INT64) PARTITION BY submission_date;
INSERT INTO `moz-fx-data-shared-prod.test_derived.usage_v2` VALUES
  (DATE '2024-03-01', 'release', 'Linux', 99, 99, 99),
  (DATE '2024-03-02', 'release', 'Linux', 99, 99, 99),
  (DATE '2024-03-04', 'release', 'Mac', 1, 9, 9);
