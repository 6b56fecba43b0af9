locals {
  labels = merge(var.labels, {
    app         = "bqbackfill"
    environment = var.environment
  })

  # Resource names. The topic and subscription names are the defaults of
  # shared/cloudenv (cloudenv.Defaults), so local mode, the CLI and the
  # deployed components agree even where a variable is not set;
  # terraform/terraform_test.go checks that they match.
  partitions_topic        = "backfill-partitions"
  partitions_subscription = "backfill-partitions-worker"
  complete_topic          = "backfill-complete"
  events_topic            = "backfill-events"
  dead_letter_topic       = "backfill-dead-letter"
  scan_tick_topic         = "backfill-scan-tick"

  scanner_service    = "backfill-scanner"
  completion_service = "backfill-completion"
  notifier_service   = "backfill-notifier"
  worker_job         = "backfill-worker"

  # The pipeline marks a partition failed on its fifth delivery
  # (shared/pipeline Options.MaxDeliveries defaults to 5 and no variable
  # changes it), so the subscription must dead-letter after the same count.
  max_delivery_attempts = 5

  # Staging and backup tables live here (config.DefaultStagingDataset), with
  # the 30-day lifetime of config.DefaultStagingExpirationDays.
  staging_project             = coalesce(var.staging_project, var.project)
  staging_dataset             = "backfills_staging_derived"
  staging_expiration_days     = 30
  staging_table_expiration_ms = local.staging_expiration_days * 24 * 60 * 60 * 1000

  # Projects where the components run BigQuery jobs: var.project (the
  # warehouse's default project: INFORMATION_SCHEMA lookups) and every billing
  # project (queries and copies). Completion also backs up production into
  # staging, and a backup job runs in its destination's project.
  job_projects            = distinct(concat([var.project], var.billing_projects))
  completion_job_projects = distinct(concat(local.job_projects, [local.staging_project]))

  production_datasets = {
    for d in var.production_datasets : d => {
      project = split(".", d)[0]
      dataset = split(".", d)[1]
    }
  }

  # Environment of each component. cloudenv.FromEnv fails at start-up when a
  # variable of the component's *Needs list is missing.
  common_env = {
    BQBACKFILL_PROJECT   = var.project
    BQBACKFILL_REGION    = var.region
    BQBACKFILL_LOG_LEVEL = var.log_level
  }

  scanner_env = merge(local.common_env, {
    BQBACKFILL_SQL_BUCKET       = google_storage_bucket.sql.name
    BQBACKFILL_LEDGER_BUCKET    = google_storage_bucket.ledger.name
    BQBACKFILL_PARTITIONS_TOPIC = module.pubsub.partitions_topic
    BQBACKFILL_COMPLETE_TOPIC   = module.pubsub.complete_topic
    BQBACKFILL_EVENTS_TOPIC     = module.pubsub.events_topic
    BQBACKFILL_WORKER_JOB       = "projects/${var.project}/locations/${var.region}/jobs/${module.worker.name}"
    BQBACKFILL_MAX_TASKS        = var.max_tasks_per_execution
  })

  completion_env = merge(local.common_env, {
    BQBACKFILL_LEDGER_BUCKET = google_storage_bucket.ledger.name
    BQBACKFILL_EVENTS_TOPIC  = module.pubsub.events_topic
  })

  notifier_env = merge(local.common_env, {
    BQBACKFILL_SLACK_CHANNEL = var.slack_channel
  })

  notifier_secret_env = {
    SLACK_BOT_TOKEN = {
      secret  = data.google_secret_manager_secret.slack.secret_id
      version = var.slack_secret_version
    }
  }

  worker_env = merge(local.common_env, {
    BQBACKFILL_SQL_BUCKET              = google_storage_bucket.sql.name
    BQBACKFILL_LEDGER_BUCKET           = google_storage_bucket.ledger.name
    BQBACKFILL_PARTITIONS_TOPIC        = module.pubsub.partitions_topic
    BQBACKFILL_PARTITIONS_SUBSCRIPTION = module.pubsub.partitions_subscription
    BQBACKFILL_EVENTS_TOPIC            = module.pubsub.events_topic
    BQBACKFILL_DEAD_LETTER_TOPIC       = module.pubsub.dead_letter_topic
    BQBACKFILL_WORKER_CONCURRENCY      = var.worker_concurrency
    BQBACKFILL_WORKER_IDLE_TIMEOUT     = var.worker_idle_timeout
  })
}
