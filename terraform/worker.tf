module "worker" {
  source = "./modules/worker_job"

  project               = var.project
  region                = var.region
  name                  = local.worker_job
  image                 = var.worker_image
  service_account_email = google_service_account.worker.email
  env                   = local.worker_env
  task_timeout_seconds  = var.worker_task_timeout_seconds
  max_retries           = var.worker_max_retries
  cpu                   = var.worker_cpu
  memory                = var.worker_memory
  labels                = local.labels

  depends_on = [google_project_service.enabled]
}
