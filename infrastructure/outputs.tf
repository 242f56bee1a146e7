output "url" {
  description = "Where the prediction API answers (point your DNS name at the load balancer for the certificate to match)."
  value       = "https://${aws_lb.staytrack.dns_name}"
}

output "ecr_repository_url" {
  description = "Push the image here: docker tag staytrack <url>:<tag> && docker push <url>:<tag>."
  value       = aws_ecr_repository.staytrack.repository_url
}

output "sync_bucket" {
  description = "Bucket for `staytrack sync` (with sync_prefix as the prefix)."
  value       = aws_s3_bucket.sync.bucket
}

output "sync_prefix" {
  description = "The only prefix the service may touch: it reads models there and writes captures/ only."
  value       = local.prefix
}

output "api_token_secret_arn" {
  description = "Secrets Manager secret holding STAYTRACK_TOKEN."
  value       = aws_secretsmanager_secret.api_token.arn
}

output "log_group" {
  description = "CloudWatch log group of the service."
  value       = aws_cloudwatch_log_group.staytrack.name
}

output "cluster_and_service" {
  description = "ECS cluster and service names (for `aws ecs update-service --force-new-deployment`)."
  value       = "${aws_ecs_cluster.staytrack.name}/${aws_ecs_service.staytrack.name}"
}

output "publisher_policy_arn" {
  description = "IAM policy to attach to the role that trains and pushes (the serving task only reads models and ships captures)."
  value       = aws_iam_policy.publisher.arn
}

output "capture_table" {
  description = "Glue table (database.table) over the captured predictions, for Athena."
  value       = "${aws_glue_catalog_database.captures.name}.${aws_glue_catalog_table.predictions.name}"
}

output "athena_sample_query" {
  description = "Predictions per hour and replica over the last day, with their mean probability."
  value       = <<-SQL
    SELECT date_trunc('hour', ts) AS hour_utc,
           replica,
           count(*) AS predictions,
           avg(probability) AS mean_probability
    FROM "${aws_glue_catalog_database.captures.name}"."${aws_glue_catalog_table.predictions.name}"
    WHERE model = '${try(var.capture_models[0], "av-healthcare-analytics-ii")}'
      AND dt >= current_date - INTERVAL '1' DAY
      AND ts >= current_timestamp - INTERVAL '1' DAY
    GROUP BY 1, 2
    ORDER BY 1, 2
  SQL
}

output "alert_topic_arn" {
  description = "SNS topic the monitor's alerts (exit 3) and failures go to; subscribe more endpoints here."
  value       = aws_sns_topic.alerts.arn
}

output "monitor_schedule" {
  description = "EventBridge Scheduler schedule that runs `staytrack sync pull && staytrack monitor --json`."
  value       = aws_scheduler_schedule.monitor.name
}
