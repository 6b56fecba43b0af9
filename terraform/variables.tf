variable "project" {
  description = "Project that hosts bqbackfill: the buckets, topics, Cloud Run services and job, scheduler and monitoring. Components receive it as BQBACKFILL_PROJECT."
  type        = string
}

variable "region" {
  description = "Region of the Cloud Run services and job, the Eventarc trigger, the scheduler and both buckets (the Eventarc trigger must sit in the sync bucket's region)."
  type        = string
  default     = "us-central1"
}

variable "environment" {
  description = "Environment name (dev, prod, ...): a label on every resource and part of alert names."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,20}$", var.environment))
    error_message = "environment must be lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "labels" {
  description = "Extra labels for every labelled resource (app and environment are always set)."
  type        = map(string)
  default     = {}
}

variable "sql_bucket" {
  description = "Name of the sync bucket: `bqbackfill sync` uploads the sql/ tree there as trees/<sha>.zip and then manifest.json, whose finalize event starts the scanner."
  type        = string
}

variable "ledger_bucket" {
  description = "Name of the ledger bucket: the state of every backfill, partition and swap step under backfills/ (versioned)."
  type        = string
}

variable "sync_writers" {
  description = "Members (e.g. serviceAccount:ci@p.iam.gserviceaccount.com) that run `bqbackfill sync` from another pipeline and need to write the sync bucket. The Cloud Build identity that applies this module needs no entry here."
  type        = list(string)
  default     = []
}

variable "functions_image" {
  description = "Image of the functions server (functions/server/Dockerfile), e.g. REGION-docker.pkg.dev/PROJECT/bqbackfill/functions@sha256:...; cloudbuild.yaml passes the one it built."
  type        = string
}

variable "worker_image" {
  description = "Image of the Cloud Run job worker with python3 (jobs/worker/Dockerfile); cloudbuild.yaml passes the one it built."
  type        = string
}

variable "log_level" {
  description = "BQBACKFILL_LOG_LEVEL of every component: DEBUG, INFO, WARNING or ERROR."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "slack_secret_name" {
  description = "Secret Manager secret (in var.project) holding the Slack bot token; the notifier reads it as SLACK_BOT_TOKEN. Create it and add a version before the first apply."
  type        = string
}

variable "slack_secret_version" {
  description = "Version of the Slack token secret the notifier mounts."
  type        = string
  default     = "latest"
}

variable "slack_channel" {
  description = "Default Slack channel of notifications (BQBACKFILL_SLACK_CHANNEL); backfill watchers are mentioned in it."
  type        = string
  default     = "#dataops-alerts"
}

variable "staging_project" {
  description = "Project of the staging dataset backfills_staging_derived (the staging_project of bqbackfill.yaml in the synced tree). Defaults to var.project."
  type        = string
  default     = null
}

variable "manage_staging_dataset" {
  description = "Create the staging dataset. Set false where it already exists (for example shared with bigquery-etl's own backfills); the IAM grants on it are made either way."
  type        = bool
  default     = true
}

variable "bigquery_location" {
  description = "Location of the staging dataset; it must be the location of the production tables (a copy job cannot cross locations)."
  type        = string
  default     = "US"
}

variable "billing_projects" {
  description = "Projects that pay for backfill queries and copies (default_billing_project of bqbackfill.yaml and every billing_project an entry may name). The scanner, workers and completion get roles/bigquery.jobUser in each, and in var.project and the staging project."
  type        = list(string)
  default     = []
}

variable "source_projects" {
  description = "Projects whose tables backfill queries read. The worker gets roles/bigquery.dataViewer on each (queries read arbitrary upstream tables, so this is project-wide)."
  type        = list(string)
  default     = []
}

variable "production_datasets" {
  description = "Datasets, as \"project.dataset\", whose tables may be backfilled. Completion gets roles/bigquery.dataEditor on each (it copies staged partitions in), the scanner roles/bigquery.dataViewer (it creates staging like production, mirrors its IAM and seeds from it)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for d in var.production_datasets : can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]\\.[A-Za-z_][A-Za-z0-9_]{0,1023}$", d))])
    error_message = "Each production dataset must be written project.dataset."
  }
}

variable "max_tasks_per_execution" {
  description = "Cap on the task count of one worker job execution (BQBACKFILL_MAX_TASKS on the scanner): a backfill of N partitions starts min(N, cap) tasks."
  type        = number
  default     = 32

  validation {
    condition     = var.max_tasks_per_execution >= 1 && var.max_tasks_per_execution <= 10000
    error_message = "max_tasks_per_execution must be in 1..10000."
  }
}

variable "worker_concurrency" {
  description = "Partitions one worker task computes at once (BQBACKFILL_WORKER_CONCURRENCY). Concurrent queries per execution = tasks (at most max_tasks_per_execution) x this."
  type        = number
  default     = 1

  validation {
    condition     = var.worker_concurrency >= 1
    error_message = "worker_concurrency must be at least 1."
  }
}

variable "worker_idle_timeout" {
  description = "A worker task exits once the partitions subscription stayed empty this long (BQBACKFILL_WORKER_IDLE_TIMEOUT, a Go duration such as 30s)."
  type        = string
  default     = "30s"

  validation {
    condition     = can(regex("^[0-9]+(ms|s|m|h)$", var.worker_idle_timeout))
    error_message = "worker_idle_timeout must be a duration such as 30s or 2m."
  }
}

variable "worker_task_timeout_seconds" {
  description = "Timeout of one worker task. A task pulls partitions until the subscription is empty, so size it to (partitions / tasks) x the longest partition query."
  type        = number
  default     = 21600

  validation {
    condition     = var.worker_task_timeout_seconds >= 60 && var.worker_task_timeout_seconds <= 604800
    error_message = "worker_task_timeout_seconds must be between 60 and 604800 (7 days)."
  }
}

variable "worker_max_retries" {
  description = "Retries of a failed worker task. A task fails only when it cannot work at all (bad configuration, broken subscription); failed partitions are retried through Pub/Sub redelivery instead."
  type        = number
  default     = 1
}

variable "worker_cpu" {
  description = "CPU limit of a worker task."
  type        = string
  default     = "1"
}

variable "worker_memory" {
  description = "Memory limit of a worker task (query.py scripts run in the same container)."
  type        = string
  default     = "2Gi"
}

variable "partition_ack_deadline_seconds" {
  description = "Ack deadline of the workers' pull subscription. The client extends leases while a partition runs; this is how soon a partition held by a crashed task is handed to another one."
  type        = number
  default     = 600

  validation {
    condition     = var.partition_ack_deadline_seconds >= 10 && var.partition_ack_deadline_seconds <= 600
    error_message = "partition_ack_deadline_seconds must be between 10 and 600."
  }
}

variable "service_max_instances" {
  description = "Maximum instances of each Cloud Run service."
  type = object({
    scanner    = number
    completion = number
    notifier   = number
  })
  default = {
    scanner    = 2
    completion = 4
    notifier   = 2
  }
}

variable "scan_schedule" {
  description = "Cron schedule of the scanner's safety-net tick (the manifest's finalize event is the normal trigger)."
  type        = string
  default     = "*/15 * * * *"
}

variable "alert_notification_channels" {
  description = "Cloud Monitoring notification channel ids (projects/P/notificationChannels/N) the alert policies notify."
  type        = list(string)
  default     = []
}

variable "stuck_after_minutes" {
  description = "A backfill counts as stuck when partition messages have waited this long, or when none finished for this long while messages wait."
  type        = number
  default     = 60
}
