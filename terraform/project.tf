# APIs the deployment uses in var.project, and the Google-managed service
# agents that act in it.

locals {
  services = [
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudscheduler.googleapis.com",
    "eventarc.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ]
}

resource "google_project_service" "enabled" {
  for_each = toset(local.services)

  project            = var.project
  service            = each.value
  disable_on_destroy = false
}

data "google_project" "this" {
  project_id = var.project
}

# The Cloud Storage service agent publishes the bucket's object events to the
# Pub/Sub topic Eventarc creates for the manifest trigger.
data "google_storage_project_service_account" "gcs" {
  project = var.project

  depends_on = [google_project_service.enabled]
}

resource "google_project_iam_member" "gcs_agent_publisher" {
  project = var.project
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

# The Slack bot token. Terraform does not hold the token: create the secret
# and its version by hand (docs/deploy.md), then grant the notifier here.
data "google_secret_manager_secret" "slack" {
  project   = var.project
  secret_id = var.slack_secret_name

  depends_on = [google_project_service.enabled]
}
