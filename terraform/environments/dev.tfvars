# Development: its own project, small caps, verbose logs, no paging.
# Apply with -var=functions_image=... -var=worker_image=... (cloudbuild.yaml
# passes the images it built).

project     = "bqbackfill-dev"
region      = "us-central1"
environment = "dev"

sql_bucket    = "bqbackfill-dev-sql"
ledger_bucket = "bqbackfill-dev-ledger"

slack_secret_name = "bqbackfill-slack-bot-token"
slack_channel     = "#bqbackfill-dev"
log_level         = "DEBUG"

# Staging, billing and the tables to backfill all live in the dev project.
bigquery_location   = "US"
source_projects     = ["bqbackfill-dev"]
production_datasets = ["bqbackfill-dev.telemetry_derived"]

max_tasks_per_execution     = 4
worker_concurrency          = 1
worker_task_timeout_seconds = 7200

service_max_instances = {
  scanner    = 1
  completion = 2
  notifier   = 1
}

stuck_after_minutes         = 120
alert_notification_channels = []
