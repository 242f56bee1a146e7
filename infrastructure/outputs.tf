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
  description = "The only prefix the service may read and write."
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
  description = "IAM policy to attach to the role that trains and pushes (the serving task only reads)."
  value       = aws_iam_policy.publisher.arn
}
