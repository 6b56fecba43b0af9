# The three functions: one image (functions/server), one Cloud Run service
# each, FUNCTION_TARGET choosing the function. Each is fed by a push
# subscription with an OIDC token; the scanner is also called by Eventarc.

module "scanner" {
  source = "./modules/function_service"

  project               = var.project
  region                = var.region
  name                  = local.scanner_service
  image                 = var.functions_image
  function_target       = "Scanner"
  service_account_email = google_service_account.scanner.email
  env                   = local.scanner_env
  timeout_seconds       = 600
  concurrency           = 1
  max_instances         = var.service_max_instances.scanner
  memory                = "1Gi"
  labels                = local.labels

  invokers = {
    push     = "serviceAccount:${google_service_account.push.email}"
    eventarc = "serviceAccount:${google_service_account.eventarc.email}"
  }

  # The safety-net tick: a tick older than the next one is worthless.
  push_topic                 = module.pubsub.scan_tick_topic
  push_subscription          = "${local.scan_tick_topic}-scanner"
  push_service_account_email = google_service_account.push.email
  push_ack_deadline_seconds  = 600
  push_message_retention     = "900s"

  depends_on = [google_project_service.enabled]
}

module "completion" {
  source = "./modules/function_service"

  project               = var.project
  region                = var.region
  name                  = local.completion_service
  image                 = var.functions_image
  function_target       = "Completion"
  service_account_email = google_service_account.completion.email
  env                   = local.completion_env
  timeout_seconds       = 600
  concurrency           = 4
  max_instances         = var.service_max_instances.completion
  labels                = local.labels

  invokers = {
    push = "serviceAccount:${google_service_account.push.email}"
  }

  # Completion resumes where it stopped, so a request that outlives the push
  # deadline is simply redelivered; it is never dead-lettered (the scanner
  # also re-publishes stale requests, and the stuck alert watches this
  # subscription).
  push_topic                 = module.pubsub.complete_topic
  push_subscription          = "${local.complete_topic}-completion"
  push_service_account_email = google_service_account.push.email
  push_ack_deadline_seconds  = 600
  push_message_retention     = "604800s"
  push_minimum_backoff       = "30s"

  depends_on = [google_project_service.enabled]
}

module "notifier" {
  source = "./modules/function_service"

  project               = var.project
  region                = var.region
  name                  = local.notifier_service
  image                 = var.functions_image
  function_target       = "Notifier"
  service_account_email = google_service_account.notifier.email
  env                   = local.notifier_env
  secret_env            = local.notifier_secret_env
  timeout_seconds       = 60
  concurrency           = 10
  max_instances         = var.service_max_instances.notifier
  labels                = local.labels

  invokers = {
    push = "serviceAccount:${google_service_account.push.email}"
  }

  # The notifier drops events older than a day, so keep them no longer.
  push_topic                 = module.pubsub.events_topic
  push_subscription          = "${local.events_topic}-notifier"
  push_service_account_email = google_service_account.push.email
  push_ack_deadline_seconds  = 60
  push_message_retention     = "86400s"

  # Cloud Run checks at deploy time that the service account can read the
  # secret.
  depends_on = [
    google_project_service.enabled,
    google_secret_manager_secret_iam_member.notifier_slack_token,
  ]
}

# The normal trigger: `bqbackfill sync` rewrites manifest.json last, and its
# finalize event reaches the scanner within seconds. Eventarc cannot filter
# on the object name for direct Cloud Storage events; the scanner ignores
# every object but the manifest.
resource "google_eventarc_trigger" "manifest" {
  project         = var.project
  location        = var.region
  name            = "backfill-manifest-finalized"
  service_account = google_service_account.eventarc.email
  labels          = local.labels

  matching_criteria {
    attribute = "type"
    value     = "google.cloud.storage.object.v1.finalized"
  }

  matching_criteria {
    attribute = "bucket"
    value     = google_storage_bucket.sql.name
  }

  destination {
    cloud_run_service {
      service = module.scanner.name
      region  = var.region
      path    = "/"
    }
  }

  depends_on = [
    google_project_iam_member.gcs_agent_publisher,
    google_project_iam_member.eventarc_receiver,
    google_service_account_iam_member.pubsub_agent_signs_eventarc_tokens,
  ]
}

# The safety net: every 15 minutes the scanner reconciles everything, which
# also finishes backfills whose last worker died and re-publishes lost work.
resource "google_cloud_scheduler_job" "scan_tick" {
  project     = var.project
  region      = var.region
  name        = local.scan_tick_topic
  description = "bqbackfill scanner safety-net tick"
  schedule    = var.scan_schedule
  time_zone   = "Etc/UTC"

  pubsub_target {
    topic_name = module.pubsub.scan_tick_topic_id
    data       = base64encode("{\"reason\":\"tick\"}")
  }

  depends_on = [google_project_service.enabled]
}
