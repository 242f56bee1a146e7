# staytrack on AWS: one Fargate service behind an HTTPS load balancer, an S3 bucket for sync,
# an ECR repository for the image, the API token in Secrets Manager, logs in CloudWatch, all
# encrypted with one customer-managed KMS key. The task may touch only its bucket prefix: it
# reads the team's models and ships the predictions it captured (never reads them back). The
# captures are queryable in Athena (capture.tf) and checked every hour by a monitor task that
# mails or posts its alerts (monitor.tf).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  name       = "staytrack-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  prefix     = trim(var.sync_prefix, "/")
  # What `staytrack sync pull` reads to follow the team's models; captures are apart.
  model_keys     = ["runs", "artifacts", "registry"]
  capture_prefix = "${local.prefix}/captures"
}

# ---------------------------------------------------------------------------------------------
# Encryption

resource "aws_kms_key" "main" {
  description             = "${local.name}: bucket objects, image layers, logs and the API token"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.main.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource means this key only; the statements are AWS's default key policy plus CloudWatch Logs limited by encryption context.
  #checkov:skip=CKV_AWS_356:Same: in a key policy "*" is the key itself.
  #checkov:skip=CKV_AWS_109:Same: the account root statement is AWS's default key policy, without which the key cannot be administered.
  # The account administers the key (the default key policy).
  statement {
    sid       = "Account"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
  # CloudWatch Logs encrypts the service's log group with it.
  statement {
    sid       = "Logs"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/ecs/${local.name}"]
    }
  }
  # EventBridge publishes the monitor's alerts to the encrypted SNS topic, which needs a data key
  # from the publisher (AWS's documented statement for an AWS service publishing to an encrypted
  # topic; the topic's own policy limits publishing to this deployment's rules).
  statement {
    sid       = "EventsToAlertTopic"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
  }
}

# ---------------------------------------------------------------------------------------------
# S3: runs, artifacts, alias moves and store backups (staytrack sync)

resource "aws_s3_bucket" "sync" {
  #checkov:skip=CKV_AWS_18:Server access logs need a second bucket; CloudTrail data events are the better audit for a bucket this small. Add aws_s3_bucket_logging when you have a log bucket.
  #checkov:skip=CKV2_AWS_62:Nothing consumes bucket events; staytrack lists the bucket on each sync.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles cost; versioning plus `staytrack sync backup` cover loss of objects. Add replication for regional disaster recovery.
  bucket_prefix = "${local.name}-"
  force_destroy = false
}

resource "aws_s3_bucket_versioning" "sync" {
  bucket = aws_s3_bucket.sync.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "sync" {
  bucket = aws_s3_bucket.sync.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "sync" {
  bucket                  = aws_s3_bucket.sync.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "sync" {
  bucket = aws_s3_bucket.sync.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "sync" {
  bucket = aws_s3_bucket.sync.id
  # A push that dies mid-upload leaves parts behind; they are removed after a week.
  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  # Run documents and artifacts are written once; old versions only come from overwrites.
  rule {
    id     = "expire-old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
  }
  # Captured predictions and outcomes are kept capture_retention_days. Segments are never
  # overwritten, so the only noncurrent versions are the ones expiry itself makes: they go the
  # next day (the shorter of two overlapping expirations wins).
  rule {
    id     = "expire-captures"
    status = "Enabled"
    filter {
      prefix = "${local.capture_prefix}/"
    }
    expiration {
      days = var.capture_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }
}

resource "aws_s3_bucket_policy" "sync" {
  bucket = aws_s3_bucket.sync.id
  policy = data.aws_iam_policy_document.bucket.json
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.sync.arn, "${aws_s3_bucket.sync.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

# ---------------------------------------------------------------------------------------------
# Image registry

resource "aws_ecr_repository" "staytrack" {
  name                 = local.name
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.main.arn
  }
}

resource "aws_ecr_lifecycle_policy" "staytrack" {
  repository = aws_ecr_repository.staytrack.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the last 30 images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = 30
      }
      action = { type = "expire" }
    }]
  })
}

# ---------------------------------------------------------------------------------------------
# Logs and the API token

resource "aws_cloudwatch_log_group" "staytrack" {
  name              = "/ecs/${local.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_secretsmanager_secret" "api_token" {
  #checkov:skip=CKV2_AWS_57:The token is shared with the clients that call the admin routes, so rotation needs them too; rotate by putting a new value and forcing a new deployment (see README).
  name_prefix = "${local.name}-api-token-"
  description = "Bearer token for staytrack's admin routes (STAYTRACK_TOKEN)"
  kms_key_id  = aws_kms_key.main.arn
}

resource "aws_secretsmanager_secret_version" "api_token" {
  count         = var.api_token == null ? 0 : 1
  secret_id     = aws_secretsmanager_secret.api_token.id
  secret_string = var.api_token
}

# ---------------------------------------------------------------------------------------------
# IAM: the execution role starts the task; the task role is what staytrack itself may do.

data "aws_iam_policy_document" "ecs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  name_prefix        = "${local.name}-exec-"
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "PullImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [aws_ecr_repository.staytrack.arn]
  }
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # GetAuthorizationToken has no resource-level permissions.
  }
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.staytrack.arn}:*"]
  }
  statement {
    sid       = "ReadToken"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.api_token.arn]
  }
  statement {
    sid       = "DecryptToken"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "start-task"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "task" {
  name_prefix        = "${local.name}-task-"
  assume_role_policy = data.aws_iam_policy_document.ecs_assume.json
}

# What following the team's models takes: list and read runs, artifacts and alias moves. The
# server and the monitor both start from this; captures are granted apart.
data "aws_iam_policy_document" "pull_models" {
  statement {
    sid       = "ListModelKeys"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.sync.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [for k in local.model_keys : "${local.prefix}/${k}/*"]
    }
  }
  statement {
    sid       = "ReadModelKeys"
    actions   = ["s3:GetObject"]
    resources = [for k in local.model_keys : "${aws_s3_bucket.sync.arn}/${local.prefix}/${k}/*"]
  }
  statement {
    sid       = "BucketKey"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.main.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}

# The server pulls models and ships what it captured, nothing else. It may add segments under
# captures/ but not read, list or delete them, and it cannot write runs, artifacts or alias
# moves, so a compromised task cannot rewrite the team's models, their history or the captures
# of other replicas.
data "aws_iam_policy_document" "task" {
  source_policy_documents = [data.aws_iam_policy_document.pull_models.json]
  # Only create-if-absent (If-None-Match: *): a segment, once shipped, cannot be overwritten.
  statement {
    sid       = "ShipNewCaptures"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.sync.arn}/${local.capture_prefix}/*"]
    condition {
      test     = "Null"
      variable = "s3:if-none-match"
      values   = ["false"]
    }
  }
  # CreateMultipartUpload and UploadPart carry no conditional header (a segment over 8 MiB goes
  # up in parts); CompleteMultipartUpload, which makes the object, is held to the rule above.
  statement {
    sid       = "ShipCaptureParts"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.sync.arn}/${local.capture_prefix}/*"]
    condition {
      test     = "Bool"
      variable = "s3:ObjectCreationOperation"
      values   = ["false"]
    }
  }
  statement {
    sid       = "EncryptCaptures"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "pull-models-ship-captures"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

# What a publisher (the people or the CI job that train and push) needs, to attach to their own
# role: list and read everything under the prefix (captures and backups too), and write new
# objects under it; never delete them.
data "aws_iam_policy_document" "publisher" {
  source_policy_documents = [data.aws_iam_policy_document.pull_models.json]
  statement {
    sid       = "ListOwnPrefix"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.sync.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [local.prefix, "${local.prefix}/*"]
    }
  }
  statement {
    sid       = "ReadObjectsUnderOwnPrefix"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.sync.arn}/${local.prefix}/*"]
  }
  statement {
    sid = "WriteObjectsUnderOwnPrefix"
    actions = [
      "s3:PutObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${aws_s3_bucket.sync.arn}/${local.prefix}/*"]
  }
  statement {
    sid       = "EncryptWithBucketKey"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_policy" "publisher" {
  name_prefix = "${local.name}-publish-"
  description = "Push staytrack runs and alias moves under the team's prefix (attach to the trainers' role)."
  policy      = data.aws_iam_policy_document.publisher.json
}

# ---------------------------------------------------------------------------------------------
# Network: clients reach the load balancer on 443 only; the tasks accept 8080 from it only.

resource "aws_security_group" "alb" {
  name_prefix = "${local.name}-alb-"
  description = "HTTPS from allowed clients to the staytrack load balancer"
  vpc_id      = var.vpc_id
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each          = toset(var.allowed_cidrs)
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from ${each.value}"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the tasks' port"
  referenced_security_group_id = aws_security_group.task.id
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8080
}

resource "aws_security_group" "task" {
  name_prefix = "${local.name}-task-"
  description = "staytrack tasks: 8080 from the load balancer, HTTPS out to AWS APIs"
  vpc_id      = var.vpc_id
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "task_from_alb" {
  security_group_id            = aws_security_group.task.id
  description                  = "From the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = 8080
  to_port                      = 8080
}

resource "aws_vpc_security_group_egress_rule" "task_https" {
  security_group_id = aws_security_group.task.id
  description       = "HTTPS to ECR, S3, CloudWatch Logs and Secrets Manager"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

# ---------------------------------------------------------------------------------------------
# Load balancer

resource "aws_lb" "staytrack" {
  #checkov:skip=CKV_AWS_91:Access logs need a second bucket with its own policy; enable them with access_logs {} once you have a log bucket.
  #checkov:skip=CKV2_AWS_28:WAF is a per-organisation choice (and cost); attach a web ACL with aws_wafv2_web_acl_association.
  name                       = local.name
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [aws_security_group.alb.id]
  subnets                    = var.public_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = true
}

resource "aws_lb_target_group" "staytrack" {
  name_prefix = "st-"
  port        = 8080
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id
  health_check {
    path                = "/health"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.staytrack.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.staytrack.arn
  }
}

# ---------------------------------------------------------------------------------------------
# ECS

resource "aws_ecs_cluster" "staytrack" {
  name = local.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_task_definition" "staytrack" {
  family                   = local.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  volume {
    name = "workspace"
  }
  container_definitions = jsonencode([{
    name      = "staytrack"
    image     = "${aws_ecr_repository.staytrack.repository_url}:${var.image_tag}"
    essential = true
    # The server starts at once (live on /health, ready on /ready once a model is loaded) while
    # the team's runs and alias moves are pulled in the background, at start and every minute
    # after; the server follows the production alias within a quarter of a second of a pull
    # moving it. A slow first pull of a large bucket therefore never fails a health check.
    entryPoint = ["/bin/sh", "-c"]
    # On SIGTERM the server stops taking requests, seals what it captured and ships it within
    # --shutdown-timeout; ECS sends SIGKILL stopTimeout (Fargate's most, 120 s) after SIGTERM.
    # Rows not shipped by then are lost with the task's ephemeral workspace.
    command = [
      "(while true; do staytrack sync pull --no-captures >/dev/null; sleep 60; done) & exec staytrack serve --addr 0.0.0.0:8080 --shutdown-timeout ${var.shutdown_timeout_seconds}"
    ]
    stopTimeout            = 120
    portMappings           = [{ containerPort = 8080, protocol = "tcp" }]
    readonlyRootFilesystem = true
    user                   = "10001:10001"
    mountPoints            = [{ sourceVolume = "workspace", containerPath = "/workspace", readOnly = false }]
    environment = [
      { name = "STAYTRACK_HOME", value = "/workspace" },
      # The root file system is read-only: SQLite's temporary files go to the workspace too.
      { name = "TMPDIR", value = "/workspace" },
      { name = "STAYTRACK_SYNC_BUCKET", value = aws_s3_bucket.sync.bucket },
      { name = "STAYTRACK_SYNC_PREFIX", value = local.prefix },
      { name = "STAYTRACK_SYNC_REGION", value = var.region },
    ]
    secrets = [
      { name = "STAYTRACK_TOKEN", valueFrom = aws_secretsmanager_secret.api_token.arn },
    ]
    healthCheck = {
      command     = ["CMD", "staytrack", "health", "--url", "http://127.0.0.1:8080/health"]
      interval    = 15
      timeout     = 3
      retries     = 3
      startPeriod = 20
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.staytrack.name
        awslogs-region        = var.region
        awslogs-stream-prefix = "staytrack"
      }
    }
  }])
}

resource "aws_ecs_service" "staytrack" {
  name                   = local.name
  cluster                = aws_ecs_cluster.staytrack.id
  task_definition        = aws_ecs_task_definition.staytrack.arn
  desired_count          = var.desired_count
  launch_type            = "FARGATE"
  propagate_tags         = "SERVICE"
  enable_execute_command = false
  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.task.id]
    assign_public_ip = false
  }
  load_balancer {
    target_group_arn = aws_lb_target_group.staytrack.arn
    container_name   = "staytrack"
    container_port   = 8080
  }
  # Room for the first pull of a large bucket before the load balancer's checks count.
  health_check_grace_period_seconds = var.health_check_grace_seconds
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  depends_on = [aws_lb_listener.https]
}
