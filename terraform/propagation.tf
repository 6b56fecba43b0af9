# IAM takes a while to see a service account created in this apply ("it
# might take 60 seconds or more",
# https://cloud.google.com/iam/docs/service-accounts-create); until then a
# grant naming it fails with "Service account ... does not exist". Every
# grant to (or on) these accounts depends on this wait, which a re-created
# account restarts. terraform/apply_order_test.go checks the wiring (issue 9
# F2); the wait itself cannot be checked offline (docs/first-apply.md).
resource "time_sleep" "service_accounts_visible" {
  create_duration = "60s"

  triggers = {
    scanner    = google_service_account.scanner.email
    worker     = google_service_account.worker.email
    completion = google_service_account.completion.email
    notifier   = google_service_account.notifier.email
    eventarc   = google_service_account.eventarc.email
    push       = google_service_account.push.email
  }
}
