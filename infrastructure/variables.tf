variable "region" {
  description = "AWS region for every resource."
  type        = string
  default     = "eu-west-1"
}

variable "environment" {
  description = "Name of the deployment (prod, staging, ...); part of every resource name."
  type        = string
  default     = "prod"
}

variable "vpc_id" {
  description = "VPC the load balancer and the service run in."
  type        = string
}

variable "public_subnet_ids" {
  description = "At least two public subnets (different zones) for the load balancer."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Private subnets for the service's tasks (with a NAT or VPC endpoints for ECR, S3, logs and Secrets Manager)."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate for the HTTPS listener."
  type        = string
}

variable "allowed_cidrs" {
  description = "Who may reach the load balancer. Narrow this to your clients; 0.0.0.0/0 makes the API public."
  type        = list(string)
  default     = ["10.0.0.0/8"]
}

variable "image_tag" {
  description = "Tag of the staytrack image in the ECR repository."
  type        = string
  default     = "0.1.0"
}

variable "desired_count" {
  description = "Server tasks. Each follows the production alias of its own workspace; keep 1 unless the workspace is shared."
  type        = number
  default     = 1
}

variable "cpu" {
  description = "Task CPU units (1024 = 1 vCPU)."
  type        = number
  default     = 1024
}

variable "memory" {
  description = "Task memory (MiB)."
  type        = number
  default     = 2048
}

variable "sync_prefix" {
  description = "Key prefix in the bucket that staytrack syncs under; the task may touch nothing else."
  type        = string
  default     = "team"
}

variable "log_retention_days" {
  description = "Days the service's logs are kept."
  type        = number
  default     = 365
}

variable "api_token" {
  description = "Bearer token for the admin routes (at least 32 bytes, or they stay off); stored in Secrets Manager. Leave null to set the secret's value outside Terraform."
  type        = string
  default     = null
  sensitive   = true
  validation {
    condition     = var.api_token == null || length(coalesce(var.api_token, "")) >= 32
    error_message = "api_token must be at least 32 bytes (openssl rand -hex 32); a shorter one leaves the admin routes off."
  }
}

variable "health_check_grace_seconds" {
  description = "Seconds a new task has before the load balancer's health checks count (the first sync pull runs meanwhile)."
  type        = number
  default     = 300
}
