# Production: bqbackfill runs in its own project and backfills the tables of
# the bigquery-etl repository. Staging is the backfills_staging_derived
# dataset that bqetl backfills already use in moz-fx-data-shared-prod
# (config.DefaultStagingProject), so it is not created here, and queries are
# billed to the backfill slot projects.

project     = "bqbackfill-prod"
region      = "us-central1"
environment = "prod"

sql_bucket    = "bqbackfill-prod-sql"
ledger_bucket = "bqbackfill-prod-ledger"

slack_secret_name = "bqbackfill-slack-bot-token"
slack_channel     = "#dataops-alerts"
log_level         = "INFO"

staging_project        = "moz-fx-data-shared-prod"
manage_staging_dataset = false
bigquery_location      = "US"

# default_billing_project, and every billing_project an entry names.
billing_projects = [
  "moz-fx-data-backfill-slots",
  "moz-fx-data-backfill-2",
]

source_projects = [
  "moz-fx-data-shared-prod",
  "moz-fx-data-experiments",
]

# Datasets with a backfill.yaml in bigquery-etl's sql/ tree. Add a dataset
# here (and apply) before its first backfill can complete.
production_datasets = [
  "moz-fx-data-experiments.monitoring",
  "moz-fx-data-shared-prod.addons_derived",
  "moz-fx-data-shared-prod.ads_derived",
  "moz-fx-data-shared-prod.customer_experience_derived",
  "moz-fx-data-shared-prod.default_browser_agent_derived",
  "moz-fx-data-shared-prod.fenix_derived",
  "moz-fx-data-shared-prod.firefox_desktop_background_defaultagent_derived",
  "moz-fx-data-shared-prod.firefox_desktop_derived",
  "moz-fx-data-shared-prod.firefox_ios_derived",
  "moz-fx-data-shared-prod.firefox_referral_derived",
  "moz-fx-data-shared-prod.firefoxdotcom_derived",
  "moz-fx-data-shared-prod.focus_android_derived",
  "moz-fx-data-shared-prod.focus_ios_derived",
  "moz-fx-data-shared-prod.fxci_derived",
  "moz-fx-data-shared-prod.glean_telemetry_derived",
  "moz-fx-data-shared-prod.google_ads_derived",
  "moz-fx-data-shared-prod.google_search_console_derived",
  "moz-fx-data-shared-prod.klar_android_derived",
  "moz-fx-data-shared-prod.klar_ios_derived",
  "moz-fx-data-shared-prod.monitoring_derived",
  "moz-fx-data-shared-prod.mozilla_vpn_derived",
  "moz-fx-data-shared-prod.nimbus_feature_monitoring",
  "moz-fx-data-shared-prod.org_mozilla_fenix_derived",
  "moz-fx-data-shared-prod.org_mozilla_fenix_nightly_derived",
  "moz-fx-data-shared-prod.org_mozilla_firefox_beta_derived",
  "moz-fx-data-shared-prod.org_mozilla_firefox_derived",
  "moz-fx-data-shared-prod.org_mozilla_focus_beta_derived",
  "moz-fx-data-shared-prod.org_mozilla_focus_derived",
  "moz-fx-data-shared-prod.org_mozilla_focus_nightly_derived",
  "moz-fx-data-shared-prod.org_mozilla_ios_fennec_derived",
  "moz-fx-data-shared-prod.org_mozilla_ios_firefox_derived",
  "moz-fx-data-shared-prod.org_mozilla_ios_firefoxbeta_derived",
  "moz-fx-data-shared-prod.org_mozilla_ios_focus_derived",
  "moz-fx-data-shared-prod.search_derived",
  "moz-fx-data-shared-prod.snowflake_migration_derived",
  "moz-fx-data-shared-prod.subscription_platform_derived",
  "moz-fx-data-shared-prod.sumo_metrics_derived",
  "moz-fx-data-shared-prod.sync_derived",
  "moz-fx-data-shared-prod.telemetry_derived",
  "moz-fx-data-shared-prod.thunderbird_desktop_derived",
]

max_tasks_per_execution     = 32
worker_concurrency          = 2
worker_task_timeout_seconds = 21600

service_max_instances = {
  scanner    = 2
  completion = 4
  notifier   = 2
}

stuck_after_minutes = 60

# Cloud Monitoring channels of the data platform on-call, for example
# projects/bqbackfill-prod/notificationChannels/1234567890.
alert_notification_channels = []
