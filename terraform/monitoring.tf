module "monitoring" {
  source = "./modules/monitoring"

  project     = var.project
  environment = var.environment
  worker_job  = module.worker.name
  services = {
    scanner    = module.scanner.name
    completion = module.completion.name
    notifier   = module.notifier.name
  }
  partitions_subscription  = module.pubsub.partitions_subscription
  push_subscriptions       = [module.completion.push_subscription, module.notifier.push_subscription]
  dead_letter_topic        = module.pubsub.dead_letter_topic
  dead_letter_subscription = module.pubsub.dead_letter_subscription
  notification_channels    = var.alert_notification_channels
  stuck_after_minutes      = var.stuck_after_minutes

  depends_on = [google_project_service.enabled]
}
