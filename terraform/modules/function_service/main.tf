# One function of the functions image as a Cloud Run service, and the
# Terraform-owned push subscription that feeds it (so retry policy and
# retention are ours, not Eventarc's).

resource "google_cloud_run_v2_service" "this" {
  project             = var.project
  location            = var.region
  name                = var.name
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  deletion_protection = false
  labels              = var.labels

  template {
    service_account                  = var.service_account_email
    timeout                          = "${var.timeout_seconds}s"
    max_instance_request_concurrency = var.concurrency
    execution_environment            = "EXECUTION_ENVIRONMENT_GEN2"
    labels                           = var.labels

    scaling {
      min_instance_count = 0
      max_instance_count = var.max_instances
    }

    containers {
      image = var.image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.cpu
          memory = var.memory
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      env {
        name  = "FUNCTION_TARGET"
        value = var.function_target
      }

      dynamic "env" {
        for_each = var.env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = var.secret_env
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = env.value.secret
              version = env.value.version
            }
          }
        }
      }
    }
  }

  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
  }
}

resource "google_cloud_run_v2_service_iam_member" "invokers" {
  for_each = var.invokers

  project  = var.project
  location = var.region
  name     = google_cloud_run_v2_service.this.name
  role     = "roles/run.invoker"
  member   = each.value
}

# The endpoint path /projects/P/topics/T tells functions-framework that the
# body is a Pub/Sub push, which it converts to a
# google.cloud.pubsub.topic.v1.messagePublished CloudEvent.
resource "google_pubsub_subscription" "push" {
  project                    = var.project
  name                       = var.push_subscription
  topic                      = var.push_topic
  ack_deadline_seconds       = var.push_ack_deadline_seconds
  message_retention_duration = var.push_message_retention
  labels                     = var.labels

  push_config {
    push_endpoint = "${google_cloud_run_v2_service.this.uri}/projects/${var.project}/topics/${var.push_topic}"

    oidc_token {
      service_account_email = var.push_service_account_email
      audience              = google_cloud_run_v2_service.this.uri
    }
  }

  expiration_policy {
    ttl = ""
  }

  retry_policy {
    minimum_backoff = var.push_minimum_backoff
    maximum_backoff = var.push_maximum_backoff
  }

  depends_on = [google_cloud_run_v2_service_iam_member.invokers]
}
