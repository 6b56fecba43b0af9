# The worker: a Cloud Run job whose tasks pull partition messages until the
# subscription stays empty. The scanner runs an execution per backfill with
# a task-count override (shared/runjob), so task_count here is only the
# default of a manual run.
resource "google_cloud_run_v2_job" "this" {
  project             = var.project
  location            = var.region
  name                = var.name
  deletion_protection = false
  labels              = var.labels

  template {
    task_count = 1
    # 0: as many tasks at once as the task count (within quota). Cloud Run
    # requires parallelism <= task_count, and a RunJob override can set the
    # task count but not the parallelism, so any fixed value would exceed
    # the small task counts the scanner asks for. The scanner's task cap
    # (BQBACKFILL_MAX_TASKS) is what bounds concurrent tasks.
    parallelism = 0
    labels      = var.labels

    template {
      service_account       = var.service_account_email
      timeout               = "${var.task_timeout_seconds}s"
      max_retries           = var.max_retries
      execution_environment = "EXECUTION_ENVIRONMENT_GEN2"

      containers {
        image = var.image

        resources {
          limits = {
            cpu    = var.cpu
            memory = var.memory
          }
        }

        dynamic "env" {
          for_each = var.env
          content {
            name  = env.key
            value = env.value
          }
        }
      }
    }
  }
}
