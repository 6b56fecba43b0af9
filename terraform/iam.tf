# Who may do what. Every grant is scoped to the resource the component uses
# (bucket, topic, subscription, job, dataset, secret) except where Google
# offers no narrower scope (bigquery.jobUser: jobs are created in a project;
# eventarc.eventReceiver). No roles/owner or roles/editor anywhere;
# terraform/terraform_test.go checks each grant against the calls the code
# makes.
#
# Datasets are shared with other systems, so grants on them are single
# entries of the dataset's access list (google_bigquery_dataset_access):
# the google_bigquery_dataset_iam_* resources rewrite that list and drop its
# authorized views. READER and WRITER are what BigQuery stores for
# roles/bigquery.dataViewer and roles/bigquery.dataEditor; writing them so
# keeps plans clean.

locals {
  scanner_member    = "serviceAccount:${google_service_account.scanner.email}"
  worker_member     = "serviceAccount:${google_service_account.worker.email}"
  completion_member = "serviceAccount:${google_service_account.completion.email}"
  notifier_member   = "serviceAccount:${google_service_account.notifier.email}"
  pubsub_agent      = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# --- scanner -----------------------------------------------------------------

# Reads manifest.json and the tree it names.
resource "google_storage_bucket_iam_member" "scanner_reads_sql" {
  bucket = google_storage_bucket.sql.name
  role   = "roles/storage.objectViewer"
  member = local.scanner_member

  depends_on = [time_sleep.service_accounts_visible]
}

# Creates and updates ledger records (with generation preconditions).
resource "google_storage_bucket_iam_member" "scanner_ledger" {
  bucket = google_storage_bucket.ledger.name
  role   = "roles/storage.objectUser"
  member = local.scanner_member

  depends_on = [time_sleep.service_accounts_visible]
}

resource "google_pubsub_topic_iam_member" "scanner_publishes_partitions" {
  project = var.project
  topic   = module.pubsub.partitions_topic
  role    = "roles/pubsub.publisher"
  member  = local.scanner_member

  depends_on = [time_sleep.service_accounts_visible]
}

resource "google_pubsub_topic_iam_member" "scanner_publishes_complete" {
  project = var.project
  topic   = module.pubsub.complete_topic
  role    = "roles/pubsub.publisher"
  member  = local.scanner_member

  depends_on = [time_sleep.service_accounts_visible]
}

resource "google_pubsub_topic_iam_member" "scanner_publishes_events" {
  project = var.project
  topic   = module.pubsub.events_topic
  role    = "roles/pubsub.publisher"
  member  = local.scanner_member

  depends_on = [time_sleep.service_accounts_visible]
}

# Runs worker executions with a task-count and environment override
# (shared/runjob), as the worker's identity.
resource "google_cloud_run_v2_job_iam_member" "scanner_runs_worker" {
  project  = var.project
  location = var.region
  name     = module.worker.name
  role     = "roles/run.jobsExecutorWithOverrides"
  member   = local.scanner_member

  depends_on = [time_sleep.service_accounts_visible]
}

# Reads the job's latest execution (shared/runjob Launcher.Running, jobs.get)
# to start workers for partitions that wait while no execution runs: the
# executor roles run a job but cannot read it (run.jobs.get is in
# roles/run.viewer, not in roles/run.jobsExecutorWithOverrides).
resource "google_cloud_run_v2_job_iam_member" "scanner_reads_worker" {
  project  = var.project
  location = var.region
  name     = module.worker.name
  role     = "roles/run.viewer"
  member   = local.scanner_member

  depends_on = [time_sleep.service_accounts_visible]
}

resource "google_service_account_iam_member" "scanner_acts_as_worker" {
  service_account_id = google_service_account.worker.name
  role               = "roles/iam.serviceAccountUser"
  member             = local.scanner_member

  depends_on = [time_sleep.service_accounts_visible]
}

# Seed copies and INFORMATION_SCHEMA lookups.
resource "google_project_iam_member" "scanner_job_user" {
  for_each = toset(local.job_projects)

  project = each.value
  role    = "roles/bigquery.jobUser"
  member  = local.scanner_member

  depends_on = [time_sleep.service_accounts_visible]
}

# The start's cost estimate dry-runs the partition queries, which needs
# read access (bigquery.tables.getData) to every table they read, as a run
# does; without it every estimate fails with 403 (found by the deployment
# twin).
resource "google_project_iam_member" "scanner_reads_sources" {
  for_each = toset(var.source_projects)

  project = each.value
  role    = "roles/bigquery.dataViewer"
  member  = local.scanner_member

  depends_on = [time_sleep.service_accounts_visible]
}

# Creates staging tables like production, seeds them, mirrors IAM onto them.
resource "google_bigquery_dataset_access" "scanner_staging" {
  project       = local.staging_project
  dataset_id    = local.staging_dataset
  role          = google_project_iam_custom_role.staging_tables.name
  user_by_email = google_service_account.scanner.email

  depends_on = [google_bigquery_dataset.staging, time_sleep.service_accounts_visible]
}

# Reads production's schema, table IAM, dataset access and seed partition.
resource "google_bigquery_dataset_access" "scanner_reads_production" {
  for_each = local.production_datasets

  project       = each.value.project
  dataset_id    = each.value.dataset
  role          = "READER"
  user_by_email = google_service_account.scanner.email

  depends_on = [time_sleep.service_accounts_visible]
}

# --- worker ------------------------------------------------------------------

# Reads the tree a backfill started from (query.py scripts run from it).
resource "google_storage_bucket_iam_member" "worker_reads_sql" {
  bucket = google_storage_bucket.sql.name
  role   = "roles/storage.objectViewer"
  member = local.worker_member

  depends_on = [time_sleep.service_accounts_visible]
}

resource "google_storage_bucket_iam_member" "worker_ledger" {
  bucket = google_storage_bucket.ledger.name
  role   = "roles/storage.objectUser"
  member = local.worker_member

  depends_on = [time_sleep.service_accounts_visible]
}

resource "google_pubsub_subscription_iam_member" "worker_pulls_partitions" {
  project      = var.project
  subscription = module.pubsub.partitions_subscription
  role         = "roles/pubsub.subscriber"
  member       = local.worker_member

  depends_on = [time_sleep.service_accounts_visible]
}

# depends_on_past chains: each finished partition publishes the next one.
resource "google_pubsub_topic_iam_member" "worker_publishes_partitions" {
  project = var.project
  topic   = module.pubsub.partitions_topic
  role    = "roles/pubsub.publisher"
  member  = local.worker_member

  depends_on = [time_sleep.service_accounts_visible]
}

resource "google_pubsub_topic_iam_member" "worker_publishes_events" {
  project = var.project
  topic   = module.pubsub.events_topic
  role    = "roles/pubsub.publisher"
  member  = local.worker_member

  depends_on = [time_sleep.service_accounts_visible]
}

# A partition that fails for good is dead-lettered by the worker itself.
resource "google_pubsub_topic_iam_member" "worker_publishes_dead_letters" {
  project = var.project
  topic   = module.pubsub.dead_letter_topic
  role    = "roles/pubsub.publisher"
  member  = local.worker_member

  depends_on = [time_sleep.service_accounts_visible]
}

resource "google_project_iam_member" "worker_job_user" {
  for_each = toset(local.job_projects)

  project = each.value
  role    = "roles/bigquery.jobUser"
  member  = local.worker_member

  depends_on = [time_sleep.service_accounts_visible]
}

# Query jobs write staging partitions (WRITE_TRUNCATE); depends_on_past
# queries read staging.
resource "google_bigquery_dataset_access" "worker_staging" {
  project       = local.staging_project
  dataset_id    = local.staging_dataset
  role          = "WRITER"
  user_by_email = google_service_account.worker.email

  depends_on = [google_bigquery_dataset.staging, time_sleep.service_accounts_visible]
}

# The staging-vs-production row counts of the "done" report.
resource "google_bigquery_dataset_access" "worker_reads_production" {
  for_each = local.production_datasets

  project       = each.value.project
  dataset_id    = each.value.dataset
  role          = "READER"
  user_by_email = google_service_account.worker.email

  depends_on = [time_sleep.service_accounts_visible]
}

# Backfill queries read any upstream table of these projects.
resource "google_project_iam_member" "worker_reads_sources" {
  for_each = toset(var.source_projects)

  project = each.value
  role    = "roles/bigquery.dataViewer"
  member  = local.worker_member

  depends_on = [time_sleep.service_accounts_visible]
}

# --- completion --------------------------------------------------------------

resource "google_storage_bucket_iam_member" "completion_ledger" {
  bucket = google_storage_bucket.ledger.name
  role   = "roles/storage.objectUser"
  member = local.completion_member

  depends_on = [time_sleep.service_accounts_visible]
}

resource "google_pubsub_topic_iam_member" "completion_publishes_events" {
  project = var.project
  topic   = module.pubsub.events_topic
  role    = "roles/pubsub.publisher"
  member  = local.completion_member

  depends_on = [time_sleep.service_accounts_visible]
}

resource "google_project_iam_member" "completion_job_user" {
  for_each = toset(local.completion_job_projects)

  project = each.value
  role    = "roles/bigquery.jobUser"
  member  = local.completion_member

  depends_on = [time_sleep.service_accounts_visible]
}

# Backups are created (cloned) in the staging dataset and get production's
# permissions mirrored onto them (bigquery.tables.setIamPolicy, which
# WRITER lacks: issue 9 F1); staging is deleted.
resource "google_bigquery_dataset_access" "completion_staging" {
  project       = local.staging_project
  dataset_id    = local.staging_dataset
  role          = google_project_iam_custom_role.staging_tables.name
  user_by_email = google_service_account.completion.email

  depends_on = [google_bigquery_dataset.staging, time_sleep.service_accounts_visible]
}

# Copies staged partitions into production (WRITE_TRUNCATE per partition).
resource "google_bigquery_dataset_access" "completion_writes_production" {
  for_each = local.production_datasets

  project       = each.value.project
  dataset_id    = each.value.dataset
  role          = "WRITER"
  user_by_email = google_service_account.completion.email

  depends_on = [time_sleep.service_accounts_visible]
}

# --- notifier ----------------------------------------------------------------

resource "google_secret_manager_secret_iam_member" "notifier_slack_token" {
  project   = var.project
  secret_id = data.google_secret_manager_secret.slack.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = local.notifier_member

  depends_on = [time_sleep.service_accounts_visible]
}

# --- callers of the functions ------------------------------------------------

# Eventarc delivers the manifest event as this identity (it also needs
# run.invoker on the scanner, granted in functions.tf).
resource "google_project_iam_member" "eventarc_receiver" {
  project = var.project
  role    = "roles/eventarc.eventReceiver"
  member  = "serviceAccount:${google_service_account.eventarc.email}"

  depends_on = [time_sleep.service_accounts_visible]
}

# The Pub/Sub service agent mints the OIDC tokens of the push subscriptions
# and of the subscription Eventarc creates for the manifest trigger (projects
# created before April 2021 do not grant it this by default).
resource "google_service_account_iam_member" "pubsub_agent_signs_push_tokens" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent

  depends_on = [time_sleep.service_accounts_visible]
}

resource "google_service_account_iam_member" "pubsub_agent_signs_eventarc_tokens" {
  service_account_id = google_service_account.eventarc.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent

  depends_on = [time_sleep.service_accounts_visible]
}
