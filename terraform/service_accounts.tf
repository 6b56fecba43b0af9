# One identity per component, plus the two identities Google services use to
# call the functions. Their rights are in iam.tf.

resource "google_service_account" "scanner" {
  project      = var.project
  account_id   = "bqbackfill-scanner"
  display_name = "bqbackfill scanner"
  description  = "Reconciles the synced tree with the ledger, prepares staging, publishes partitions and starts worker executions."
}

resource "google_service_account" "worker" {
  project      = var.project
  account_id   = "bqbackfill-worker"
  display_name = "bqbackfill worker"
  description  = "Cloud Run job tasks: compute partitions into staging."
}

resource "google_service_account" "completion" {
  project      = var.project
  account_id   = "bqbackfill-completion"
  display_name = "bqbackfill completion"
  description  = "Backs up production, copies staged partitions in, deletes staging."
}

resource "google_service_account" "notifier" {
  project      = var.project
  account_id   = "bqbackfill-notifier"
  display_name = "bqbackfill notifier"
  description  = "Delivers backfill events to Slack."
}

resource "google_service_account" "push" {
  project      = var.project
  account_id   = "bqbackfill-push"
  display_name = "bqbackfill Pub/Sub push"
  description  = "Signs the OIDC tokens of the push subscriptions that call the functions."
}

resource "google_service_account" "eventarc" {
  project      = var.project
  account_id   = "bqbackfill-eventarc"
  display_name = "bqbackfill Eventarc trigger"
  description  = "Identity of the Eventarc trigger that calls the scanner on the sync manifest."
}
