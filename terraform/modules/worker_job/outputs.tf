output "name" {
  description = "Name of the Cloud Run job."
  value       = google_cloud_run_v2_job.this.name
}

output "id" {
  description = "Id of the job (projects/P/locations/L/jobs/J), the form BQBACKFILL_WORKER_JOB takes."
  value       = google_cloud_run_v2_job.this.id
}
