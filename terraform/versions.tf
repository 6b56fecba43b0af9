# The root module of a bqbackfill deployment. One state per environment: the
# gcs backend is configured at init time from environments/<env>.gcs.tfbackend
#
#   terraform init -backend-config=environments/dev.gcs.tfbackend
#   terraform apply -var-file=environments/dev.tfvars \
#     -var=functions_image=... -var=worker_image=...
#
# Only `terraform fmt` runs offline; plan/validate need the google provider.
terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    # time_sleep: waits for what Google's services see late (propagation.tf).
    time = {
      source  = "hashicorp/time"
      version = "~> 0.12"
    }
  }

  backend "gcs" {}
}

provider "google" {
  project = var.project
  region  = var.region
}
